//! The bot webhook's inputs on arbitrary bytes: the update parser, commands, button
//! data and the secret-token check.
//!
//! Properties: nothing panics; a parsed update carries the body's own `update_id`; button
//! data the bot reads back is data it could have written; only the exact secret matches.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telepay_core::bot::menu::Choice;
use telepay_core::bot::update::{BotEvent, Command};
use telepay_core::bot::{BotUpdate, WebhookSecret};

const SECRET: &str = "fuzz-webhook-secret-0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    if let Ok(update) = BotUpdate::parse(data) {
        // serde skips the fields the bot ignores without checking their escapes, so a
        // body may parse here and not as a whole; where it does, the ids agree.
        if let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) {
            assert_eq!(body["update_id"].as_i64(), Some(update.update_id));
        }
        match update.event {
            BotEvent::Message(message) => {
                let _ = Command::parse(&message.text);
            }
            BotEvent::Button(press) => {
                if let Some(choice) = Choice::parse(&press.data) {
                    assert_eq!(Choice::parse(&choice.data()), Some(choice));
                }
            }
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = Command::parse(&text);
    if let Some(choice) = Choice::parse(&text) {
        assert_eq!(Choice::parse(&choice.data()), Some(choice));
        assert!(choice.data().len() <= 64);
    }
    let secret = WebhookSecret::new(SECRET).unwrap();
    assert_eq!(secret.matches(Some(data)), data == SECRET.as_bytes());
});
