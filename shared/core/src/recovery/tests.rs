//! The recovery pass on the memory store and queue, with NOWPayments' status answers
//! scripted per payment (the real adapter is tested against the fake NOWPayments server
//! in `tests/tests/recovery.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{TimeDelta, Utc};
use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::directory::ChannelDirectory;
use crate::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN, sample_ipn_with};
use crate::queue::memory::MemoryQueue;
use crate::store::memory::MemoryStore;
use crate::store::{OperatorStore, PaymentWatchStore};

const PAYMENT_ID: i64 = 4492847470;

/// NOWPayments as the pass sees it: one scripted answer per payment, and the questions.
#[derive(Default, Clone)]
struct ScriptedNowPayments {
    answers: Arc<Mutex<HashMap<i64, Result<String, StatusError>>>>,
    asked: Arc<Mutex<Vec<i64>>>,
    /// The account's list, when a login is configured.
    listed: Arc<Mutex<Option<Listing>>>,
}

/// What the account's list answers.
type Listing = Result<Vec<ListedPayment>, StatusError>;

impl ScriptedNowPayments {
    fn answer(&self, payment_id: i64, answer: Result<String, StatusError>) {
        self.answers.lock().unwrap().insert(payment_id, answer);
    }
    fn asked(&self) -> usize {
        self.asked.lock().unwrap().len()
    }
}

impl PaymentStatusApi for ScriptedNowPayments {
    async fn payment_status(&self, payment_id: PaymentId) -> Result<String, StatusError> {
        self.asked.lock().unwrap().push(payment_id.get());
        self.answers
            .lock()
            .unwrap()
            .get(&payment_id.get())
            .cloned()
            .unwrap_or_else(|| Err(StatusError::Refused("404: no such payment".into())))
    }

    async fn recent_payments(
        &self,
        _since: chrono::DateTime<Utc>,
    ) -> Result<Option<Vec<ListedPayment>>, StatusError> {
        self.listed.lock().unwrap().clone().transpose()
    }
}

struct World {
    recovery: PaymentRecovery<MemoryStore, MemoryQueue, ScriptedNowPayments>,
    clock: Arc<ManualClock>,
    nowpayments: ScriptedNowPayments,
}

fn world() -> World {
    let clock = ManualClock::frozen_at(Utc::now());
    let ingress = PaymentIngress::new(
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        MemoryStore::new(),
        MemoryQueue::new(),
    )
    .with_notice_queue(MemoryQueue::new())
    .with_clock(clock.clone());
    let nowpayments = ScriptedNowPayments::default();
    World {
        recovery: PaymentRecovery::new(ingress, nowpayments.clone(), RecoverySettings::default()),
        clock,
        nowpayments,
    }
}

fn with_status(status: &str) -> String {
    sample_ipn_with("payment_status", json!(status))
}

impl World {
    /// A signed in-flight IPN arrived: the ingress watches the payment.
    async fn in_flight(&self, status: &str) {
        let body = with_status(status);
        let ipn = Ipn::parse(body.as_bytes()).unwrap();
        let admission = self.recovery.ingress.admit(&ipn, body.as_bytes()).await;
        assert_eq!(admission.outcome, WebhookOutcome::Watched);
    }

    async fn finished_ipn(&self) -> crate::webhook::Admission {
        let ipn = Ipn::parse(SAMPLE_IPN.as_bytes()).unwrap();
        self.recovery
            .ingress
            .admit(&ipn, SAMPLE_IPN.as_bytes())
            .await
    }

    async fn run_after(&self, minutes: i64) -> RecoveryReport {
        self.clock.advance(TimeDelta::minutes(minutes));
        self.recovery.run().await.unwrap()
    }

    fn store(&self) -> &MemoryStore {
        &self.recovery.ingress.store
    }

    fn processor_messages(&self) -> Vec<String> {
        self.recovery.ingress.processor_queue.bodies()
    }

    async fn watch(&self) -> PaymentWatch {
        let id = PaymentId::new(PAYMENT_ID).unwrap();
        self.store().watch_of(id).await.unwrap().unwrap()
    }
}

#[tokio::test]
async fn a_paid_payment_whose_finished_ipn_never_came_is_recovered_once_and_counted() {
    let world = world();
    world.in_flight("waiting").await;
    world
        .nowpayments
        .answer(PAYMENT_ID, Ok(SAMPLE_IPN.to_owned()));

    let report = world.run_after(21).await;

    assert_eq!((report.due, report.recovered), (1, 1), "{report:?}");
    let recorded = world
        .store()
        .get_payment(PaymentId::new(PAYMENT_ID).unwrap())
        .await
        .unwrap()
        .expect("the recovered payment is recorded like a signed IPN's");
    assert!(
        recorded.purchase.unwrap().recovered,
        "marked recovered: its owner's sale notice says the callback is broken"
    );
    assert_eq!(world.processor_messages().len(), 1, "queued for its grant");
    assert_eq!(world.watch().await.settled, Some(Settlement::Recovered));

    // The finished IPN arrives after all: it finds the payment recorded.
    let late = world.finished_ipn().await;
    assert!(!late.first, "{late:?}");
    // And the next run has nothing to do.
    let again = world.run_after(60).await;
    assert_eq!((again.due, again.recovered), (0, 0));
    assert_eq!(world.nowpayments.asked(), 1);
}

#[tokio::test]
async fn a_payment_whose_ipn_arrived_is_closed_without_counting_it_recovered() {
    let world = world();
    world.in_flight("confirming").await;
    assert!(world.finished_ipn().await.first);
    world
        .nowpayments
        .answer(PAYMENT_ID, Ok(SAMPLE_IPN.to_owned()));

    let report = world.run_after(21).await;

    assert_eq!((report.recovered, report.arrived), (0, 1), "{report:?}");
    assert_eq!(world.watch().await.settled, Some(Settlement::Arrived));
    assert_eq!(
        world.nowpayments.asked(),
        0,
        "recorded already: NOWPayments (rate-limited) is not asked"
    );
    // Recorded once; a record not processed yet is sent on again (the processor is
    // idempotent), as a repeated IPN's would be.
    assert_eq!(world.store().payment_count(), 1);
}

#[tokio::test]
async fn nothing_is_asked_before_the_first_check_is_due() {
    let world = world();
    world.in_flight("waiting").await;
    world
        .nowpayments
        .answer(PAYMENT_ID, Ok(SAMPLE_IPN.to_owned()));
    let report = world.run_after(5).await;
    assert_eq!((report.due, world.nowpayments.asked()), (0, 0));
}

#[tokio::test]
async fn a_payment_still_under_way_is_asked_again_later_and_given_up_after_the_watch_period() {
    let world = world();
    world.in_flight("waiting").await;
    world
        .nowpayments
        .answer(PAYMENT_ID, Ok(with_status("confirming")));

    let first = world.run_after(21).await;
    assert_eq!(first.under_way, 1);
    let watch = world.watch().await;
    assert_eq!(
        (watch.last_status.as_str(), watch.checks),
        ("confirming", 1)
    );
    assert_eq!(watch.settled, None);
    assert_eq!(world.run_after(5).await.due, 0, "not before the recheck");

    let given_up = world.run_after(8 * 24 * 60).await;
    assert_eq!(given_up.gave_up, 1);
    assert_eq!(world.watch().await.settled, Some(Settlement::GaveUp));
    assert!(world.processor_messages().is_empty(), "nothing granted");
}

#[tokio::test]
async fn an_expired_payment_settles_unpaid_and_grants_nothing() {
    let world = world();
    world.in_flight("waiting").await;
    world
        .nowpayments
        .answer(PAYMENT_ID, Ok(with_status("expired")));
    let report = world.run_after(21).await;
    assert_eq!(report.unpaid, 1);
    assert_eq!(world.watch().await.settled, Some(Settlement::Unpaid));
    assert!(world.processor_messages().is_empty());
}

#[tokio::test]
async fn nowpayments_down_or_refusing_leaves_the_watch_to_be_asked_again() {
    let world = world();
    world.in_flight("waiting").await;
    world
        .nowpayments
        .answer(PAYMENT_ID, Err(StatusError::Unavailable("HTTP 503".into())));
    assert_eq!(world.run_after(21).await.unavailable, 1);
    world
        .nowpayments
        .answer(PAYMENT_ID, Err(StatusError::Refused("HTTP 403".into())));
    assert_eq!(world.run_after(21).await.refused, 1);
    assert_eq!(world.watch().await.settled, None);

    world
        .nowpayments
        .answer(PAYMENT_ID, Ok(SAMPLE_IPN.to_owned()));
    assert_eq!(world.run_after(21).await.recovered, 1);
}

#[tokio::test]
async fn an_answer_about_another_payment_is_not_admitted() {
    let world = world();
    world.in_flight("waiting").await;
    world.nowpayments.answer(
        PAYMENT_ID,
        Ok(sample_ipn_with("payment_id", json!(PAYMENT_ID + 1))),
    );
    let report = world.run_after(21).await;
    assert_eq!((report.refused, report.recovered), (1, 0));
    assert_eq!(world.store().payment_count(), 0);
}

#[tokio::test]
async fn a_short_payment_recovered_is_held_and_its_buyer_told_like_a_signed_one() {
    let world = world();
    world.in_flight("waiting").await;
    let short = sample_ipn_with("payment_status", json!("partially_paid"));
    world.nowpayments.answer(PAYMENT_ID, Ok(short));
    let report = world.run_after(21).await;
    assert_eq!(report.recovered, 1);
    assert!(
        world.store().review(PAYMENT_ID).is_some(),
        "held for a person"
    );
    let notices = world
        .recovery
        .ingress
        .notice_queue
        .as_ref()
        .unwrap()
        .bodies();
    assert_eq!(notices.len(), 1, "its buyer and owner are told");
}

#[tokio::test]
async fn a_store_outage_fails_the_run_and_loses_no_watch() {
    let world = world();
    world.in_flight("waiting").await;
    world
        .nowpayments
        .answer(PAYMENT_ID, Ok(SAMPLE_IPN.to_owned()));
    world.store().set_unavailable(true);
    world.clock.advance(TimeDelta::minutes(21));
    assert!(world.recovery.run().await.is_err());
    world.store().set_unavailable(false);
    assert_eq!(world.run_after(0).await.recovered, 1);
}

#[tokio::test]
async fn an_operator_recovers_a_payment_never_watched_once_and_a_second_call_changes_nothing() {
    let world = world();
    world
        .nowpayments
        .answer(PAYMENT_ID, Ok(SAMPLE_IPN.to_owned()));
    let id = PaymentId::new(PAYMENT_ID).unwrap();

    let first = world.recovery.recover_now(id).await.unwrap();
    assert_eq!(
        (first.status.as_str(), first.outcome, first.recovered),
        ("finished", Some(WebhookOutcome::Queued), true)
    );
    let second = world.recovery.recover_now(id).await.unwrap();
    assert!(!second.recovered, "{second:?}");
    assert_eq!(world.store().payment_count(), 1);

    world.nowpayments.answer(
        PAYMENT_ID + 1,
        Ok(sample_ipn_with("payment_id", json!(PAYMENT_ID + 1)).replace("finished", "waiting")),
    );
    let waiting = world
        .recovery
        .recover_now(PaymentId::new(PAYMENT_ID + 1).unwrap())
        .await
        .unwrap();
    assert_eq!(
        (waiting.status.as_str(), waiting.outcome),
        ("waiting", None)
    );
    assert!(matches!(
        world.recovery.recover_now(PaymentId::new(7).unwrap()).await,
        Err(StatusError::Refused(_))
    ));
}

fn listed(payment_id: i64, status: &str, order_id: &str) -> ListedPayment {
    ListedPayment {
        payment_id: PaymentId::new(payment_id).unwrap(),
        status: status.into(),
        order_id: Some(order_id.into()),
    }
}

#[tokio::test]
async fn with_the_accounts_login_a_paid_payment_no_ipn_told_of_is_found_and_recovered() {
    let world = world();
    // Every IPN of it lost: nothing watches it. The account's list shows it paid, beside
    // another shop's payment and one of ours still waiting.
    *world.nowpayments.listed.lock().unwrap() = Some(Ok(vec![
        listed(PAYMENT_ID, "finished", "PGP-6271402111|-1003111266231"),
        listed(PAYMENT_ID + 1, "finished", "ORDER-of-another-shop"),
        listed(PAYMENT_ID + 2, "waiting", "PGP-6271402111|-1003111266231"),
    ]));
    world
        .nowpayments
        .answer(PAYMENT_ID, Ok(SAMPLE_IPN.to_owned()));

    let report = world.run_after(0).await;

    assert_eq!(
        (report.discovered, report.due, report.recovered),
        (1, 1, 1),
        "{report:?}"
    );
    assert_eq!(world.store().payment_count(), 1);
    assert_eq!(world.watch().await.settled, Some(Settlement::Recovered));
    // Listed again next run: watched already, nothing more.
    let again = world.run_after(5).await;
    assert_eq!((again.discovered, again.recovered), (0, 0), "{again:?}");
}

#[tokio::test]
async fn a_refused_login_is_counted_and_the_watched_payments_are_still_checked() {
    let world = world();
    world.in_flight("waiting").await;
    *world.nowpayments.listed.lock().unwrap() =
        Some(Err(StatusError::Refused("HTTP 401: wrong password".into())));
    world
        .nowpayments
        .answer(PAYMENT_ID, Ok(SAMPLE_IPN.to_owned()));
    let report = world.run_after(21).await;
    assert_eq!((report.refused, report.recovered), (1, 1), "{report:?}");
}
