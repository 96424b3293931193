//! The SQL backends beyond the conformance suite: a seed database upgrades in place and
//! its rows follow the protocol, and a paid payment costs nine statements: six for the
//! payment, and for a first buyer's subscription its first version, one read of its live
//! link and the write that makes the new link live.

use std::time::Duration;

use fake_bot_api::FakeBotApi;
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{
    SAMPLE_CHANNEL_ID, SAMPLE_DIRECTORY, SAMPLE_IPN, SAMPLE_IPN_SECRET, SAMPLE_USER_ID,
};
use telepay_core::invite::{InviteSender, InviteSettings};
use telepay_core::ipn::PaymentId;
use telepay_core::processor::PaymentProcessor;
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::reconcile::Reconciler;
use telepay_core::signature::IpnSecret;
use telepay_core::store::ports::*;
use telepay_core::webhook::PaymentWebhook;
use telepay_integration_tests::{SEED_DDL, postgres_store, signed_ipn, sqlite_store};
use telepay_shared::sql::{PostgresStore, SqliteStore, StatementCounter};
use telepay_shared::sqs_event::{sqs_batch, sqs_message};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

const TOKEN: &str = "555:seed-test-token";

/// The seed's own inserts: flags left to their DEFAULT FALSE, set NULL, or set TRUE.
const SEED_ROWS: &str = "
    INSERT INTO processed_payments (payment_id, user_id, channel_id) VALUES (21, $1, $2);
    INSERT INTO processed_payments (payment_id, user_id, channel_id, gcwebhook1_processed, telegram_invite_sent)
        VALUES (22, $1, $2, NULL, NULL);
    INSERT INTO processed_payments (payment_id, user_id, channel_id, gcwebhook1_processed, gcwebhook1_processed_at)
        VALUES (23, $1, $2, TRUE, CURRENT_TIMESTAMP);
    INSERT INTO processed_payments (payment_id, user_id, channel_id, gcwebhook1_processed, telegram_invite_sent,
        telegram_invite_sent_at, telegram_invite_link)
        VALUES (24, $1, $2, TRUE, TRUE, CURRENT_TIMESTAMP, 'https://t.me/+seed-link');";

async fn invite_sender<S: PaymentStore>(
    store: S,
    fake: &FakeBotApi,
) -> InviteSender<S, TelegramBotApi> {
    let telegram = TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap();
    InviteSender::new(
        store,
        telegram,
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        InviteSettings::default(),
    )
}

async fn deliver_invites<S: PaymentStore>(
    sender: &InviteSender<S, TelegramBotApi>,
    payment_ids: &[i64],
) -> usize {
    let records = payment_ids
        .iter()
        .map(|id| {
            let body = format!(r#"{{"v":1,"payment_id":{id},"user_id":{SAMPLE_USER_ID},"channel_id":{SAMPLE_CHANNEL_ID}}}"#);
            sqs_message(format!("m{id}"), format!("r{id}"), body, 1)
        })
        .collect();
    let event = sqs_batch(records, Duration::from_secs(60));
    let response = invite_sender::handle(sender, &MemoryQueue::new(), event)
        .await
        .unwrap();
    response.batch_item_failures.len()
}

macro_rules! seed_upgrade_test {
    ($name:ident, $store:expr) => {
        /// GIVEN a database created by the seed's DDL and filled as the seed filled it,
        /// WHEN the migrations run, THEN nothing is lost, rows not yet sent get exactly
        /// one invite each, and a row the seed marked sent is never sent again.
        #[tokio::test]
        async fn $name() {
            let store = $store.await;
            sqlx::raw_sql(SEED_DDL)
                .execute(store.pool())
                .await
                .expect("the seed DDL applies");
            for statement in SEED_ROWS.split(';').filter(|s| !s.trim().is_empty()) {
                sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                    .bind(SAMPLE_USER_ID)
                    .bind(SAMPLE_CHANNEL_ID)
                    .execute(store.pool())
                    .await
                    .expect("a seed insert");
            }
            store
                .migrate()
                .await
                .expect("the later migrations apply over the seed table");
            store
                .migrate()
                .await
                .expect("and running them again changes nothing");

            let seed_row = store
                .get_payment(PaymentId::new(24).unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                seed_row.telegram_invite_link.as_deref(),
                Some("https://t.me/+seed-link")
            );

            let fake = FakeBotApi::start(TOKEN).await;
            let sender = invite_sender(store, &fake).await;
            assert_eq!(deliver_invites(&sender, &[21, 22, 23, 24]).await, 0);
            assert_eq!(
                deliver_invites(&sender, &[21, 22, 23, 24]).await,
                0,
                "redelivered"
            );

            let sent = fake.delivered("sendMessage");
            assert_eq!(
                sent.len(),
                3,
                "one invite each for 21, 22 and 23; none for 24"
            );
            assert_eq!(fake.delivered("createChatInviteLink").len(), 3);
            for id in [21, 22, 23, 24] {
                let record = sender
                    .store
                    .get_payment(PaymentId::new(id).unwrap())
                    .await
                    .unwrap()
                    .unwrap();
                assert!(record.telegram_invite_sent, "payment {id}");
            }
        }
    };
}

seed_upgrade_test!(
    a_seed_postgres_database_upgrades_in_place,
    postgres_store(false)
);
seed_upgrade_test!(
    a_seed_sqlite_database_upgrades_in_place,
    sqlite_store(false)
);

/// One finished IPN through all three stages on a SQL store: the statements it costs.
async fn statements_per_paid_payment<S: PaymentStore + Clone>(
    store: S,
    counter: &StatementCounter,
) -> u64 {
    let processor_queue = MemoryQueue::new();
    let webhook = PaymentWebhook::new(
        IpnSecret::new(SAMPLE_IPN_SECRET).unwrap(),
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        store.clone(),
        processor_queue,
    );
    let response = np_webhook::handle(&webhook, signed_ipn(SAMPLE_IPN))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let processor = PaymentProcessor::new(store.clone(), MemoryQueue::new(), MemoryQueue::new());
    let processor_message = webhook.processor_queue.bodies().remove(0);
    let batch = sqs_batch(
        vec![sqs_message("p1", "r1", processor_message, 1)],
        Duration::from_secs(30),
    );
    assert!(
        payment_processor::handle(&processor, batch)
            .await
            .unwrap()
            .batch_item_failures
            .is_empty()
    );

    let fake = FakeBotApi::start(TOKEN).await;
    let sender = invite_sender(store.clone(), &fake).await;
    let invite = processor.invite_queue.bodies().remove(0);
    let batch = sqs_batch(
        vec![sqs_message("i1", "r2", invite, 1)],
        Duration::from_secs(60),
    );
    let response = invite_sender::handle(&sender, &MemoryQueue::new(), batch)
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(fake.delivered("sendMessage").len(), 1);
    counter.get()
}

#[tokio::test]
async fn a_paid_payment_costs_nine_postgres_statements_one_a_read() {
    let store: PostgresStore = postgres_store(true).await;
    let counter = store.statements().clone();
    assert_eq!(statements_per_paid_payment(store, &counter).await, 9);
}

#[tokio::test]
async fn a_paid_payment_costs_nine_sqlite_statements_one_a_read() {
    let store: SqliteStore = sqlite_store(true).await;
    let counter = store.statements().clone();
    assert_eq!(statements_per_paid_payment(store, &counter).await, 9);
}

/// The seed's rows as written by hand or by the legacy order form: 31 with the channel's
/// minus sign lost, 32 with a purchase this version cannot read (negative days), 33 a
/// plain stuck one. All processed, none sent, all long overdue.
const ROWS_AN_OPERATOR_LEFT: &str = "
    INSERT INTO processed_payments (payment_id, user_id, channel_id, gcwebhook1_processed,
        created_at, updated_at)
        VALUES (31, $1, $2, TRUE, '2020-01-01 00:00:00', '2020-01-01 00:00:00');
    INSERT INTO processed_payments (payment_id, user_id, channel_id, gcwebhook1_processed,
        created_at, updated_at, private_channel_id, subscription_days, price_amount, price_currency)
        VALUES (32, $1, $3, TRUE, '2020-01-01 00:00:00', '2020-01-01 00:00:00', $3, -1, 3.21, 'usd');
    INSERT INTO processed_payments (payment_id, user_id, channel_id, gcwebhook1_processed,
        created_at, updated_at)
        VALUES (33, $1, $3, TRUE, '2020-01-01 00:00:00', '2020-01-01 00:00:00');";

macro_rules! unreadable_row_test {
    ($name:ident, $store:expr) => {
        /// GIVEN one row this version cannot read among stuck payments, and a seed row
        /// whose channel_id lost its minus sign,
        /// WHEN the reconciler runs and the invites are delivered,
        /// THEN the unreadable row is reported (never stopping the run) and ends
        /// `invite_failed` with `unreadable: <why>`, and every other payment gets its invite.
        #[tokio::test]
        async fn $name() {
            let store = $store.await;
            for statement in ROWS_AN_OPERATOR_LEFT
                .split(';')
                .filter(|s| !s.trim().is_empty())
            {
                sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                    .bind(SAMPLE_USER_ID)
                    .bind(-SAMPLE_CHANNEL_ID)
                    .bind(SAMPLE_CHANNEL_ID)
                    .execute(store.pool())
                    .await
                    .expect("an operator's insert");
            }
            let legacy = store
                .get_payment(PaymentId::new(31).unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                legacy.channel_id.get(),
                SAMPLE_CHANNEL_ID,
                "read as the legacy order form reads it"
            );

            let reconciler = Reconciler::new(
                store.clone(),
                MemoryQueue::new(),
                MemoryQueue::new(),
                Duration::from_secs(60),
                100,
            );
            let report = reconciler.reconcile().await.unwrap();
            assert_eq!(report.unreadable, 1, "{report:?}");
            assert_eq!(report.requeued_invites, 2, "{report:?}");

            let fake = FakeBotApi::start(TOKEN).await;
            let sender = invite_sender(store.clone(), &fake).await;
            assert_eq!(
                deliver_invites(&sender, &[31, 32, 33]).await,
                0,
                "none left to loop into the DLQ"
            );
            assert_eq!(fake.delivered("sendMessage").len(), 2, "31 and 33");
            let reason: Option<String> = sqlx::query_scalar(
                "SELECT invite_failure_reason FROM processed_payments WHERE payment_id = 32",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            assert!(
                reason.as_deref().unwrap_or_default().starts_with("unreadable: "),
                "{reason:?}"
            );
            let pending = store.pending_payments(chrono::Utc::now(), 10).await.unwrap();
            assert!(pending.is_empty(), "{pending:?}");
            let failed = store.failed_invites(10).await.unwrap();
            assert!(
                matches!(failed.as_slice(), [Err(row)] if row.payment_id == 32),
                "{failed:?}"
            );
        }
    };
}

unreadable_row_test!(
    an_unreadable_postgres_row_is_reported_and_ends_invite_failed,
    postgres_store(true)
);
unreadable_row_test!(
    an_unreadable_sqlite_row_is_reported_and_ends_invite_failed,
    sqlite_store(true)
);
