//! The store backend chosen at run time: DynamoDB (the Lambda default), Postgres, or
//! SQLite (the local run). One enum implementing every port, so handlers stay generic
//! over the port they need; which backend comes from [`StoreConfig`].

use aws_types::SdkConfig;
use chrono::{DateTime, Utc};
use telepay_core::catalog::LiveCatalog;
use telepay_core::catalog::live::CatalogLoadError;
use telepay_core::ipn::PaymentId;
use telepay_core::metrics::{self, latency};
use telepay_core::order::UserId;
use telepay_core::payment::{PaymentReview, ProcessedPayment, ReviewDecision};
use telepay_core::store::{
    BotStore, ClaimOutcome, Decided, Fenced, Held, HeldNoticeStore, IngressStore, InviteClaim,
    InviteCompletion, InviteLease, InviteStore, Listed, ListedSubscription, NoticeClaim,
    NoticeFound, NoticeState, OnceClaim, OnceFound, OnceKey, OnceRecord, OperatorStore,
    ProcessedMark, ProcessingStart, ProcessorStore, ReconcilerStore, Recorded, Reopened,
    Resolution, Resolved, StoreError, SubscriptionFilter, SubscriptionStore,
    UnreadableSubscription, Versioned,
};
use telepay_core::store::{CatalogApplied, CatalogStore, StoredCatalog};
use telepay_core::store::{
    NewWatch, PaymentWatch, PaymentWatchStore, Settlement, WatchClaim, WatchFound, Watched,
};
use telepay_core::store::{
    OpenPurchase, PartAdded, PartsSettled, PartsTally, PurchaseOpened, PurchasePart,
    PurchasePartsStore,
};
use telepay_core::subscription::{Subscription, SubscriptionKey};

use crate::config::StoreConfig;
#[cfg(feature = "dynamodb")]
use crate::dynamodb::DynamoDbStore;
#[cfg(feature = "postgres")]
use crate::sql::PostgresStore;
#[cfg(feature = "sqlite")]
use crate::sql::SqliteStore;

#[cfg(feature = "postgres")]
/// Postgres statements are cut after this: a stuck query fails the invocation, which is
/// retried, instead of running into the Lambda timeout.
const STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(Debug, Clone)]
pub enum AnyStore {
    #[cfg(feature = "dynamodb")]
    DynamoDb(DynamoDbStore),
    #[cfg(feature = "postgres")]
    Postgres(PostgresStore),
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteStore),
}

impl AnyStore {
    /// Connects once (cold start). `sdk` is only used for DynamoDB.
    #[cfg_attr(not(feature = "dynamodb"), allow(unused_variables))]
    pub async fn connect(config: &StoreConfig, sdk: &SdkConfig) -> Result<Self, StoreError> {
        Ok(match config {
            #[cfg(feature = "dynamodb")]
            StoreConfig::DynamoDb(tables) => {
                let store = DynamoDbStore::new(
                    aws_sdk_dynamodb::Client::new(sdk),
                    &tables.payments,
                    &tables.reviews,
                );
                let store = match &tables.subscriptions {
                    Some(table) => store.with_subscriptions_table(table),
                    None => store,
                };
                let store = match &tables.bot {
                    Some(table) => store.with_bot_table(table),
                    None => store,
                };
                let store = match &tables.catalog {
                    Some(table) => store.with_catalog_table(table),
                    None => store,
                };
                Self::DynamoDb(match &tables.watches {
                    Some(table) => store.with_watches_table(table),
                    None => store,
                })
            }
            #[cfg(feature = "postgres")]
            StoreConfig::Postgres(url) => {
                Self::Postgres(PostgresStore::connect(url, STATEMENT_TIMEOUT).await?)
            }
            #[cfg(feature = "sqlite")]
            StoreConfig::Sqlite(path) => Self::Sqlite(SqliteStore::open(path).await?),
            #[allow(unreachable_patterns)]
            other => return Err(not_built(other)),
        })
    }

    /// Brings the schema up to date: the SQL migrations, or the DynamoDB tables.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            #[cfg(feature = "dynamodb")]
            Self::DynamoDb(store) => store.create_tables_if_missing().await,
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => store.migrate().await,
            #[cfg(feature = "sqlite")]
            Self::Sqlite(store) => store.migrate().await,
        }
    }
}

/// A backend this build was made without: the cold start stops and says how to build it.
#[allow(dead_code)]
fn not_built(config: &StoreConfig) -> StoreError {
    let backend = match config {
        StoreConfig::DynamoDb(_) => "dynamodb",
        StoreConfig::Postgres(_) => "postgres",
        StoreConfig::Sqlite(_) => "sqlite",
    };
    StoreError::Unavailable(format!(
        "TELEPAY_STORE_BACKEND={backend}, but this build has no {backend} backend: build it with the cargo feature {backend} (make build BACKENDS={backend})"
    ))
}

macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            #[cfg(feature = "dynamodb")]
            AnyStore::DynamoDb($store) => $call,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($store) => $call,
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite($store) => $call,
        }
    };
}

/// A conditional write, timed: the dashboard's store latency, per operation.
macro_rules! timed_write {
    ($operation:expr, $self:ident, $store:ident => $call:expr) => {{
        let started = std::time::Instant::now();
        let written = delegate!($self, $store => $call);
        metrics::latency(latency::STORE_WRITE, $operation, started.elapsed());
        written
    }};
}

impl IngressStore for AnyStore {
    async fn record_accepted(&self, record: &ProcessedPayment) -> Result<Recorded, StoreError> {
        timed_write!("record_accepted", self, s => s.record_accepted(record).await)
    }

    async fn hold_for_review(&self, review: &PaymentReview) -> Result<Held, StoreError> {
        timed_write!("hold_for_review", self, s => s.hold_for_review(review).await)
    }
}

impl ProcessorStore for AnyStore {
    async fn begin_processing(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<ProcessingStart, StoreError> {
        timed_write!("begin_processing", self, s => s.begin_processing(payment_id, now).await)
    }

    async fn mark_processed(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<ProcessedMark, StoreError> {
        timed_write!("mark_processed", self, s => s.mark_processed(payment_id, now).await)
    }
}

impl InviteStore for AnyStore {
    async fn claim_invite(&self, claim: &InviteClaim) -> Result<ClaimOutcome, StoreError> {
        timed_write!("claim_invite", self, s => s.claim_invite(claim).await)
    }

    async fn persist_invite_link(
        &self,
        lease: &InviteLease,
        link: &str,
        link_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        timed_write!("persist_invite_link", self, s => s.persist_invite_link(lease, link, link_expires_at, now).await)
    }

    async fn complete_invite(
        &self,
        lease: &InviteLease,
        how: InviteCompletion,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        timed_write!(how.operation(), self, s => s.complete_invite(lease, how, now).await)
    }

    async fn release_invite(
        &self,
        lease: &InviteLease,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        timed_write!("release_invite", self, s => s.release_invite(lease, now).await)
    }

    async fn fail_invite(
        &self,
        lease: &InviteLease,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        timed_write!("fail_invite", self, s => s.fail_invite(lease, reason, now).await)
    }
}

impl ReconcilerStore for AnyStore {
    async fn needs_operator(&self, limit: usize) -> Result<Vec<Listed>, StoreError> {
        delegate!(self, s => s.needs_operator(limit).await)
    }
    async fn mark_requeued(
        &self,
        payment_id: PaymentId,
        quiet_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        timed_write!("mark_requeued", self, s => s.mark_requeued(payment_id, quiet_since, now).await)
    }

    async fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        delegate!(self, s => s.pending_payments(created_before, limit).await)
    }
}

impl OperatorStore for AnyStore {
    async fn get_payment(
        &self,
        payment_id: PaymentId,
    ) -> Result<Option<ProcessedPayment>, StoreError> {
        delegate!(self, s => s.get_payment(payment_id).await)
    }

    async fn get_review(&self, payment_id: PaymentId) -> Result<Option<PaymentReview>, StoreError> {
        delegate!(self, s => s.get_review(payment_id).await)
    }

    async fn failed_invites(&self, limit: usize) -> Result<Vec<Listed>, StoreError> {
        delegate!(self, s => s.failed_invites(limit).await)
    }

    async fn list_reviews(&self, limit: usize) -> Result<Vec<PaymentReview>, StoreError> {
        delegate!(self, s => s.list_reviews(limit).await)
    }

    async fn decide_review(
        &self,
        payment_id: PaymentId,
        decision: ReviewDecision,
        now: DateTime<Utc>,
    ) -> Result<Decided, StoreError> {
        timed_write!("decide_review", self, s => s.decide_review(payment_id, decision, now).await)
    }

    async fn resolve_needs_operator(
        &self,
        payment_id: PaymentId,
        resolution: &Resolution,
        now: DateTime<Utc>,
    ) -> Result<Resolved, StoreError> {
        timed_write!("resolve_needs_operator", self, s => s.resolve_needs_operator(payment_id, resolution, now).await)
    }
    async fn reopen_invite(
        &self,
        payment_id: PaymentId,
        link: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Reopened, StoreError> {
        timed_write!("reopen_invite", self, s => s.reopen_invite(payment_id, link, now).await)
    }
}

impl SubscriptionStore for AnyStore {
    async fn get_subscription(
        &self,
        key: SubscriptionKey,
    ) -> Result<Option<Subscription>, StoreError> {
        delegate!(self, s => s.get_subscription(key).await)
    }

    async fn write_subscription(&self, next: &Subscription) -> Result<Versioned, StoreError> {
        timed_write!("write_subscription", self, s => s.write_subscription(next).await)
    }

    async fn due_subscriptions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        delegate!(self, s => s.due_subscriptions(now, limit).await)
    }

    async fn list_subscriptions(
        &self,
        filter: SubscriptionFilter,
        limit: usize,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        delegate!(self, s => s.list_subscriptions(filter, limit).await)
    }

    async fn park_unreadable(
        &self,
        row: &UnreadableSubscription,
        until: DateTime<Utc>,
    ) -> Result<Versioned, StoreError> {
        timed_write!("park_unreadable", self, s => s.park_unreadable(row, until).await)
    }
}

impl BotStore for AnyStore {
    async fn claim_once(&self, key: OnceKey, claim: &OnceClaim) -> Result<OnceFound, StoreError> {
        timed_write!("claim_once", self, s => s.claim_once(key, claim).await)
    }

    async fn finish_once(
        &self,
        key: OnceKey,
        token: &str,
        result: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        timed_write!("finish_once", self, s => s.finish_once(key, token, result, now).await)
    }

    async fn release_once(&self, key: OnceKey, token: &str) -> Result<Fenced, StoreError> {
        timed_write!("release_once", self, s => s.release_once(key, token).await)
    }

    async fn read_once(&self, key: OnceKey) -> Result<Option<OnceRecord>, StoreError> {
        delegate!(self, s => s.read_once(key).await)
    }

    async fn forget_expired(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        delegate!(self, s => s.forget_expired(now, limit).await)
    }
}

impl HeldNoticeStore for AnyStore {
    async fn claim_notice(&self, claim: &NoticeClaim) -> Result<NoticeFound, StoreError> {
        timed_write!("claim_notice", self, s => s.claim_notice(claim).await)
    }

    async fn finish_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
        told: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        timed_write!("finish_notice", self, s => s.finish_notice(payment_id, token, told, now).await)
    }

    async fn release_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
    ) -> Result<Fenced, StoreError> {
        timed_write!("release_notice", self, s => s.release_notice(payment_id, token).await)
    }

    async fn untold_holds(
        &self,
        held_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentId>, StoreError> {
        delegate!(self, s => s.untold_holds(held_before, limit).await)
    }

    async fn undecided_holds_of(
        &self,
        user_id: UserId,
        limit: usize,
    ) -> Result<Vec<PaymentReview>, StoreError> {
        delegate!(self, s => s.undecided_holds_of(user_id, limit).await)
    }

    async fn notice_state(&self, payment_id: PaymentId) -> Result<Option<NoticeState>, StoreError> {
        delegate!(self, s => s.notice_state(payment_id).await)
    }
}

impl PurchasePartsStore for AnyStore {
    async fn open_purchase(&self, open: &OpenPurchase) -> Result<PurchaseOpened, StoreError> {
        timed_write!("open_purchase", self, s => s.open_purchase(open).await)
    }

    async fn add_part(
        &self,
        purchase_id: PaymentId,
        part: &PurchasePart,
    ) -> Result<PartAdded, StoreError> {
        timed_write!("add_part", self, s => s.add_part(purchase_id, part).await)
    }

    async fn settle_purchase(
        &self,
        purchase_id: PaymentId,
        by: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<PartsSettled, StoreError> {
        timed_write!("settle_purchase", self, s => s.settle_purchase(purchase_id, by, now).await)
    }

    async fn settle_part_hold(
        &self,
        part: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        timed_write!("settle_part_hold", self, s => s.settle_part_hold(part, now).await)
    }

    async fn purchase_of(&self, purchase_id: PaymentId) -> Result<Option<PartsTally>, StoreError> {
        delegate!(self, s => s.purchase_of(purchase_id).await)
    }

    async fn open_purchases_of(
        &self,
        user_id: i64,
        limit: usize,
    ) -> Result<Vec<PartsTally>, StoreError> {
        delegate!(self, s => s.open_purchases_of(user_id, limit).await)
    }

    async fn stale_purchases(
        &self,
        opened_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PartsTally>, StoreError> {
        delegate!(self, s => s.stale_purchases(opened_before, limit).await)
    }

    async fn mark_owner_told(
        &self,
        purchase_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        timed_write!("mark_owner_told", self, s => s.mark_owner_told(purchase_id, now).await)
    }
}

impl PaymentWatchStore for AnyStore {
    async fn watch_payment(&self, watch: &NewWatch) -> Result<Watched, StoreError> {
        timed_write!("watch_payment", self, s => s.watch_payment(watch).await)
    }

    async fn due_watches(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        delegate!(self, s => s.due_watches(now, limit).await)
    }

    async fn claim_watch(&self, claim: &WatchClaim) -> Result<WatchFound, StoreError> {
        timed_write!("claim_watch", self, s => s.claim_watch(claim).await)
    }

    async fn postpone_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        last_status: &str,
        next_check_at: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        timed_write!("postpone_watch", self, s => s.postpone_watch(payment_id, token, last_status, next_check_at).await)
    }

    async fn settle_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        settlement: Settlement,
        last_status: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        timed_write!("settle_watch", self, s => s.settle_watch(payment_id, token, settlement, last_status, now).await)
    }

    async fn watch_of(&self, payment_id: PaymentId) -> Result<Option<PaymentWatch>, StoreError> {
        delegate!(self, s => s.watch_of(payment_id).await)
    }

    async fn under_way_of(
        &self,
        user_id: i64,
        limit: usize,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        delegate!(self, s => s.under_way_of(user_id, limit).await)
    }
}

impl CatalogStore for AnyStore {
    async fn latest_catalog(&self) -> Result<Option<StoredCatalog>, StoreError> {
        delegate!(self, s => s.latest_catalog().await)
    }

    async fn catalog_version(&self, version: u32) -> Result<Option<StoredCatalog>, StoreError> {
        delegate!(self, s => s.catalog_version(version).await)
    }

    async fn apply_catalog(&self, catalog: &StoredCatalog) -> Result<CatalogApplied, StoreError> {
        timed_write!("apply_catalog", self, s => s.apply_catalog(catalog).await)
    }

    async fn catalog_history(&self, limit: usize) -> Result<Vec<StoredCatalog>, StoreError> {
        delegate!(self, s => s.catalog_history(limit).await)
    }
}

impl telepay_core::store::UpdateOffsetStore for AnyStore {
    async fn update_offset(&self) -> Result<Option<i64>, StoreError> {
        delegate!(self, s => s.update_offset().await)
    }

    async fn advance_update_offset(
        &self,
        seen: Option<i64>,
        next: i64,
    ) -> Result<telepay_core::store::OffsetAdvance, StoreError> {
        timed_write!("advance_update_offset", self, s => s.advance_update_offset(seen, next).await)
    }
}

impl telepay_core::store::RateBudgetStore for AnyStore {
    async fn spend_budget(
        &self,
        key: telepay_core::store::BudgetKey,
        window: telepay_core::store::BudgetWindow,
        limit: u32,
    ) -> Result<telepay_core::store::BudgetSpend, StoreError> {
        timed_write!("spend_budget", self, s => s.spend_budget(key, window, limit).await)
    }
}

impl AnyStore {
    /// Whether this store keeps the catalog: the SQL backends always (their migrations
    /// made the table), DynamoDB when given `TELEPAY_CATALOG_TABLE`.
    pub fn holds_catalog(&self) -> bool {
        match self {
            #[cfg(feature = "dynamodb")]
            Self::DynamoDb(store) => store.holds_catalog(),
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => true,
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => true,
        }
    }

    /// The catalog a function works on, read again as it changes ([`LiveCatalog`]): the
    /// store's newest version, else `seed` (the environment's directory: a local run),
    /// else the cold start stops, saying what to do.
    pub async fn live_catalog(
        &self,
        refresh: std::time::Duration,
        seed: Option<telepay_core::catalog::Catalog>,
    ) -> Result<LiveCatalog, CatalogLoadError> {
        if !self.holds_catalog() {
            return seed.map(LiveCatalog::fixed).ok_or_else(|| {
                CatalogLoadError::Unreadable(
                    "TELEPAY_CATALOG_TABLE is not set (nor TELEPAY_CHANNEL_DIRECTORY)".into(),
                )
            });
        }
        LiveCatalog::load(std::sync::Arc::new(self.clone()), refresh, seed).await
    }
}
