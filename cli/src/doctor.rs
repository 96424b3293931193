//! `telepay doctor`: the checklist of `telepay_core::doctor`, with what only the CLI can
//! read added (the secrets, the store, the dead-letter queues) and the IPN probe's HTTP.

use std::time::Duration;

use telepay_core::doctor::{self, Examination, Finding, IpnProbe, ProbeAnswer, Verdict};
use telepay_core::signature::IpnSecret;
use telepay_shared::aws::{consumer_timeouts, load_sdk_config};
use telepay_shared::config::{self, Environment, ProcessEnvironment, StoreConfig};
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsPayments};
use telepay_shared::queues::{QUEUE_NAMES, open_queue};
use telepay_shared::secrets::read_secrets;
use telepay_shared::store::AnyStore;
use telepay_shared::telegram::{BotToken, TelegramBotApi};

/// The stack's alarm topic: the `AlarmTopicArn` output.
const ALARM_TOPIC_ARN: &str = "TELEPAY_ALARM_TOPIC_ARN";

/// Where the bot's webhook must point: the stack's `BotWebhookUrl` output.
const BOT_WEBHOOK_URL: &str = "TELEPAY_BOT_WEBHOOK_URL";

/// The probe's HTTP: one POST, 10 s at most.
struct HttpProbe(reqwest::Client);

impl IpnProbe for HttpProbe {
    async fn post(
        &self,
        url: &str,
        body: &str,
        signature: Option<&str>,
    ) -> Result<ProbeAnswer, String> {
        let mut request = self
            .0
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("x-nowpayments-sig", signature);
        }
        let response = request
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        Ok(ProbeAnswer {
            status,
            outcome: body["outcome"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

pub(crate) async fn run(json: bool) -> anyhow::Result<()> {
    let sdk = load_sdk_config(consumer_timeouts()).await;
    let findings = match read_secrets(ProcessEnvironment, &sdk).await {
        Ok(env) => {
            let mut findings = vec![Finding::ok("secrets", "readable")];
            findings.extend(examine(&env, &sdk).await);
            findings
        }
        Err(err) => {
            // The rest is still worth checking with what the environment holds.
            let mut findings = vec![Finding::fix("secrets", err.to_string())];
            findings.extend(examine(&ProcessEnvironment, &sdk).await);
            findings
        }
    };
    let broken = report(&findings, json)?;
    if broken > 0 {
        anyhow::bail!("{broken} thing(s) to fix, each named above");
    }
    Ok(())
}

/// Prints each finding (a line, or a JSON object with `json`); how many need fixing.
pub(crate) fn report(findings: &[Finding], json: bool) -> anyhow::Result<usize> {
    for finding in findings {
        if json {
            println!("{}", serde_json::to_string(finding)?);
        } else {
            println!("{}", finding.line());
        }
    }
    Ok(findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fix)
        .count())
}

async fn examine(env: &impl Environment, sdk: &aws_config::SdkConfig) -> Vec<Finding> {
    let store = match StoreConfig::from_env(env) {
        Ok(config) => AnyStore::connect(&config, sdk)
            .await
            .map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    // The catalog in force: the store's newest version (else the environment's).
    let catalog = match &store {
        Ok(store) => crate::catalog::catalog_in_force(store)
            .await
            .map_err(|e| format!("{e:#}")),
        Err(_) => Err("the store cannot be reached (below)".to_owned()),
    };
    let bot = env
        .optional(config::BOT_TOKEN)
        .and_then(BotToken::new)
        .and_then(|token| {
            let api_url = env.optional(config::API_URL);
            TelegramBotApi::new(token, api_url.as_deref()).ok()
        });
    let account = env
        .optional(config::NOWPAYMENTS_API_KEY)
        .and_then(NowPaymentsApiKey::new)
        .and_then(|key| {
            let api_url = env.optional(config::NOWPAYMENTS_API_URL);
            NowPaymentsPayments::new(key, api_url.as_deref()).ok()
        });
    let ipn_secret = env
        .optional(config::IPN_SECRET)
        .and_then(|secret| IpnSecret::new(secret).ok());
    let bot_url = env.optional(BOT_WEBHOOK_URL);
    let ipn_url = env.optional(config::IPN_CALLBACK_URL);
    let probe = HttpProbe(
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client"),
    );
    let setup = Examination {
        directory: catalog.as_ref().map(|c| &c.directory).map_err(Clone::clone),
        bot_url: bot_url.as_deref(),
        polling: env
            .optional(config::BOT_UPDATES)
            .is_some_and(|v| v.trim() == "polling"),
        ipn_url: ipn_url.as_deref(),
        ipn_secret: ipn_secret.as_ref(),
    };
    let mut findings = doctor::examine(&setup, bot.as_ref(), account.as_ref(), &probe).await;
    if let Ok(catalog) = &catalog
        && let Some(first) = findings.first_mut()
        && catalog.version > 0
    {
        first.detail = format!("version {}: {}", catalog.version, first.detail);
    }
    findings.extend(dead_letters(env, sdk, store).await);
    findings.push(match env.optional(ALARM_TOPIC_ARN) {
        None => Finding::skipped(
            "alarms",
            "TELEPAY_ALARM_TOPIC_ARN is not set (the stack's AlarmTopicArn output; --stack reads it)",
        ),
        Some(topic) => match crate::alarms::subscribers(sdk, &topic).await {
            Ok(subscribers) => doctor::alarm_subscribers(&subscribers),
            Err(why) => Finding::fix("alarms", format!("SNS could not say who is subscribed: {why}")),
        },
    });
    findings
}

/// The store and every dead-letter queue it can reach.
async fn dead_letters(
    env: &impl Environment,
    sdk: &aws_config::SdkConfig,
    store: Result<AnyStore, String>,
) -> Vec<Finding> {
    let store = match store {
        Ok(store) => store,
        Err(why) => return vec![Finding::fix("store", why)],
    };
    let mut findings = vec![Finding::ok("store", "reachable")];
    for name in QUEUE_NAMES {
        let queue = open_queue(name, &store, env, || aws_sdk_sqs::Client::new(sdk)).await;
        let finding = match queue {
            Ok(queue) => match queue.dead_letters(name).await {
                Ok(letters) => doctor::dead_letters(name, letters.len()),
                Err(err) => Finding::fix(format!("{name} dead-letter queue"), err.to_string()),
            },
            Err(err) => Finding::skipped(format!("{name} dead-letter queue"), err.to_string()),
        };
        findings.push(finding);
    }
    findings
}
