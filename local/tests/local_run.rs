//! `make run` as a newcomer uses it: the local binary over HTTP with the README's sample
//! IPN, sent five times, prints exactly one invite; a restart keeps every payment.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use telepay_core::fixtures::SAMPLE_IPN_SECRET;
use telepay_core::signature::IpnSecret;

const SAMPLE_IPN_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/sample-ipn.json");

struct LocalRun {
    child: Child,
    port: u16,
    output: Arc<Mutex<Vec<String>>>,
}

impl LocalRun {
    fn start(db: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_telepay-local"))
            .env("PORT", port.to_string())
            .env("TELEPAY_LOCAL_DB", db)
            .env("RUST_LOG", "warn")
            .env_remove("TELEGRAM_BOT_TOKEN")
            .env_remove("TELEPAY_IPN_SECRET")
            .env_remove("TELEPAY_CHANNEL_DIRECTORY")
            .env_remove("TELEPAY_CHANNEL_DIRECTORY_FILE")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start telepay-local");
        let output = Arc::new(Mutex::new(Vec::new()));
        let lines = output.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let run = Self {
            child,
            port,
            output,
        };
        assert!(
            run.wait_for("TelePay local run:", 1, Duration::from_secs(30)),
            "it starts"
        );
        run
    }

    fn count(&self, needle: &str) -> usize {
        self.output
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    fn wait_for(&self, needle: &str, count: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.count(needle) >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// POSTs `body` to /np-webhook with `signature`; the JSON outcome word.
    fn post_ipn(&self, body: &[u8], signature: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let head = format!(
            "POST /np-webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             x-nowpayments-sig: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let json = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        value["outcome"].as_str().unwrap_or_default().to_owned()
    }
}

impl Drop for LocalRun {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn sample_ipn() -> (Vec<u8>, String) {
    let body = std::fs::read(SAMPLE_IPN_FILE).unwrap();
    let signature = IpnSecret::new(SAMPLE_IPN_SECRET).unwrap().sign(&body);
    (body, signature)
}

#[test]
fn the_sample_ipn_sent_five_times_prints_exactly_one_invite_and_survives_a_restart() {
    let db = std::env::temp_dir().join(format!("telepay-local-{}.sqlite", std::process::id()));
    let (body, signature) = sample_ipn();
    {
        let run = LocalRun::start(&db);
        let outcomes: Vec<String> = (0..5).map(|_| run.post_ipn(&body, &signature)).collect();
        assert_eq!(outcomes[0], "queued");
        assert!(
            outcomes.iter().all(|o| o == "queued" || o == "duplicate"),
            "{outcomes:?}"
        );

        assert!(run.wait_for(
            "[fake Telegram] message to user 6271402111",
            1,
            Duration::from_secs(30)
        ));
        // Give any duplicate every chance to show up.
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            run.count("[fake Telegram] message to user"),
            1,
            "exactly one invite"
        );
        assert_eq!(run.count("https://t.me/+fake"), 1, "carrying one link");
        assert_eq!(
            run.count("[payout]"),
            1,
            "one payout, the repeats deduped on payment_id"
        );
        assert_eq!(
            run.post_ipn(&body, "0".repeat(128).as_str()),
            "bad_signature"
        );
    }
    let restarted = LocalRun::start(&db);
    assert_eq!(
        restarted.post_ipn(&body, &signature),
        "duplicate",
        "the payment survived the restart"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        restarted.count("[fake Telegram] message"),
        0,
        "and is not invited twice"
    );
}
