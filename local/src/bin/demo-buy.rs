//! `make demo-buy`: plays a buyer end to end against `make run` and its two fakes,
//! printing each step: /start → the club's tiers → an invoice → pay (NOWPayments sends
//! the signed IPNs to /np-webhook) → the invite → a join request, approved; then a
//! stranger with the forwarded link, declined; then a second buyer whose payment arrives
//! short: told what is missing, /topup pays the rest, and the invite arrives; then the
//! owner applies the catalog and raises a price while a buyer's invoice is open: that
//! invoice is granted at its price, a new one costs the new price. Exits non-zero naming
//! the step that did not happen in time.
//!
//! PORT (default 3000) is `make run`'s; the fakes are on PORT+1 (Telegram) and PORT+2
//! (NOWPayments) unless FAKE_TELEGRAM_PORT / FAKE_NOWPAYMENTS_PORT say otherwise; the
//! catalog is applied to `make run`'s SQLite file, TELEPAY_LOCAL_DB
//! (`.telepay/local.sqlite` by default), as `telepay catalog apply` would.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

const WAIT: Duration = Duration::from_secs(40);

struct Http {
    port: u16,
}

impl Http {
    /// One HTTP/1.1 request; the status and the body.
    fn call(&self, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| {
            format!(
                "127.0.0.1:{} is not answering ({e}): is `make run` up?",
                self.port
            )
        })?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.as_bytes()))
            .map_err(|e| e.to_string())?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .map_err(|e| e.to_string())?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        Ok((status, body))
    }

    fn json(&self, method: &str, path: &str, body: &str) -> Result<Value, String> {
        let (status, text) = self.call(method, path, body)?;
        if !(200..300).contains(&status) {
            return Err(format!("{method} {path} answered {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {e}"))
    }
}

/// The messages the bot delivered to `user` so far.
fn messages(telegram: &Http, user: i64) -> Result<Vec<Value>, String> {
    let all = telegram.json("GET", &format!("/fake/user/{user}/messages"), "")?;
    Ok(all.as_array().cloned().unwrap_or_default())
}

/// Waits for the `count`-th message to `user` that `wanted` accepts; answers it.
fn wait_message(
    telegram: &Http,
    user: i64,
    after: usize,
    step: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Result<(usize, Value), String> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let all = messages(telegram, user)?;
        if let Some((i, m)) = all.iter().enumerate().skip(after).find(|(_, m)| wanted(m)) {
            return Ok((i + 1, m.clone()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "{step}: no such message to user {user} within {WAIT:?}"
    ))
}

fn show(message: &Value) {
    let text = message["text"].as_str().unwrap_or_default();
    println!("    bot: {}", text.replace('\n', "\n         "));
    for button in message["buttons"].as_array().into_iter().flatten() {
        println!(
            "         [{}] -> {}",
            button[0].as_str().unwrap_or_default(),
            button[1].as_str().unwrap_or_default()
        );
    }
}

fn has_buttons(message: &Value) -> bool {
    message["buttons"].as_array().is_some_and(|b| !b.is_empty())
}

fn button(message: &Value, pick: impl Fn(&str, &str) -> bool) -> Option<String> {
    message["buttons"]
        .as_array()?
        .iter()
        .find(|b| {
            pick(
                b[0].as_str().unwrap_or_default(),
                b[1].as_str().unwrap_or_default(),
            )
        })
        .and_then(|b| b[1].as_str().map(str::to_owned))
}

/// The invoice id a Pay button opens.
fn invoice_of(pay: &Value) -> Result<String, String> {
    let url = button(pay, |_, url| url.contains("iid=")).ok_or("no Pay button")?;
    Ok(url.rsplit("iid=").next().unwrap_or_default().to_owned())
}

fn member(telegram: &Http, chat: i64, user: i64) -> Result<bool, String> {
    let answer = telegram.json("GET", &format!("/fake/chat/{chat}/member/{user}"), "")?;
    Ok(answer["member"].as_bool().unwrap_or(false))
}

fn port(variable: &str, default: u16) -> u16 {
    std::env::var(variable)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

fn run() -> Result<(), String> {
    let base = port("PORT", 3000);
    let telegram = Http {
        port: port("FAKE_TELEGRAM_PORT", base + 1),
    };
    let nowpayments = Http {
        port: port("FAKE_NOWPAYMENTS_PORT", base + 2),
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // Fresh users each run: a local database keeps earlier demos' subscriptions.
    let buyer = 6_000_000_000 + stamp % 1_000_000_000;
    let stranger = buyer + 1;

    println!("1. Buyer {buyer} sends /start to the bot");
    telegram.json("POST", &format!("/fake/user/{buyer}/write"), "/start")?;
    let (seen, menu) = wait_message(&telegram, buyer, 0, "the channel menu", has_buttons)?;
    show(&menu);
    let club = button(&menu, |text, _| text.contains("club"))
        .or_else(|| button(&menu, |_, _| true))
        .ok_or("the menu has no channel")?;

    println!("2. Buyer picks the club: its tiers");
    telegram.json("POST", &format!("/fake/user/{buyer}/press"), &club)?;
    let (seen, tiers) = wait_message(&telegram, buyer, seen, "the tiers", has_buttons)?;
    show(&tiers);
    let tier = button(&tiers, |_, data| data.starts_with("buy:")).ok_or("no tier button")?;

    println!("3. Buyer picks a tier: the bot makes a NOWPayments invoice");
    telegram.json("POST", &format!("/fake/user/{buyer}/press"), &tier)?;
    let (seen, pay) = wait_message(&telegram, buyer, seen, "the Pay button", has_buttons)?;
    show(&pay);
    let invoice = invoice_of(&pay)?;

    println!(
        "4. Buyer pays invoice {invoice}: NOWPayments sends waiting, confirming, finished to /np-webhook"
    );
    let paid = nowpayments.json("POST", &format!("/fake/pay/{invoice}"), "")?;
    println!("    payment {} finished", paid["payment_id"]);

    println!("5. The invite arrives");
    let (_, invite) = wait_message(&telegram, buyer, seen, "the invite", |m| {
        m["text"]
            .as_str()
            .is_some_and(|t| t.contains("https://t.me/+"))
    })?;
    show(&invite);
    let text = invite["text"].as_str().unwrap_or_default();
    let link: String = text[text.find("https://t.me/+").unwrap_or(0)..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();

    println!("6. Buyer clicks {link}: a join request, which the bot approves for a paying buyer");
    let joined = telegram.json("POST", &format!("/fake/user/{buyer}/join"), &link)?;
    println!("    Telegram: {}", joined["outcome"]);
    let chat = joined["chat_id"]
        .as_i64()
        .ok_or("the fake does not know the link")?;
    let deadline = Instant::now() + WAIT;
    while !member(&telegram, chat, buyer)? {
        if Instant::now() > deadline {
            return Err("6. the buyer's join request was not approved in time".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("    approved: buyer {buyer} is in the channel");

    println!("7. A friend ({stranger}) tries the forwarded link");
    let tried = telegram.json("POST", &format!("/fake/user/{stranger}/join"), &link)?;
    println!("    Telegram: {}", tried["outcome"]);
    let (_, declined) = wait_message(&telegram, stranger, 0, "the stranger's menu", has_buttons)?;
    show(&declined);
    std::thread::sleep(Duration::from_millis(500));
    if member(&telegram, chat, stranger)? {
        return Err("7. the stranger got in with a forwarded link".into());
    }
    println!("    declined: the forwarded link let nobody else in");

    let short_buyer = stranger + 1;
    println!("8. Buyer {short_buyer} buys the demo channel and sends only 60 % of the price");
    telegram.json("POST", &format!("/fake/user/{short_buyer}/write"), "/start")?;
    let (seen, menu) = wait_message(&telegram, short_buyer, 0, "the channel menu", has_buttons)?;
    let channel = button(&menu, |text, _| text.contains("Demo channel"))
        .ok_or("the menu has no demo channel")?;
    telegram.json("POST", &format!("/fake/user/{short_buyer}/press"), &channel)?;
    let (seen, tiers) = wait_message(&telegram, short_buyer, seen, "the tiers", has_buttons)?;
    let tier = button(&tiers, |_, data| data.starts_with("buy:")).ok_or("no tier button")?;
    telegram.json("POST", &format!("/fake/user/{short_buyer}/press"), &tier)?;
    let (seen, pay) = wait_message(&telegram, short_buyer, seen, "the Pay button", has_buttons)?;
    let invoice = invoice_of(&pay)?;
    let paid = nowpayments.json("POST", &format!("/fake/pay/{invoice}?share=0.6"), "")?;
    println!("    payment {} {}", paid["payment_id"], paid["statuses"][2]);

    println!("9. The bot says what arrived and what is missing");
    let (seen, short) = wait_message(
        &telegram,
        short_buyer,
        seen,
        "the short payment's message",
        |m| m["text"].as_str().is_some_and(|t| t.contains("/topup")),
    )?;
    show(&short);

    println!("10. Buyer sends /topup: an invoice for the rest, paid in full");
    telegram.json("POST", &format!("/fake/user/{short_buyer}/write"), "/topup")?;
    let (seen, rest) = wait_message(
        &telegram,
        short_buyer,
        seen,
        "the top-up's Pay button",
        has_buttons,
    )?;
    show(&rest);
    let invoice = invoice_of(&rest)?;
    let paid = nowpayments.json("POST", &format!("/fake/pay/{invoice}"), "")?;
    println!("    payment {} {}", paid["payment_id"], paid["statuses"][2]);

    println!("11. The two payments add up to the price: the invite arrives, once");
    let (_, invite) = wait_message(&telegram, short_buyer, seen, "the top-up's invite", |m| {
        m["text"]
            .as_str()
            .is_some_and(|t| t.contains("https://t.me/+"))
    })?;
    show(&invite);

    println!("12. The owner applies their catalog: telepay catalog apply catalog.json");
    for change in owner_applies(0.0)? {
        println!("    {change}");
    }
    // `make run` reads the catalog again within a second (a deployed stack: 30 s).
    std::thread::sleep(Duration::from_millis(1500));

    let late_buyer = short_buyer + 1;
    println!("13. Buyer {late_buyer} opens an invoice for the demo channel");
    let (seen, pay) = open_invoice(&telegram, late_buyer, 0)?;
    show(&pay);
    let invoice = invoice_of(&pay)?;

    println!(
        "14. The owner raises the price while that invoice is open: telepay catalog apply (no restart)"
    );
    for change in owner_applies(1.0)? {
        println!("    {change}");
    }
    std::thread::sleep(Duration::from_millis(1500));

    println!("15. Buyer {late_buyer} pays the open invoice: granted at the price it was made at");
    let paid = nowpayments.json("POST", &format!("/fake/pay/{invoice}"), "")?;
    println!("    payment {} {}", paid["payment_id"], paid["statuses"][2]);
    let (_, invite) = wait_message(
        &telegram,
        late_buyer,
        seen,
        "the late buyer's invite",
        |m| {
            m["text"]
                .as_str()
                .is_some_and(|t| t.contains("https://t.me/+"))
        },
    )?;
    show(&invite);

    let next_buyer = late_buyer + 1;
    println!("16. Buyer {next_buyer} opens an invoice now: the new price");
    let (_, pay) = open_invoice(&telegram, next_buyer, 0)?;
    show(&pay);
    println!("demo-buy: done");
    Ok(())
}

/// /start, the demo channel, its tier: the Pay button (and how many messages came).
fn open_invoice(telegram: &Http, buyer: i64, seen: usize) -> Result<(usize, Value), String> {
    telegram.json("POST", &format!("/fake/user/{buyer}/write"), "/start")?;
    let (seen, menu) = wait_message(telegram, buyer, seen, "the channel menu", has_buttons)?;
    let channel = button(&menu, |text, _| text.contains("Demo channel"))
        .ok_or("the menu has no demo channel")?;
    telegram.json("POST", &format!("/fake/user/{buyer}/press"), &channel)?;
    let (seen, tiers) = wait_message(telegram, buyer, seen, "the tiers", has_buttons)?;
    let tier = button(&tiers, |_, data| data.starts_with("buy:")).ok_or("no tier button")?;
    telegram.json("POST", &format!("/fake/user/{buyer}/press"), &tier)?;
    wait_message(telegram, buyer, seen, "the Pay button", has_buttons)
}

/// What `telepay catalog apply` does, on `make run`'s SQLite file (TELEPAY_LOCAL_DB):
/// the demo catalog (`raise` 0), or the catalog in force with the demo channel's price
/// `raise` dollars higher, as the next version. What changed, one line each.
fn owner_applies(raise: f64) -> Result<Vec<String>, String> {
    use telepay_core::catalog::{Applied, apply};
    use telepay_core::store::CatalogStore;
    let path = std::env::var("TELEPAY_LOCAL_DB").unwrap_or_else(|_| ".telepay/local.sqlite".into());
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = telepay_shared::sql::SqliteStore::open(std::path::Path::new(&path))
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let latest = store.latest_catalog().await.map_err(|e| e.to_string())?;
        let body = match latest {
            Some(stored) if raise > 0.0 => stored.body,
            _ => DEMO_CATALOG.to_owned(),
        };
        let mut catalog: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let channels = catalog["channels"].as_array_mut().ok_or("no channels")?;
        let demo = channels
            .iter_mut()
            .find(|c| c["title"] == "Demo channel")
            .ok_or("no demo channel in the catalog")?;
        let price = demo["tiers"][0]["price_amount"].as_f64().unwrap_or(3.21);
        demo["tiers"][0]["price_amount"] = Value::from(((price + raise) * 100.0).round() / 100.0);
        let json = serde_json::to_string_pretty(&catalog).map_err(|e| e.to_string())?;
        match apply(&store, &json, "demo-buy", chrono::Utc::now()).await {
            Ok(Applied::Now { version, changes }) => {
                Ok(std::iter::once(format!("catalog version {version}"))
                    .chain(changes)
                    .collect())
            }
            Ok(Applied::Unchanged { version }) => Ok(vec![format!("version {version} unchanged")]),
            Err(e) => Err(e.to_string()),
        }
    })
}

/// The catalog `make run` starts on (the demo channel and the demo club).
const DEMO_CATALOG: &str = include_str!("../../../events/demo-bot-directory.json");

fn main() {
    if let Err(why) = run() {
        eprintln!("demo-buy failed: {why}");
        std::process::exit(1);
    }
}
