//! The chain on moto: the stages wired as in Lambda (DynamoDB and SQS on moto, Telegram
//! on the fake Bot API), with SQS consumed as the event source mapping does.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use fake_bot_api::FakeBotApi;
use telepay_core::access::{LifecycleWorker, Pacer, SubscriptionSweeper};
use telepay_core::chain::{ChainSettings, StageQueues, Stages};
use telepay_core::clock::ManualClock;
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN_SECRET};
use telepay_core::invite::{InviteSender, InviteSettings};
use telepay_core::processor::PaymentProcessor;
use telepay_core::signature::IpnSecret;
use telepay_core::webhook::PaymentWebhook;
use telepay_shared::batch::succeeded;
use telepay_shared::dynamodb::DynamoDbStore;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::sqs_event::sqs_batch;
use telepay_shared::telegram::{BotToken, TelegramBotApi};

use crate::moto::{DynamoDbRequests, MotoResources, moto, queue_with_dlq};

pub const BOT_TOKEN: &str = "424242:chain-test-token";

/// The three stages wired as in Lambda: DynamoDB and SQS on moto, Telegram on the fake.
pub struct Chain {
    pub aws: MotoResources,
    pub requests: DynamoDbRequests,
    pub fake: FakeBotApi,
    pub payout_queue_url: String,
    pub invite_queue_url: String,
    pub webhook: PaymentWebhook<DynamoDbStore, SqsQueue>,
    pub processor: PaymentProcessor<DynamoDbStore, SqsQueue, SqsQueue, TelegramBotApi>,
    pub invite_sender: InviteSender<DynamoDbStore, TelegramBotApi>,
    pub sweeper: SubscriptionSweeper<DynamoDbStore, SqsQueue>,
    pub lifecycle: LifecycleWorker<DynamoDbStore, TelegramBotApi>,
    pub lifecycle_queue_url: String,
    /// Real time, movable: a test jumps to a subscription's end.
    pub clock: Arc<ManualClock>,
    pub invite_queue: SqsQueue,
}

impl Chain {
    pub async fn new() -> Self {
        let aws = MotoResources::new().await;
        let requests = DynamoDbRequests::default();
        let counted = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&moto().await)
                .interceptor(requests.clone())
                .build(),
        );
        let store = DynamoDbStore::new(counted, &aws.payments_table, &aws.reviews_table)
            .with_subscriptions_table(&aws.subscriptions_table)
            .with_watches_table(&aws.watches_table);
        let (payout_queue_url, _) = queue_with_dlq(&aws.sqs, "payout", 5, 30).await;
        let (invite_queue_url, _) = queue_with_dlq(&aws.sqs, "invite", 5, 30).await;
        let (lifecycle_queue_url, _) = queue_with_dlq(&aws.sqs, "lifecycle", 5, 30).await;
        let clock = ManualClock::following_system();
        let fake = FakeBotApi::start(BOT_TOKEN).await;
        let telegram =
            TelegramBotApi::new(BotToken::new(BOT_TOKEN).unwrap(), Some(&fake.url())).unwrap();
        let settings = ChainSettings {
            invite: InviteSettings {
                call_timeout: Duration::from_secs(2),
                lease_grace: Duration::ZERO,
                ..InviteSettings::default()
            },
            clock: clock.clone(),
            ..ChainSettings::new(
                IpnSecret::new(SAMPLE_IPN_SECRET).unwrap(),
                ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
            )
        };
        let queues = StageQueues {
            processor: aws.queue(),
            invite: SqsQueue::new(aws.sqs.clone(), &invite_queue_url),
            payout: SqsQueue::new(aws.sqs.clone(), &payout_queue_url),
            lifecycle: SqsQueue::new(aws.sqs.clone(), &lifecycle_queue_url),
        };
        let stages = Stages::wire(settings, store, queues, telegram);
        Self {
            webhook: stages.webhook,
            processor: stages.processor,
            invite_sender: stages.invite_sender,
            sweeper: stages.sweeper,
            lifecycle: stages.lifecycle,
            lifecycle_queue_url,
            clock,
            invite_queue: SqsQueue::new(aws.sqs.clone(), &invite_queue_url),
            requests,
            fake,
            payout_queue_url,
            invite_queue_url,
            aws,
        }
    }

    /// Receives up to 10 messages as the event source mapping does, hiding them for
    /// `visibility_secs`.
    pub async fn receive(&self, queue_url: &str, visibility_secs: i32) -> Vec<SqsMessage> {
        let queue = SqsQueue::new(self.aws.sqs.clone(), queue_url);
        queue
            .receive_hidden_for(10, Duration::ZERO, Some(visibility_secs))
            .await
            .expect("receive from moto")
    }

    /// Deletes what the handler did not report failed, as the event source mapping does.
    pub async fn delete_succeeded(
        &self,
        queue_url: &str,
        batch: &[SqsMessage],
        response: &SqsBatchResponse,
    ) {
        let queue = SqsQueue::new(self.aws.sqs.clone(), queue_url);
        for message in succeeded(batch, response) {
            let receipt = message.receipt_handle.as_deref().unwrap_or_default();
            queue.delete(receipt).await.expect("delete from moto");
        }
    }

    /// Runs the processor over its queue until empty; each batch is handed over
    /// `deliveries` times (SQS delivers at least once).
    pub async fn run_processor(&self, deliveries: usize) {
        loop {
            let batch = self.receive(&self.aws.queue_url, 30).await;
            if batch.is_empty() {
                return;
            }
            let mut response = SqsBatchResponse::default();
            for _ in 0..deliveries {
                let event = sqs_batch(batch.clone(), Duration::from_secs(30));
                response = payment_processor::handle(&self.processor, event)
                    .await
                    .unwrap();
            }
            self.delete_succeeded(&self.aws.queue_url, &batch, &response)
                .await;
        }
    }

    /// One sweep, then the lifecycle consumer over its queue until empty, `deliveries`
    /// times per batch.
    pub async fn run_lifecycle(&self, deliveries: usize) {
        self.sweeper
            .sweep()
            .await
            .expect("the sweep reads the due index");
        let queue = SqsQueue::new(self.aws.sqs.clone(), &self.lifecycle_queue_url);
        loop {
            let batch = self.receive(&self.lifecycle_queue_url, 30).await;
            if batch.is_empty() {
                return;
            }
            let mut response = SqsBatchResponse::default();
            for _ in 0..deliveries {
                let event = sqs_batch(batch.clone(), Duration::from_secs(60));
                response = subscription_lifecycle::handle(
                    &self.lifecycle,
                    &Pacer::unlimited(),
                    &queue,
                    event,
                )
                .await
                .unwrap();
            }
            self.delete_succeeded(&self.lifecycle_queue_url, &batch, &response)
                .await;
        }
    }

    /// Runs the invite sender over its queue until empty, `deliveries` times per batch.
    pub async fn run_invite_sender(&self, deliveries: usize) {
        loop {
            let batch = self.receive(&self.invite_queue_url, 30).await;
            if batch.is_empty() {
                return;
            }
            let mut response = SqsBatchResponse::default();
            for _ in 0..deliveries {
                response = self.invoke_invite_sender(batch.clone()).await;
            }
            self.delete_succeeded(&self.invite_queue_url, &batch, &response)
                .await;
        }
    }

    /// The stored record of a payment that must exist.
    pub async fn stored(&self, payment_id: i64) -> telepay_core::payment::ProcessedPayment {
        use telepay_core::store::ports::*;
        let id = telepay_core::ipn::PaymentId::new(payment_id).unwrap();
        self.aws
            .store()
            .get_payment(id)
            .await
            .unwrap()
            .expect("the record")
    }

    pub async fn invoke_invite_sender(&self, batch: Vec<SqsMessage>) -> SqsBatchResponse {
        let event = sqs_batch(batch, Duration::from_secs(30));
        invite_sender::handle(&self.invite_sender, &self.invite_queue, event)
            .await
            .unwrap()
    }
}
