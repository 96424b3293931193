//! The chain's stages wired once, around one store, one kind of queue and one Telegram
//! adapter: what the local run, the integration harness and the chaos run all build.
//! The payment chain's six stages are [`Stages`]; the bot's two (the webhook's front door
//! and the join-request re-check) are [`BotStages`], wired beside them where a bot is
//! served. (In Lambda each function's `main` builds only its own stage, with the same
//! constructor.)
//!
//! Tests: what wires it (`tests/src/harness.rs`, the chaos run, `local/tests/local_run.rs`).

use std::time::Duration;

use crate::access::{LifecycleWorker, SubscriptionSweeper};
use crate::bot::{AdmissionStage, BotFrontDoor, BotSetup, FrontDoorStore, InvoiceApi};
use crate::catalog::LiveCatalog;
use crate::clock::{SharedClock, system_clock};
use crate::invite::{InviteSender, InviteSettings};
use crate::processor::PaymentProcessor;
use crate::queue::{DelayedQueue, MessageQueue, TaskQueue};
use crate::reconcile::Reconciler;
use crate::signature::IpnSecret;
use crate::store::{HeldNoticeStore, PaymentStore};
use crate::subscription::{LifecycleSettings, LifecycleTexts};
use crate::telegram::{
    BotConversation, MemberRemover, StarsLedger, StarsPayments, TelegramInviter,
};
use crate::webhook::PaymentWebhook;

/// The queues between the stages.
#[derive(Debug, Clone)]
pub struct StageQueues<Q> {
    pub processor: Q,
    pub invite: Q,
    pub payout: Q,
    /// Subscription reminders, removals and end notices.
    pub lifecycle: Q,
}

/// What the stages are configured with.
#[derive(Debug, Clone)]
pub struct ChainSettings {
    pub ipn_secret: IpnSecret,
    /// Channels, tiers and the bot's texts, shared by every stage.
    pub catalog: LiveCatalog,
    pub invite: InviteSettings,
    /// The reconciler's `stuck_after` and batch.
    pub stuck_after: Duration,
    pub reconcile_batch: usize,
    /// Reminder points and grace, shared by the processor, the sweeper and the consumer.
    pub lifecycle: LifecycleSettings,
    pub lifecycle_texts: LifecycleTexts,
    pub sweep_batch: usize,
    pub clock: SharedClock,
}

impl ChainSettings {
    /// The defaults of the deployed functions.
    pub fn new(ipn_secret: IpnSecret, catalog: impl Into<LiveCatalog>) -> Self {
        Self {
            ipn_secret,
            catalog: catalog.into(),
            invite: InviteSettings::default(),
            stuck_after: Duration::from_secs(15 * 60),
            reconcile_batch: 500,
            lifecycle: LifecycleSettings::default(),
            lifecycle_texts: LifecycleTexts::default(),
            sweep_batch: 1000,
            clock: system_clock(),
        }
    }
}

/// Every stage of the chain.
pub struct Stages<S, Q, T> {
    pub webhook: PaymentWebhook<S, Q>,
    pub processor: PaymentProcessor<S, Q, Q, T>,
    pub invite_sender: InviteSender<S, T>,
    pub reconciler: Reconciler<S, Q, Q>,
    pub sweeper: SubscriptionSweeper<S, Q>,
    pub lifecycle: LifecycleWorker<S, T>,
}

impl<S, Q, T> Stages<S, Q, T>
where
    S: PaymentStore + HeldNoticeStore + Clone,
    Q: MessageQueue + TaskQueue + Clone,
    T: TelegramInviter + MemberRemover + StarsLedger + Clone,
{
    pub fn wire(settings: ChainSettings, store: S, queues: StageQueues<Q>, telegram: T) -> Self {
        let clock = settings.clock;
        Self {
            webhook: PaymentWebhook::new(
                settings.ipn_secret.clone(),
                settings.catalog.clone(),
                store.clone(),
                queues.processor.clone(),
            )
            .with_lifecycle(settings.lifecycle.clone())
            .with_notice_queue(queues.invite.clone())
            .with_clock(clock.clone()),
            processor: PaymentProcessor::new(store.clone(), queues.payout, queues.invite.clone())
                .with_ipn_secret(settings.ipn_secret.clone())
                .with_lifecycle(settings.lifecycle.clone())
                .with_clock(clock.clone())
                .with_stars_ledger(telegram.clone()),
            sweeper: SubscriptionSweeper::new(
                store.clone(),
                queues.lifecycle,
                settings.lifecycle.clone(),
                settings.sweep_batch,
            )
            .with_clock(clock.clone()),
            lifecycle: LifecycleWorker::new(
                store.clone(),
                telegram.clone(),
                settings.catalog.clone(),
                settings.lifecycle.clone(),
                settings.lifecycle_texts,
            )
            .with_clock(clock.clone()),
            reconciler: Reconciler::new(
                store.clone(),
                queues.processor,
                queues.invite,
                settings.stuck_after,
                settings.reconcile_batch,
            )
            .with_clock(clock.clone()),
            invite_sender: InviteSender::new(store, telegram, settings.catalog, settings.invite)
                .with_lifecycle(settings.lifecycle)
                .with_clock(clock),
        }
    }
}

/// The bot's two stages: the webhook's front door and the join-request re-check.
pub struct BotStages<S, T, I, Q> {
    pub front_door: BotFrontDoor<S, T, I, Q, Q>,
    pub admission: AdmissionStage<S, T, Q>,
}

impl<S, T, I, Q> BotStages<S, T, I, Q>
where
    S: FrontDoorStore + Clone,
    T: BotConversation + TelegramInviter + MemberRemover + StarsPayments + Clone,
    I: InvoiceApi,
    Q: DelayedQueue + MessageQueue + Clone,
{
    /// `rechecks`: the delayed join-request queue; `invites`: the invite queue (for
    /// /status's re-issued invite); `processor`: the processor queue (Stars payments).
    #[allow(clippy::too_many_arguments)]
    pub fn wire(
        setup: BotSetup,
        store: S,
        telegram: T,
        invoices: I,
        rechecks: Q,
        invites: Q,
        processor: Q,
        clock: SharedClock,
    ) -> Self {
        let admission = AdmissionStage::new(
            store.clone(),
            telegram.clone(),
            rechecks.clone(),
            setup.catalog.clone(),
            setup.settings.clone(),
        )
        .with_timing(setup.timing)
        .with_clock(clock.clone());
        let front_door = BotFrontDoor::new(setup, store, telegram, invoices, rechecks, invites)
            .with_processor_queue(processor)
            .with_clock(clock);
        Self {
            front_door,
            admission,
        }
    }
}
