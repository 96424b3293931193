//! `telepay init`: an owner's answers checked live, each in one line with what to fix,
//! and turned into the owner's files (the catalog and the deploy settings). Nothing is
//! written unless every check passes; no secret is ever written (the first deploy asks
//! for them, and keeps them in Secrets Manager).
//!
//! The checks ask Telegram (the token: `getMe`; the bot's rights in the channel:
//! `getChatMember`; the owner's chat: a first message, which Telegram refuses with
//! "Forbidden: bot can't initiate conversation with a user" until the owner has pressed
//! Start) and NOWPayments (the API key, on production or the sandbox) through the same
//! ports as `telepay doctor` ([`crate::doctor`]); the catalog they make must pass
//! [`Catalog::check`].
//!
//! Tests: below; `cli/tests/init.rs` (the binary against the fakes, then `telepay doctor`).

use serde_json::json;

use crate::catalog::Catalog;
use crate::directory::Admission;
use crate::doctor::{AccountCheck, BotCheck, Finding, key, rights, token};
use crate::telegram::{BotConversation, TelegramError};

/// NOWPayments' sandbox API (its own keys and IPN secret).
pub const SANDBOX_API_URL: &str = "https://api-sandbox.nowpayments.io";
/// The shortest IPN secret the template accepts (`MinLength` of `IpnSecret`).
const IPN_SECRET_MIN: usize = 8;

/// One tier as an owner says it: `5 usd 30 days`.
#[derive(Debug, Clone, PartialEq)]
pub struct TierAnswer {
    pub price: f64,
    pub currency: String,
    /// Spelled out: `30 days`, `12 hours`.
    pub duration: String,
}

impl std::str::FromStr for TierAnswer {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let shape =
            || format!("a tier is PRICE CURRENCY LENGTH, e.g. \"5 usd 30 days\"; got {text:?}");
        let mut words = text.split_whitespace();
        let price: f64 = words
            .next()
            .and_then(|p| p.parse().ok())
            .filter(|p: &f64| *p > 0.0 && p.is_finite())
            .ok_or_else(shape)?;
        let currency = words.next().ok_or_else(shape)?.to_lowercase();
        let duration = words.collect::<Vec<_>>().join(" ");
        if duration.is_empty() {
            return Err(shape());
        }
        Ok(Self {
            price,
            currency,
            duration,
        })
    }
}

/// What an owner answers.
#[derive(Debug, Clone)]
pub struct OwnerAnswers {
    /// The channel the buyer is invited to (`-100…`), also the id the orders name.
    pub channel_id: i64,
    pub title: String,
    pub tiers: Vec<TierAnswer>,
    pub admission: Admission,
    /// Where sales and alerts go (the owner's own user id).
    pub owner_chat_id: i64,
    /// The IPN secret's length only: it is checked live by `telepay doctor` once
    /// deployed (a signed probe), and never kept.
    pub ipn_secret_len: usize,
    pub sandbox: bool,
    pub alarm_email: Option<String>,
}

impl OwnerAnswers {
    /// The catalog these answers make (the file `telepay catalog apply` takes).
    pub fn catalog_json(&self) -> String {
        let tiers: Vec<_> = self
            .tiers
            .iter()
            .map(|tier| {
                json!({
                    "price_amount": tier.price,
                    "price_currency": tier.currency,
                    "duration": tier.duration,
                })
            })
            .collect();
        let admission = match self.admission {
            Admission::OneTimeLink => "one_time_link",
            Admission::JoinRequest => "join_request",
        };
        let catalog = json!({
            "price_tolerance_percent": 1,
            "channels": [{
                "channel_id": self.channel_id,
                "private_channel_id": self.channel_id,
                "title": self.title,
                "admission": admission,
                "owner_chat_id": self.owner_chat_id,
                "tiers": tiers,
            }],
        });
        serde_json::to_string_pretty(&catalog).expect("a JSON value prints") + "\n"
    }

    /// The stack's parameters these answers set (no secret among them).
    pub fn deploy_parameters(&self) -> Vec<(&'static str, String)> {
        let mut parameters = vec![(
            "NowPaymentsApiUrl",
            if self.sandbox {
                SANDBOX_API_URL.to_owned()
            } else {
                String::new()
            },
        )];
        if let Some(email) = &self.alarm_email {
            parameters.push(("AlarmEmail", email.clone()));
        }
        parameters
    }
}

/// Every check of the answers, live; `Ok` lines and `Fix` lines, as the doctor prints them.
pub async fn check_answers<B, A>(answers: &OwnerAnswers, bot: &B, account: &A) -> Vec<Finding>
where
    B: BotCheck + BotConversation,
    A: AccountCheck,
{
    let mut findings = vec![catalog(answers)];
    match bot.me().await {
        Err(err) => findings.push(token(&err)),
        Ok(me) => {
            findings.push(Finding::ok("bot token", format!("@{}", me.username)));
            let check = format!("channel {} ({})", answers.title, answers.channel_id);
            findings.push(match bot.standing(answers.channel_id, me.id).await {
                Ok(standing) => rights(check, &me.username, standing),
                Err(err) => Finding::fix(check, format!("Telegram did not answer: {err}")),
            });
            findings.push(owner_chat(answers, bot, &me.username).await);
        }
    }
    let mut account_key = key(account.accepted_coins().await);
    if answers.sandbox {
        account_key.check = "NOWPayments API key (sandbox)".into();
    }
    findings.push(account_key);
    findings.push(if answers.ipn_secret_len >= IPN_SECRET_MIN {
        Finding::ok(
            "IPN secret",
            "kept for the deploy only; telepay doctor proves it live once deployed (a signed probe)",
        )
    } else {
        Finding::fix(
            "IPN secret",
            "copy the IPN secret from the NOWPayments dashboard (Settings, Payments, Instant payment notifications): it is longer than 8 characters",
        )
    });
    findings
}

fn catalog(answers: &OwnerAnswers) -> Finding {
    match Catalog::check(&answers.catalog_json()) {
        Ok(catalog) => {
            let tiers: Vec<String> = catalog.directory.channels()[0]
                .tiers
                .iter()
                .map(|t| {
                    format!(
                        "{} {} for {}",
                        t.price_amount,
                        t.price_currency.to_uppercase(),
                        t.access().map(|d| d.spoken()).unwrap_or_default()
                    )
                })
                .collect();
            Finding::ok("catalog", tiers.join(", "))
        }
        Err(problems) => Finding::fix("catalog", problems.problems.join("; ")),
    }
}

/// The owner's chat: the bot writes to it once, as it will for every sale.
async fn owner_chat<B: BotConversation>(
    answers: &OwnerAnswers,
    bot: &B,
    username: &str,
) -> Finding {
    let check = format!("owner chat {}", answers.owner_chat_id);
    let hello = format!(
        "TelePay is being set up for {}: sales, held payments and problems will be told here.",
        answers.title
    );
    match bot.send_menu(answers.owner_chat_id, &hello, &[]).await {
        Ok(()) => Finding::ok(check, format!("@{username} wrote to you")),
        Err(TelegramError::UserUnreachable(_)) => Finding::fix(
            check,
            format!(
                "@{username} cannot write to you yet: open @{username} in Telegram and press Start (a bot may only write to someone who has), then run telepay init again"
            ),
        ),
        Err(err) => Finding::fix(check, format!("Telegram did not answer: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_reads_as_an_owner_says_it() {
        let tier: TierAnswer = "5 USD 30 days".parse().unwrap();
        assert_eq!(
            tier,
            TierAnswer {
                price: 5.0,
                currency: "usd".into(),
                duration: "30 days".into()
            }
        );
        for bad in ["", "5", "5 usd", "-1 usd 3 days", "five usd 3 days"] {
            assert!(bad.parse::<TierAnswer>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_answers_make_a_catalog_an_apply_accepts_and_no_secret() {
        let answers = OwnerAnswers {
            channel_id: -1003111266231,
            title: "Signals".into(),
            tiers: vec![
                "5 usd 30 days".parse().unwrap(),
                "1 usd 1 day".parse().unwrap(),
            ],
            admission: Admission::JoinRequest,
            owner_chat_id: 42,
            ipn_secret_len: 32,
            sandbox: true,
            alarm_email: Some("me@example.com".into()),
        };
        let catalog = Catalog::check(&answers.catalog_json()).unwrap();
        let entry = &catalog.directory.channels()[0];
        assert_eq!(entry.owner_chat_id, Some(42));
        assert_eq!(entry.admission, Admission::JoinRequest);
        assert_eq!(entry.tiers.len(), 2);
        assert_eq!(
            answers.deploy_parameters(),
            vec![
                ("NowPaymentsApiUrl", SANDBOX_API_URL.to_owned()),
                ("AlarmEmail", "me@example.com".to_owned())
            ]
        );
    }
}
