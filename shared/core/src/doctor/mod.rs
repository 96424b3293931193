//! `telepay doctor`: a live checklist of everything a sale needs, each broken thing named
//! in one line with what to fix. It asks Telegram (the token, the webhook, the bot's
//! rights in every private channel), NOWPayments (the API key) and our own IPN endpoint
//! (a signed probe that can never grant, and an unsigned one that must be refused); the
//! CLI adds what only it can read (secrets, dead-letter queues).
//!
//! The probe IPN says `expired` for payment 1: an expired payment is ignored before its
//! order is read, so the probe changes nothing in any store, whatever the secret.
//!
//! Tests: below (each verdict), `local/tests/local_run.rs` (`telepay doctor` against
//! `make run` and its fakes: green, then each broken thing named alone).

use std::future::Future;

use serde::Serialize;

use crate::directory::ChannelDirectory;
use crate::recovery::StatusError;
use crate::signature::IpnSecret;
use crate::telegram::TelegramError;

/// The updates the bot asks Telegram for (as `telepay bot set-webhook` sets them).
pub const ALLOWED_UPDATES: [&str; 6] = [
    "message",
    "callback_query",
    "chat_join_request",
    "my_chat_member",
    "chat_member",
    "pre_checkout_query",
];

/// The probe's payment: `expired`, so nothing is ever written for it.
pub const PROBE_PAYMENT_ID: i64 = 1;

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked, e.g. `bot token`, `channel Demo club`.
    pub check: String,
    pub verdict: Verdict,
    /// What was found, or what to fix.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    /// Broken: the detail says what to fix.
    Fix,
    /// Not checked: nothing configured to check it with.
    Skipped,
}

impl Finding {
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            verdict: Verdict::Ok,
            detail: detail.into(),
        }
    }
    pub fn fix(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            verdict: Verdict::Fix,
            detail: detail.into(),
        }
    }
    pub fn skipped(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            verdict: Verdict::Skipped,
            detail: detail.into(),
        }
    }

    /// The line a person reads: `ok   bot token: @name`, `FIX  …`, `skip …`.
    pub fn line(&self) -> String {
        let mark = match self.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Fix => "FIX ",
            Verdict::Skipped => "skip",
        };
        format!("{mark} {}: {}", self.check, self.detail)
    }
}

/// The bot as `getMe` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub id: i64,
    pub username: String,
}

/// The webhook as `getWebhookInfo` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookFacts {
    /// Empty when no webhook is set.
    pub url: String,
    /// `None`: Telegram's default (every kind but a few, `chat_member` and
    /// `chat_join_request` among those left out).
    pub allowed_updates: Option<Vec<String>>,
    /// The last delivery error, e.g. `Wrong response from the webhook: 401 Unauthorized`.
    pub last_error: Option<String>,
    pub pending: u32,
}

/// One subscription to the stack's alarm topic, as SNS lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmSubscriber {
    /// `email`, `sms`, `https`…
    pub protocol: String,
    pub endpoint: String,
    /// SNS lists an unconfirmed one with the ARN `PendingConfirmation`: it is told nothing.
    pub confirmed: bool,
}

/// Whether anyone is told when an alarm fires: a confirmed subscriber to its topic.
pub fn alarm_subscribers(subscribers: &[AlarmSubscriber]) -> Finding {
    let check = "alarms";
    let confirmed: Vec<String> = subscribers
        .iter()
        .filter(|s| s.confirmed)
        .map(|s| format!("{} {}", s.protocol, s.endpoint))
        .collect();
    let pending: Vec<&str> = subscribers
        .iter()
        .filter(|s| !s.confirmed)
        .map(|s| s.endpoint.as_str())
        .collect();
    match (confirmed.is_empty(), pending.is_empty()) {
        (false, true) => Finding::ok(check, format!("told: {}", confirmed.join(", "))),
        (false, false) => Finding::ok(
            check,
            format!(
                "told: {}; not confirmed yet: {}",
                confirmed.join(", "),
                pending.join(", ")
            ),
        ),
        (true, false) => Finding::fix(
            check,
            format!(
                "{} has not confirmed: open AWS's \"Subscription Confirmation\" email and click its link, or no alarm reaches anyone",
                pending.join(", ")
            ),
        ),
        (true, true) => Finding::fix(
            check,
            "nobody is told when an alarm fires: make deploy GUIDED=1 with AlarmEmail, then confirm the email AWS sends",
        ),
    }
}

/// The bot's standing in a chat, as `getChatMember` of the bot answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotStanding {
    Creator,
    Admin {
        invite: bool,
        restrict: bool,
    },
    Member,
    /// Left, removed or banned.
    Out,
    /// Telegram knows no such chat (a wrong id), or the bot was never in it.
    Unknown,
}

/// What the doctor asks Telegram.
pub trait BotCheck: Send + Sync {
    fn me(&self) -> impl Future<Output = Result<BotIdentity, TelegramError>> + Send;
    fn webhook(&self) -> impl Future<Output = Result<WebhookFacts, TelegramError>> + Send;
    fn standing(
        &self,
        chat_id: i64,
        bot_id: i64,
    ) -> impl Future<Output = Result<BotStanding, TelegramError>> + Send;
}

/// What the doctor asks NOWPayments: the coins the account accepts (the API key's check).
pub trait AccountCheck: Send + Sync {
    fn accepted_coins(&self) -> impl Future<Output = Result<Vec<String>, StatusError>> + Send;
}

/// How an endpoint answered a probe: its HTTP status and the body's `outcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAnswer {
    pub status: u16,
    pub outcome: String,
}

/// POSTs a probe to our IPN endpoint.
pub trait IpnProbe: Send + Sync {
    /// `Err`: no answer (the URL does not resolve, nothing listens, a timeout).
    fn post(
        &self,
        url: &str,
        body: &str,
        signature: Option<&str>,
    ) -> impl Future<Output = Result<ProbeAnswer, String>> + Send;
}

/// What the doctor works from: the configuration as read, each part possibly missing.
pub struct Examination<'a> {
    /// The channel directory, or why it cannot be read.
    pub directory: Result<&'a ChannelDirectory, String>,
    /// Where the bot's webhook must point (`TELEPAY_BOT_WEBHOOK_URL`).
    pub bot_url: Option<&'a str>,
    /// The server polls for the bot's updates (`TELEPAY_BOT_UPDATES=polling`): then no
    /// webhook may be set.
    pub polling: bool,
    /// Our `/np-webhook` (`TELEPAY_IPN_CALLBACK_URL`), and the IPN secret it must verify.
    pub ipn_url: Option<&'a str>,
    pub ipn_secret: Option<&'a IpnSecret>,
}

/// Every check the doctor makes through Telegram, NOWPayments and the IPN endpoint.
pub async fn examine<B: BotCheck, A: AccountCheck, P: IpnProbe>(
    setup: &Examination<'_>,
    bot: Option<&B>,
    account: Option<&A>,
    probe: &P,
) -> Vec<Finding> {
    let mut findings = vec![catalog(&setup.directory)];
    match bot {
        None => findings.push(Finding::fix(
            "bot token",
            "TELEGRAM_BOT_TOKEN is not set: paste the token BotFather gave you",
        )),
        Some(bot) => findings.extend(check_bot(setup, bot).await),
    }
    findings.push(match account {
        None => Finding::fix(
            "NOWPayments API key",
            "TELEPAY_NOWPAYMENTS_API_KEY is not set: create one in the NOWPayments dashboard (Settings, Payments, API keys)",
        ),
        Some(account) => key(account.accepted_coins().await),
    });
    findings.push(match (setup.ipn_url, setup.ipn_secret) {
        (Some(url), Some(secret)) => ipn(url, secret, probe).await,
        (None, _) => Finding::fix(
            "IPN callback",
            "TELEPAY_IPN_CALLBACK_URL is not set: it is the stack's WebhookUrl output",
        ),
        (_, None) => Finding::fix(
            "IPN callback",
            "TELEPAY_IPN_SECRET is not set: it is the IPN secret of the NOWPayments dashboard (Settings, Payments, IPN)",
        ),
    });
    findings
}

fn catalog(directory: &Result<&ChannelDirectory, String>) -> Finding {
    match directory {
        Ok(directory) => {
            let channels = directory.channels();
            let tiers: usize = channels.iter().map(|entry| entry.tiers.len()).sum();
            Finding::ok(
                "catalog",
                format!("{} channel(s), {tiers} tier(s)", channels.len()),
            )
        }
        Err(why) => Finding::fix("catalog", why.clone()),
    }
}

async fn check_bot<B: BotCheck>(setup: &Examination<'_>, bot: &B) -> Vec<Finding> {
    let me = match bot.me().await {
        Ok(me) => me,
        Err(err) => return vec![token(&err)],
    };
    let mut findings = vec![Finding::ok("bot token", format!("@{}", me.username))];
    findings.push(match bot.webhook().await {
        Ok(facts) if setup.polling => polled(&facts),
        Ok(facts) => webhook(setup.bot_url, &facts),
        Err(err) => Finding::fix("bot webhook", format!("Telegram did not answer: {err}")),
    });
    if let Ok(directory) = &setup.directory {
        let mut seen = Vec::new();
        for entry in directory.channels() {
            if seen.contains(&entry.private_channel_id) {
                continue;
            }
            seen.push(entry.private_channel_id);
            let name = directory.private_channel_name(entry.private_channel_id);
            let check = format!("channel {name} ({})", entry.private_channel_id);
            findings.push(match bot.standing(entry.private_channel_id, me.id).await {
                Ok(standing) => rights(check, &me.username, standing),
                Err(err) => Finding::fix(check, format!("Telegram did not answer: {err}")),
            });
        }
    }
    findings
}

/// The token's verdict from a refused `getMe`.
pub fn token(err: &TelegramError) -> Finding {
    let detail = match err {
        TelegramError::Misconfigured(_) | TelegramError::UserUnreachable(_) => {
            "Telegram refuses TELEGRAM_BOT_TOKEN: paste the token BotFather gave you (/mybots, API Token)".to_owned()
        }
        other => format!("Telegram did not answer: {other}"),
    };
    Finding::fix("bot token", detail)
}

/// The polling server's verdict: no webhook, since Telegram refuses `getUpdates` while
/// one is set (and the server removes it when it starts).
pub fn polled(facts: &WebhookFacts) -> Finding {
    let check = "bot updates";
    if facts.url.is_empty() {
        return Finding::ok(
            check,
            format!(
                "polling (getUpdates), no webhook; {} update(s) waiting",
                facts.pending
            ),
        );
    }
    Finding::fix(
        check,
        format!(
            "a webhook is set ({}), and Telegram refuses getUpdates while one is: start telepay serve (it removes it), or unset TELEPAY_BOT_UPDATES to keep the webhook",
            facts.url
        ),
    )
}

/// The webhook's verdict: set to `expected`, with the updates the bot needs, and not
/// failing its deliveries.
pub fn webhook(expected: Option<&str>, facts: &WebhookFacts) -> Finding {
    let check = "bot webhook";
    let set_it = "run telepay bot set-webhook --url <the stack's BotWebhookUrl>";
    if facts.url.is_empty() {
        return Finding::fix(
            check,
            format!("no webhook is set, so the bot hears nothing: {set_it}"),
        );
    }
    if let Some(expected) = expected
        && facts.url != expected
    {
        return Finding::fix(
            check,
            format!(
                "Telegram delivers to {}, not {expected}: {set_it}",
                facts.url
            ),
        );
    }
    let missing: Vec<&str> = match &facts.allowed_updates {
        Some(kinds) => ALLOWED_UPDATES
            .into_iter()
            .filter(|kind| !kinds.iter().any(|k| k == kind))
            .collect(),
        // Telegram's default is every kind but `chat_member` (Bot API, `setWebhook`).
        None => vec!["chat_member"],
    };
    if !missing.is_empty() {
        return Finding::fix(
            check,
            format!(
                "the webhook does not ask for {}: {set_it}",
                missing.join(", ")
            ),
        );
    }
    if let Some(error) = &facts.last_error {
        let why = if error.contains("401") || error.contains("403") {
            "our webhook refuses Telegram's secret token (it differs from TELEPAY_BOT_WEBHOOK_SECRET)"
        } else {
            "Telegram's last delivery failed"
        };
        return Finding::fix(check, format!("{why} ({error}): {set_it}"));
    }
    Finding::ok(
        check,
        format!("{} ({} update(s) waiting)", facts.url, facts.pending),
    )
}

/// The bot's rights in one private channel: an administrator that may invite users (the
/// links) and ban them (the removals).
pub fn rights(check: String, bot: &str, standing: BotStanding) -> Finding {
    let add = format!(
        "add @{bot} as an administrator with the rights Invite users via link and Ban users"
    );
    match standing {
        BotStanding::Creator
        | BotStanding::Admin {
            invite: true,
            restrict: true,
        } => Finding::ok(check, "administrator, may invite and ban"),
        BotStanding::Admin { invite, restrict } => {
            let missing = match (invite, restrict) {
                (false, false) => "Invite users via link and Ban users",
                (false, true) => "Invite users via link (no invite can be made)",
                _ => "Ban users (no member can be removed when their time ends)",
            };
            Finding::fix(
                check,
                format!("the bot lacks the right {missing}: edit @{bot}'s administrator rights"),
            )
        }
        BotStanding::Member => Finding::fix(
            check,
            format!("the bot is a member, not an administrator: {add}"),
        ),
        BotStanding::Out => Finding::fix(
            check,
            format!("the bot is not in the channel (it left or was removed): {add}"),
        ),
        BotStanding::Unknown => Finding::fix(
            check,
            format!(
                "Telegram knows no such channel for the bot (check private_channel_id, the -100… id): {add}"
            ),
        ),
    }
}

/// The API key's verdict from NOWPayments' answer.
pub fn key(answer: Result<Vec<String>, StatusError>) -> Finding {
    let check = "NOWPayments API key";
    match answer {
        Ok(coins) if coins.is_empty() => Finding::fix(
            check,
            "the key works but the account accepts no coin: enable some in the NOWPayments dashboard (Settings, Coins)",
        ),
        Ok(coins) => Finding::ok(check, format!("valid; {} coin(s) accepted", coins.len())),
        Err(StatusError::Refused(why)) => Finding::fix(
            check,
            format!(
                "NOWPayments refuses TELEPAY_NOWPAYMENTS_API_KEY ({why}): copy the key again from the dashboard (a sandbox key needs TELEPAY_NOWPAYMENTS_API_URL=https://api-sandbox.nowpayments.io)"
            ),
        ),
        Err(StatusError::Unavailable(why)) => Finding::fix(
            check,
            format!("NOWPayments did not answer ({why}): try again"),
        ),
    }
}

/// The probe IPN, signed with `secret` (or not): `expired` for payment 1, which np-webhook
/// ignores before it reads the order, so nothing is ever written for it.
pub fn probe_ipn(secret: &IpnSecret) -> (String, String) {
    let body = format!(
        r#"{{"actually_paid":0,"order_id":"telepay-doctor-probe","pay_amount":0,"payment_id":{PROBE_PAYMENT_ID},"payment_status":"expired","price_amount":0,"price_currency":"usd"}}"#
    );
    let signature = secret.sign(body.as_bytes());
    (body, signature)
}

async fn ipn<P: IpnProbe>(url: &str, secret: &IpnSecret, probe: &P) -> Finding {
    let (body, signature) = probe_ipn(secret);
    let signed = probe.post(url, &body, Some(&signature)).await;
    let unsigned = probe.post(url, &body, None).await;
    ipn_verdict(url, signed, unsigned)
}

/// The IPN endpoint's verdict: it must take our signed probe (and ignore it) and refuse
/// the same body unsigned.
pub fn ipn_verdict(
    url: &str,
    signed: Result<ProbeAnswer, String>,
    unsigned: Result<ProbeAnswer, String>,
) -> Finding {
    let check = "IPN callback";
    let signed = match signed {
        Ok(answer) => answer,
        Err(why) => {
            return Finding::fix(
                check,
                format!(
                    "{url} does not answer ({why}): NOWPayments cannot reach it either; use the stack's WebhookUrl output"
                ),
            );
        }
    };
    if signed.status == 401 {
        return Finding::fix(
            check,
            format!(
                "{url} refuses an IPN signed with TELEPAY_IPN_SECRET: the deployed IPN secret differs; set the same secret in the NOWPayments dashboard and the stack"
            ),
        );
    }
    if signed.status != 200 || signed.outcome != "ignored" {
        return Finding::fix(
            check,
            format!(
                "{url} answered {} {:?} to a signed probe: it is not TelePay's np-webhook",
                signed.status, signed.outcome
            ),
        );
    }
    match unsigned {
        Ok(answer) if answer.status == 401 => Finding::ok(
            check,
            format!("{url} takes signed IPNs and refuses unsigned ones"),
        ),
        Ok(answer) => Finding::fix(
            check,
            format!(
                "{url} answered {} to an unsigned IPN: it must refuse it (401)",
                answer.status
            ),
        ),
        Err(why) => Finding::fix(check, format!("{url} stopped answering ({why})")),
    }
}

/// Every dead-letter queue's verdict: empty, or what to run.
pub fn dead_letters(queue: &str, waiting: usize) -> Finding {
    let check = format!("{queue} dead-letter queue");
    if waiting == 0 {
        Finding::ok(check, "empty")
    } else {
        Finding::fix(
            check,
            format!(
                "{waiting} message(s) wait: look with telepay dlq list {queue}, then telepay dlq redrive {queue} once the cause is fixed"
            ),
        )
    }
}

#[cfg(test)]
mod tests;
