//! What the functions tell CloudWatch: the real exporter's Embedded Metric Format, read
//! back from a buffer. A payment's stages count their outcomes with the function and
//! stack dimensions; the Bot API and the store record latencies; and every alarm in
//! template.yaml names a metric with exactly the dimensions the code emits, so a change
//! of dimensions cannot silently blind an alarm.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fake_bot_api::{FakeBotApi, Fault, FaultKind};
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN, SAMPLE_IPN_SECRET};
use telepay_core::invite::{InviteSender, InviteSettings};
use telepay_core::metrics::{
    FUNCTION_DIMENSION, NAMESPACE, OPERATION, OUTCOME, STACK_DIMENSION, latency, signal, stage,
};
use telepay_core::processor::PaymentProcessor;
use telepay_core::queue::MessageOutcome;
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::signature::IpnSecret;
use telepay_core::webhook::PaymentWebhook;
use telepay_integration_tests::metrics::{TEST_FUNCTION, TEST_STACK, capture};
use telepay_integration_tests::template::{TEMPLATE, dimensions, property, resources};
use telepay_integration_tests::{ipn_request, outcome, sample_with, signed_ipn, sqlite_store};
use telepay_shared::store::AnyStore;
use telepay_shared::telegram::{BotToken, TelegramBotApi};

const TOKEN: &str = "424242:metrics-test-token";

async fn store() -> AnyStore {
    AnyStore::Sqlite(sqlite_store(true).await)
}

fn webhook(store: AnyStore) -> PaymentWebhook<AnyStore, MemoryQueue> {
    PaymentWebhook::new(
        IpnSecret::new(SAMPLE_IPN_SECRET).unwrap(),
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        store,
        MemoryQueue::new(),
    )
}

#[tokio::test]
async fn the_webhook_counts_each_answer_by_outcome_with_the_function_and_stack() {
    let webhook = webhook(store().await);
    let (response, emitted) = capture(async {
        let first = np_webhook::handle(&webhook, signed_ipn(SAMPLE_IPN)).await;
        let again = np_webhook::handle(&webhook, signed_ipn(SAMPLE_IPN)).await;
        (first.unwrap(), again.unwrap())
    })
    .await;
    assert_eq!(outcome(&response.0).1, "queued");
    assert_eq!(
        emitted.outcomes(stage::IPN),
        BTreeMap::from([("queued".to_owned(), 2.0)]),
        "a redelivery of a queued payment is queued again (from the stored record)"
    );
    let documents = emitted.carrying(stage::IPN);
    assert_eq!(documents.len(), 1, "one document per dimension set");
    let document = documents[0];
    assert_eq!(document.namespace, NAMESPACE);
    assert_eq!(
        document.dimension_names,
        [FUNCTION_DIMENSION, STACK_DIMENSION, OUTCOME]
    );
    assert_eq!(document.dimensions[FUNCTION_DIMENSION], TEST_FUNCTION);
    assert_eq!(document.dimensions[STACK_DIMENSION], TEST_STACK);
    assert_eq!(document.metrics[stage::IPN].0.as_deref(), Some("Count"));

    // The one conditional write that records the payment, timed, in milliseconds.
    assert_eq!(
        emitted.latencies(latency::STORE_WRITE, "record_accepted"),
        2
    );
    let write = emitted.carrying(latency::STORE_WRITE)[0];
    assert_eq!(
        write.metrics[latency::STORE_WRITE].0.as_deref(),
        Some("Milliseconds")
    );
    assert_eq!(
        write.dimension_names,
        [FUNCTION_DIMENSION, STACK_DIMENSION, OPERATION]
    );
}

#[tokio::test]
async fn alarm_signals_of_the_webhook_are_counted_once_each() {
    let webhook = webhook(store().await);
    let wrong = IpnSecret::new("not-the-secret")
        .unwrap()
        .sign(SAMPLE_IPN.as_bytes());
    let changed = sample_with("outcome_amount", serde_json::json!(0.5));
    let ((), emitted) = capture(async {
        for signature in [None, Some(wrong.as_str()), Some("not-hex")] {
            let request = ipn_request(SAMPLE_IPN, signature, Some("application/json"));
            np_webhook::handle(&webhook, request).await.unwrap();
        }
        np_webhook::handle(&webhook, signed_ipn(SAMPLE_IPN))
            .await
            .unwrap();
        np_webhook::handle(&webhook, signed_ipn(&changed))
            .await
            .unwrap();
    })
    .await;
    assert_eq!(
        emitted.count(signal::IPN_SIGNATURE_REJECTED),
        3.0,
        "IPN-shaped bodies with a bad signature feed the wrong-secret alarm"
    );
    assert_eq!(emitted.outcome(stage::IPN, "bad_signature"), 3.0);
    assert_eq!(
        emitted.count(signal::IPN_SIGNATURE_ACCEPTED),
        2.0,
        "the two signed IPNs weigh against the rejections"
    );
    assert_eq!(
        emitted.count(signal::PAYLOAD_MISMATCH),
        1.0,
        "a finished payment repeated with other amounts is counted"
    );
    assert_eq!(emitted.count(signal::SIGNED_IPN_REFUSED), 0.0);
}

#[tokio::test]
async fn a_held_payment_feeds_the_held_alarm_and_is_counted_by_reason() {
    let webhook = webhook(store().await);
    let cheap = sample_with("price_amount", serde_json::json!(1.0));
    let repeat = sample_with("parent_payment_id", serde_json::json!(4492847000_i64))
        .replace("4492847470", "4492847471");
    let ((), emitted) = capture(async {
        for body in [&cheap, &cheap, &repeat] {
            np_webhook::handle(&webhook, signed_ipn(body))
                .await
                .unwrap();
        }
    })
    .await;
    // Held twice (the repeat of the first IPN is not a new hold).
    assert_eq!(
        emitted.count(signal::PAYMENT_HELD),
        2.0,
        "the alarm's metric"
    );
    let by_reason: BTreeMap<String, f64> = emitted
        .carrying(signal::PAYMENT_HELD)
        .into_iter()
        .filter_map(|doc| {
            let reason = doc.dimensions.get(telepay_core::metrics::REASON)?;
            Some((
                reason.clone(),
                doc.metrics[signal::PAYMENT_HELD].1.as_f64()?,
            ))
        })
        .collect();
    assert_eq!(
        by_reason,
        BTreeMap::from([
            ("price_mismatch".to_owned(), 1.0),
            ("repeat_deposit".to_owned(), 1.0)
        ])
    );
}

/// One paid payment through the webhook, the processor and the invite sender (on the fake
/// Bot API), every stage's outcome and the latencies counted.
#[tokio::test]
async fn a_paid_payment_counts_its_stages_bot_api_latencies_and_a_rate_limit() {
    let fake = FakeBotApi::start(TOKEN).await;
    let store = store().await;
    let webhook = webhook(store.clone());
    let processor = PaymentProcessor::new(store.clone(), MemoryQueue::new(), MemoryQueue::new());
    let telegram = TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap();
    let sender = InviteSender::new(
        store,
        telegram,
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        InviteSettings::default(),
    );
    // Telegram says "slow down" to the first link: the message comes back later.
    fake.inject(Fault::new("createChatInviteLink", FaultKind::RetryAfter(1)));
    let (outcomes, emitted) = capture(async {
        np_webhook::handle(&webhook, signed_ipn(SAMPLE_IPN))
            .await
            .unwrap();
        let message = webhook.processor_queue.bodies().remove(0);
        let processed = processor.process(&message).await;
        let invite = processor.invite_queue.bodies().remove(0);
        let deadline = chrono::Utc::now() + chrono::TimeDelta::seconds(60);
        let limited = sender.deliver(&invite, deadline).await;
        let sent = sender.deliver(&invite, deadline).await;
        let duplicate = sender.deliver(&invite, deadline).await;
        (processed, limited, sent, duplicate)
    })
    .await;
    assert_eq!(outcomes.0, MessageOutcome::Done);
    assert!(matches!(outcomes.1, MessageOutcome::RetryAfter(_)));
    assert_eq!(
        (outcomes.2, outcomes.3),
        (MessageOutcome::Done, MessageOutcome::Done)
    );
    assert_eq!(fake.delivered("sendMessage").len(), 1, "one invite");

    assert_eq!(emitted.outcome(stage::IPN, "queued"), 1.0);
    assert_eq!(
        emitted.outcomes(stage::PROCESSOR),
        BTreeMap::from([("processed".to_owned(), 1.0)])
    );
    assert_eq!(
        emitted.outcomes(stage::INVITE),
        BTreeMap::from([
            ("duplicate".to_owned(), 1.0),
            ("rate_limited".to_owned(), 1.0),
            ("sent".to_owned(), 1.0),
        ])
    );
    assert_eq!(emitted.count(signal::SUBSCRIPTION_GRANTED), 1.0);
    assert_eq!(emitted.count(signal::TELEGRAM_RATE_LIMITED), 1.0);
    assert_eq!(
        emitted.latencies(latency::TELEGRAM, "createChatInviteLink"),
        2,
        "the refused call is timed too"
    );
    assert_eq!(emitted.latencies(latency::TELEGRAM, "sendMessage"), 1);
    for write in [
        "record_accepted",
        "mark_processed",
        "claim_invite",
        "complete_invite",
    ] {
        assert!(
            emitted.latencies(latency::STORE_WRITE, write) >= 1,
            "{write} timed: {:?}",
            emitted.carrying(latency::STORE_WRITE)
        );
    }
    for document in &emitted.documents {
        assert_eq!(document.dimensions[FUNCTION_DIMENSION], TEST_FUNCTION);
        assert_eq!(document.dimensions[STACK_DIMENSION], TEST_STACK);
    }
}

#[tokio::test]
async fn every_alarm_on_a_telepay_metric_names_a_metric_and_dimensions_the_code_emits() {
    let resources = resources();
    let functions: BTreeSet<&str> = resources
        .iter()
        .filter(|(_, block)| property(block, "Type") == Some("AWS::Serverless::Function"))
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(functions.len(), 8, "{functions:?}");
    assert!(
        TEMPLATE.contains("TELEPAY_STACK_NAME: !Ref AWS::StackName"),
        "every function knows its stack (the Stack dimension)"
    );
    let alarms: Vec<_> = resources
        .iter()
        .filter(|(_, block)| property(block, "Type") == Some("AWS::CloudWatch::Alarm"))
        .filter(|(_, block)| property(block, "Namespace") == Some(NAMESPACE))
        .collect();
    assert!(alarms.len() >= 14, "{} TelePay alarms", alarms.len());
    for (id, block) in alarms {
        let metric = property(block, "MetricName").expect("MetricName");
        let known = signal::ALL.iter().find(|m| **m == metric);
        let known =
            *known.unwrap_or_else(|| panic!("{id}: {metric} is not a metric the code records"));
        // What the exporter really writes for this metric.
        let ((), emitted) = capture(async {
            if signal::READINGS.contains(&known) {
                telepay_core::metrics::reading(known, 1.0);
            } else {
                telepay_core::metrics::count(known);
            }
        })
        .await;
        let document = emitted.carrying(known)[0];
        let emitted_names: BTreeSet<&str> = document
            .dimension_names
            .iter()
            .map(String::as_str)
            .collect();
        let alarm = dimensions(block);
        let alarm_names: BTreeSet<&str> = alarm.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            alarm_names, emitted_names,
            "{id}: the alarm's dimensions must be the emitted set, or it never fires"
        );
        for (name, value) in &alarm {
            match name.as_str() {
                FUNCTION_DIMENSION => {
                    let function = value.strip_prefix("!Ref ").unwrap_or_default();
                    assert!(functions.contains(function), "{id}: Function is {value}");
                }
                STACK_DIMENSION => assert_eq!(value, "!Ref AWS::StackName", "{id}"),
                other => panic!("{id}: unexpected dimension {other}"),
            }
        }
    }
}

#[tokio::test]
async fn the_cold_start_count_and_units_go_out_as_emf() {
    // The runtime layer writes ColdStart itself on the first invocation; here through the
    // same exporter, as a plain count.
    let ((), emitted) = capture(async {
        telepay_core::metrics::count(signal::COLD_START);
        telepay_core::metrics::reading(signal::RECONCILER_OLDEST_AGE, 42.0);
        telepay_core::metrics::latency(latency::TELEGRAM, "sendMessage", Duration::from_millis(7));
    })
    .await;
    assert_eq!(emitted.count(signal::COLD_START), 1.0);
    let age = emitted.carrying(signal::RECONCILER_OLDEST_AGE)[0];
    assert_eq!(
        age.metrics[signal::RECONCILER_OLDEST_AGE].0.as_deref(),
        Some("Seconds")
    );
    let call = emitted.carrying(latency::TELEGRAM)[0];
    let values = call.metrics[latency::TELEGRAM].1.as_array().unwrap();
    assert_eq!(values.len(), 1);
    assert!((values[0].as_f64().unwrap() - 7.0).abs() < 0.001);
}

#[test]
fn the_dashboard_shows_only_metrics_the_code_records() {
    let dashboard = TEMPLATE
        .split("  OperationsDashboard:\n")
        .nth(1)
        .expect("the operations dashboard")
        .split("\n  # ----")
        .next()
        .unwrap();
    let known: BTreeSet<&str> = stage::ALL
        .iter()
        .chain(latency::ALL)
        .chain(signal::ALL)
        .copied()
        .collect();
    let searched = dashboard
        .split("MetricName=\\\"")
        .skip(1)
        .map(|rest| rest.split('\\').next().unwrap());
    let named = dashboard
        .split("\"TelePay\",\n")
        .skip(1)
        .map(|rest| rest.trim_start().split('"').nth(1).unwrap());
    let shown: Vec<&str> = searched.chain(named).collect();
    assert!(shown.len() >= 12, "{shown:?}");
    for metric in shown {
        assert!(
            known.contains(metric),
            "the dashboard shows {metric}, which nothing records"
        );
    }
    for stage in stage::ALL {
        assert!(dashboard.contains(stage), "no widget for {stage}");
    }
}

/// An on-call person is told when any function fails (a crash, a timeout, a cold start
/// that stops on its configuration), when the API answers 5xx, and when each alarm clears;
/// logs are kept as long as the owner says, not forever.
#[test]
fn every_function_alarms_on_its_errors_and_keeps_its_logs_for_the_retention_chosen() {
    let resources = resources();
    let block_of = |id: &str| {
        resources
            .iter()
            .find(|(name, _)| name == id)
            .map(|(_, block)| block.as_str())
            .unwrap_or_else(|| panic!("no resource {id}"))
    };
    let functions: Vec<&str> = resources
        .iter()
        .filter(|(_, block)| property(block, "Type") == Some("AWS::Serverless::Function"))
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(functions.len(), 8);
    for function in &functions {
        let errors = resources.iter().find(|(_, block)| {
            property(block, "Namespace") == Some("AWS/Lambda")
                && property(block, "MetricName") == Some("Errors")
                && dimensions(block)
                    == vec![("FunctionName".to_owned(), format!("!Ref {function}"))]
        });
        assert!(errors.is_some(), "{function} has no Errors alarm");
        let group = property(block_of(function), "LogGroup")
            .and_then(|value| value.strip_prefix("!Ref "))
            .unwrap_or_else(|| panic!("{function} logs to no group of its own"));
        assert_eq!(
            property(block_of(group), "Type"),
            Some("AWS::Logs::LogGroup")
        );
        assert_eq!(
            property(block_of(group), "RetentionInDays"),
            Some("!Ref LogRetentionDays"),
            "{group}"
        );
    }
    let api = block_of("WebhookApi5xxAlarm");
    assert_eq!(property(api, "MetricName"), Some("5xx"));
    assert_eq!(
        dimensions(api),
        vec![("ApiId".to_owned(), "!Ref WebhookApi".to_owned())]
    );
    for (id, block) in resources
        .iter()
        .filter(|(_, block)| property(block, "Type") == Some("AWS::CloudWatch::Alarm"))
    {
        assert_eq!(
            property(block, "AlarmActions"),
            Some("[!Ref AlarmTopic]"),
            "{id}"
        );
        assert_eq!(
            property(block, "OKActions"),
            Some("[!Ref AlarmTopic]"),
            "{id}: told when it clears"
        );
    }
    // Without a payout consumer every instruction ages by design: no alarm then.
    assert_eq!(
        property(block_of("PayoutBacklogAlarm"), "Condition"),
        Some("HasPayoutConsumer")
    );
    // The sandbox reaches the functions that call NOWPayments.
    for function in ["BotWebhookFunction", "ReconcilerFunction"] {
        assert_eq!(
            property(block_of(function), "TELEPAY_NOWPAYMENTS_API_URL"),
            Some("!Ref NowPaymentsApiUrl"),
            "{function}"
        );
    }
}

/// An alarm on metric math (the wrong-IPN-secret alarm): every metric it reads is one the
/// code records, with the dimensions the exporter writes (Function and Stack).
#[tokio::test]
async fn every_metric_math_alarm_reads_metrics_the_code_emits() {
    let math: Vec<_> = resources()
        .into_iter()
        .filter(|(_, block)| property(block, "Type") == Some("AWS::CloudWatch::Alarm"))
        .filter(|(_, block)| block.contains("MetricStat:"))
        .collect();
    assert!(!math.is_empty(), "the wrong-secret alarm is metric math");
    for (id, block) in math {
        let stats: Vec<&str> = block.split("- Id: ").skip(1).collect();
        let mut read = 0;
        for stat in stats.iter().filter(|s| s.contains("MetricStat:")) {
            assert_eq!(property(stat, "Namespace"), Some(NAMESPACE), "{id}");
            let metric = property(stat, "MetricName").expect("MetricName");
            let known = *signal::ALL
                .iter()
                .find(|m| **m == metric)
                .unwrap_or_else(|| panic!("{id}: {metric} is not a metric the code records"));
            let ((), emitted) = capture(async { telepay_core::metrics::count(known) }).await;
            let emitted_names: BTreeSet<&str> = emitted.carrying(known)[0]
                .dimension_names
                .iter()
                .map(String::as_str)
                .collect();
            let listed = dimensions(stat);
            let names: BTreeSet<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, emitted_names, "{id}: {metric}'s dimensions");
            read += 1;
        }
        assert!(read >= 2, "{id} weighs one metric against another");
        assert!(block.contains("Expression: "), "{id}");
    }
}
