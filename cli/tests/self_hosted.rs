//! An owner's server, as docs/self-hosting.md runs it: `telepay serve` (here with
//! `--demo`, whose fake Bot API prints each message), a backup taken while it serves, the
//! machine lost (`kill -9`), and the backup restored into a fresh server, which carries
//! on: the paid payment is there (a repeat of its IPN is a duplicate) and its buyer gets
//! no second link. On SQLite with `telepay backup`, and on Postgres with pg_dump and
//! pg_restore.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use telepay_core::fixtures::SAMPLE_IPN_SECRET;
use telepay_core::signature::IpnSecret;

const SAMPLE_IPN: &str = include_str!("../../events/sample-ipn.json");
const INVITED: &str = "[fake Telegram] message to user 6271402111";

/// `telepay serve --demo` on the store `envs` name, its output collected.
struct Server {
    child: Child,
    port: u16,
    output: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(envs: &[(&str, &str)]) -> Self {
        let ports: Vec<u16> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect::<Vec<_>>()
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_telepay"))
            .args(["serve", "--demo"])
            .envs(envs.iter().copied())
            .env("PORT", ports[0].to_string())
            .env("FAKE_TELEGRAM_PORT", ports[1].to_string())
            .env("FAKE_NOWPAYMENTS_PORT", ports[2].to_string())
            .env("RUST_LOG", "warn")
            .env_remove("TELEGRAM_BOT_TOKEN")
            .env_remove("TELEPAY_IPN_SECRET")
            .env_remove("TELEPAY_NOWPAYMENTS_API_KEY")
            .env_remove("TELEPAY_CHANNEL_DIRECTORY")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start telepay serve");
        let output = Arc::new(Mutex::new(Vec::new()));
        let lines = output.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let server = Self {
            child,
            port: ports[0],
            output,
        };
        assert!(
            server.saw("TelePay: POST", 1, Duration::from_secs(30)),
            "it starts"
        );
        server
    }

    fn count(&self, needle: &str) -> usize {
        let lines = self.output.lock().unwrap();
        lines.iter().filter(|l| l.contains(needle)).count()
    }

    fn saw(&self, needle: &str, times: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.count(needle) >= times {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The sample IPN, signed: the outcome word.
    fn pay(&self) -> String {
        let signature = IpnSecret::new(SAMPLE_IPN_SECRET)
            .unwrap()
            .sign(SAMPLE_IPN.as_bytes());
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let head = format!(
            "POST /np-webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             x-nowpayments-sig: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            SAMPLE_IPN.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(SAMPLE_IPN.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        value["outcome"].as_str().unwrap_or_default().to_owned()
    }

    /// The machine lost: SIGKILL, nothing drained.
    fn lose(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The buyer paid and was invited once before the backup; after the restore the same
/// IPN again is a duplicate and nobody is messaged.
fn carries_on_after_restore(
    before: &[(&str, &str)],
    backup: impl FnOnce(),
    after: &[(&str, &str)],
) {
    let server = Server::start(before);
    assert_eq!(server.pay(), "queued");
    assert!(server.saw(INVITED, 1, Duration::from_secs(30)), "invited");
    backup();
    server.lose();

    let restored = Server::start(after);
    assert_eq!(
        restored.pay(),
        "duplicate",
        "the payment came back with the backup"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        restored.count("[fake Telegram] message"),
        0,
        "no second link"
    );
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "telepay-self-hosted-{}-{}-{name}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    ))
}

#[test]
fn a_sqlite_backup_taken_while_serving_restores_into_a_server_that_carries_on() {
    let (live, copy) = (temp("live.sqlite"), temp("backup.sqlite"));
    let (live_path, copy_path) = (live.display().to_string(), copy.display().to_string());
    let before = [
        ("TELEPAY_STORE_BACKEND", "sqlite"),
        ("TELEPAY_SQLITE_PATH", live_path.as_str()),
    ];
    let after = [
        ("TELEPAY_STORE_BACKEND", "sqlite"),
        ("TELEPAY_SQLITE_PATH", copy_path.as_str()),
    ];
    carries_on_after_restore(
        &before,
        || {
            run(Command::new(env!("CARGO_BIN_EXE_telepay"))
                .args(["backup", "--to", copy.to_str().unwrap()])
                .envs(before.iter().copied()));
            // A backup never overwrites: a second one to the same file is refused.
            let again = Command::new(env!("CARGO_BIN_EXE_telepay"))
                .args(["backup", "--to", copy.to_str().unwrap()])
                .envs(before.iter().copied())
                .output()
                .unwrap();
            assert!(!again.status.success());
            assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
        },
        &after,
    );
    let _ = std::fs::remove_file(live);
    let _ = std::fs::remove_file(copy);
}

#[test]
fn a_postgres_dump_restores_into_a_fresh_database_whose_server_carries_on() {
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL: run `make test`");
    let (base, _) = admin.rsplit_once('/').unwrap();
    let stamp = format!(
        "{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let (live, restored) = (format!("live_{stamp}"), format!("restored_{stamp}"));
    for database in [&live, &restored] {
        run(Command::new("psql").args([
            admin.as_str(),
            "-qc",
            &format!("CREATE DATABASE {database}"),
        ]));
    }
    let (live_url, restored_url) = (format!("{base}/{live}"), format!("{base}/{restored}"));
    let dump = temp("telepay.dump");
    carries_on_after_restore(
        &[
            ("TELEPAY_STORE_BACKEND", "postgres"),
            ("DATABASE_URL", &live_url),
        ],
        || {
            // As docs/self-hosting.md says: a custom-format dump while serving, restored
            // into an empty database.
            run(Command::new("pg_dump").args([
                "-Fc",
                "-f",
                dump.to_str().unwrap(),
                live_url.as_str(),
            ]));
            run(Command::new("pg_restore").args([
                "--no-owner",
                "-d",
                restored_url.as_str(),
                dump.to_str().unwrap(),
            ]));
        },
        &[
            ("TELEPAY_STORE_BACKEND", "postgres"),
            ("DATABASE_URL", &restored_url),
        ],
    );
    let _ = std::fs::remove_file(dump);
}
