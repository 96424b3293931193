//! `fake-bot-api`: the fake Telegram Bot API as a standalone server, for `make watch`.
//! Prints every invite message it would deliver. Usage: PORT (default 8081) and
//! TELEGRAM_BOT_TOKEN (default `local-demo-token`) from the environment;
//! `FAKE_TELEGRAM_PACE=1` paces messages as Telegram does (30/s, 1/s per chat: 429s).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8081);
    let token = std::env::var("TELEGRAM_BOT_TOKEN").unwrap_or_else(|_| "local-demo-token".into());
    let fake =
        fake_bot_api::FakeBotApi::start_on(([127, 0, 0, 1], port).into(), &token, true).await?;
    if std::env::var("FAKE_TELEGRAM_PACE").is_ok_and(|v| v == "1") {
        fake.enforce_pace();
    }
    println!(
        "fake Bot API on {} (token {token:?}); invites are printed here",
        fake.url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
