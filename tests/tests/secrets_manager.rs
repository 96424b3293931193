//! The cold-start secret read against Secrets Manager on moto: one request for all of a
//! function's secrets, the template's `<VARIABLE>_SECRET_ARN` wins over a plain variable,
//! a secret that cannot be read stops the cold start naming the variable (never a value),
//! and a local run without ARNs reads the plain variables without touching Secrets
//! Manager.

use std::time::Instant;

use telepay_integration_tests::{WireRequests, moto, refused_endpoint, sdk_at, unique};
use telepay_shared::config::{Environment, InviteSenderConfig, WebhookConfig};
use telepay_shared::secrets::read_secrets;

async fn secret(sdk: &aws_types::SdkConfig, value: &str) -> String {
    named_secret(sdk, &unique("telepay-secret"), value).await
}

async fn named_secret(sdk: &aws_types::SdkConfig, name: &str, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("moto creates the secret")
        .arn
        .expect("an ARN")
}

/// The owner puts a new value into the secret (`PutSecretValue`).
async fn rotate(sdk: &aws_types::SdkConfig, arn: &str, value: &str) {
    aws_sdk_secretsmanager::Client::new(sdk)
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value)
        .send()
        .await
        .expect("moto stores the new value");
}

/// What every function's environment also holds.
fn with_rest(vars: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    let mut all = vec![
        ("TELEPAY_PAYMENTS_TABLE", "p".to_owned()),
        ("TELEPAY_REVIEWS_TABLE", "r".to_owned()),
        ("TELEPAY_SUBSCRIPTIONS_TABLE", "s".to_owned()),
        ("TELEPAY_WATCHES_TABLE", "w".to_owned()),
        (
            "TELEPAY_PROCESSOR_QUEUE_URL",
            "http://q/processor".to_owned(),
        ),
        ("TELEPAY_INVITE_QUEUE_URL", "http://q/invite".to_owned()),
        (
            "TELEPAY_CHANNEL_DIRECTORY",
            telepay_core::fixtures::SAMPLE_DIRECTORY.to_owned(),
        ),
    ];
    all.extend(vars);
    all
}

struct Vars(Vec<(&'static str, String)>);

impl Environment for Vars {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

#[tokio::test]
async fn the_functions_read_their_secrets_from_secrets_manager_in_one_request_at_cold_start() {
    let (sdk, requests) = WireRequests::around(&moto().await);
    let ipn = secret(&sdk, "ipn-from-secrets-manager").await;
    let token = secret(&sdk, "4242:token-from-secrets-manager").await;
    let hook = secret(&sdk, "hook-secret-from-secrets-manager").await;
    let env = Vars(with_rest(vec![
        ("TELEPAY_IPN_SECRET_ARN", ipn),
        ("TELEGRAM_BOT_TOKEN_SECRET_ARN", token),
        ("TELEPAY_BOT_WEBHOOK_SECRET_ARN", hook),
        // A stale plain value: the secret wins.
        ("TELEPAY_IPN_SECRET", "plain-value-must-lose".to_owned()),
    ]));

    let before = requests.operations().len();
    let started = Instant::now();
    let env = read_secrets(env, &sdk).await.unwrap();
    // The cost a cold start pays for three secrets, on moto.
    println!("secret read: 3 secrets in {:?}", started.elapsed());
    assert_eq!(
        requests.operations()[before..],
        ["BatchGetSecretValue"],
        "a cold start waits for one round trip, however many secrets it reads"
    );

    assert_values(
        &env,
        [
            ("TELEPAY_IPN_SECRET", "ipn-from-secrets-manager"),
            (
                "TELEPAY_BOT_WEBHOOK_SECRET",
                "hook-secret-from-secrets-manager",
            ),
        ],
    );
    let webhook = WebhookConfig::from_env(&env).unwrap();
    let signed = webhook.ipn_secret.sign(b"{}");
    let expected = telepay_core::signature::IpnSecret::new("ipn-from-secrets-manager")
        .unwrap()
        .sign(b"{}");
    assert_eq!(
        signed, expected,
        "the webhook verifies with the stored secret"
    );
    assert!(InviteSenderConfig::from_env(&env).is_ok());
}

#[tokio::test]
async fn two_variables_may_name_one_secret_by_arn_and_by_name() {
    let (sdk, requests) = WireRequests::around(&moto().await);
    let name = unique("telepay-shared-secret");
    let arn = named_secret(&sdk, &name, "one-value-for-both").await;
    let env = Vars(with_rest(vec![
        ("TELEPAY_IPN_SECRET_ARN", arn),
        ("TELEPAY_BOT_WEBHOOK_SECRET_ARN", name),
    ]));
    let before = requests.operations().len();
    let env = read_secrets(env, &sdk).await.unwrap();
    assert_eq!(requests.operations()[before..], ["BatchGetSecretValue"]);
    assert_values(
        &env,
        [
            ("TELEPAY_IPN_SECRET", "one-value-for-both"),
            ("TELEPAY_BOT_WEBHOOK_SECRET", "one-value-for-both"),
        ],
    );
}

fn assert_values<const N: usize>(env: &impl Environment, expected: [(&str, &str); N]) {
    for (variable, value) in expected {
        assert_eq!(env.get(variable).as_deref(), Some(value), "{variable}");
    }
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_stops_the_cold_start_naming_its_variable() {
    let sdk = moto().await;
    let token = secret(&sdk, "4242:token-that-must-not-show").await;
    let env = Vars(with_rest(vec![
        (
            "TELEPAY_IPN_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf".to_owned(),
        ),
        ("TELEGRAM_BOT_TOKEN_SECRET_ARN", token),
    ]));
    let err = read_secrets(env, &sdk).await.unwrap_err().to_string();
    // Only the variable whose secret is missing, and no value read beside it.
    assert!(
        err.starts_with("TELEPAY_IPN_SECRET_ARN: cannot read the secret: ResourceNotFound"),
        "{err}"
    );
    assert!(!err.contains("TELEGRAM_BOT_TOKEN_SECRET_ARN"), "{err}");
    assert!(!err.contains("token-that-must-not-show"), "{err}");
}

#[tokio::test]
async fn secrets_manager_out_of_reach_stops_the_cold_start_naming_every_variable() {
    // Nothing listens there: the request itself fails, after the SDK's retries.
    let sdk = sdk_at(
        &refused_endpoint().await,
        telepay_shared::aws::consumer_timeouts(),
    );
    let env = Vars(with_rest(vec![
        ("TELEPAY_IPN_SECRET_ARN", "telepay/ipn".to_owned()),
        (
            "TELEGRAM_BOT_TOKEN_SECRET_ARN",
            "telepay/bot-token".to_owned(),
        ),
    ]));
    let err = read_secrets(env, &sdk).await.unwrap_err().to_string();
    assert!(
        err.starts_with(
            "TELEPAY_IPN_SECRET_ARN, TELEGRAM_BOT_TOKEN_SECRET_ARN: cannot read the secret:"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_local_run_without_arns_reads_the_plain_variables() {
    // No Secrets Manager endpoint is needed: the client is never built.
    let sdk = aws_types::SdkConfig::builder().build();
    let env = Vars(with_rest(vec![(
        "TELEPAY_IPN_SECRET",
        "plain-local-secret".to_owned(),
    )]));
    let env = read_secrets(env, &sdk).await.unwrap();
    assert!(WebhookConfig::from_env(&env).is_ok());
}

/// The owner rotates the IPN secret (in NOWPayments' dashboard and in Secrets Manager):
/// a warm np-webhook reads it again on the first IPN its held secret refuses, and from
/// then on takes IPNs signed with the new secret and refuses the old one's; a read per
/// pause at most, so a forged flood costs one call.
#[tokio::test]
async fn a_rotated_ipn_secret_reaches_a_warm_webhook_without_a_restart() {
    use telepay_core::fixtures::{SAMPLE_DIRECTORY, sample_ipn_with};
    use telepay_core::queue::memory::MemoryQueue;
    use telepay_core::signature::IpnSecret;
    use telepay_core::store::memory::MemoryStore;
    use telepay_core::webhook::{PaymentWebhook, WebhookOutcome, WebhookRequest};
    use telepay_shared::secrets::SecretsManagerSource;

    let (sdk, requests) = WireRequests::around(&moto().await);
    let arn = secret(&sdk, "ipn-secret-before").await;
    let webhook = PaymentWebhook::new(
        IpnSecret::new("ipn-secret-before").unwrap(),
        telepay_core::directory::ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        MemoryStore::new(),
        MemoryQueue::new(),
    )
    .with_secret_source(
        std::sync::Arc::new(SecretsManagerSource::new(&sdk, &arn)),
        std::time::Duration::from_secs(3600),
    );
    let send = |payment: i64, secret: &str| {
        let body = sample_ipn_with("payment_id", serde_json::json!(payment));
        let signature = IpnSecret::new(secret).unwrap().sign(body.as_bytes());
        (body, signature)
    };
    async fn answer(
        webhook: &PaymentWebhook<MemoryStore, MemoryQueue>,
        body: &str,
        signature: &str,
    ) -> WebhookOutcome {
        webhook
            .receive(WebhookRequest {
                method: "POST",
                signature: Some(signature),
                body: body.as_bytes(),
            })
            .await
    }
    let (body, signature) = send(7001, "ipn-secret-before");
    assert_eq!(
        answer(&webhook, &body, &signature).await,
        WebhookOutcome::Queued
    );

    rotate(&sdk, &arn, "ipn-secret-after").await;
    let (body, signature) = send(7002, "ipn-secret-after");
    assert_eq!(
        answer(&webhook, &body, &signature).await,
        WebhookOutcome::Queued,
        "the new secret's IPN is taken: read again, no restart"
    );
    let (body, signature) = send(7003, "ipn-secret-before");
    assert_eq!(
        answer(&webhook, &body, &signature).await,
        WebhookOutcome::BadSignature
    );
    let reads_before = requests.operations().len();
    for n in 0..20 {
        let (body, signature) = send(8000 + n, "a-forger-s-guess");
        assert_eq!(
            answer(&webhook, &body, &signature).await,
            WebhookOutcome::BadSignature
        );
    }
    assert_eq!(
        requests.operations().len(),
        reads_before,
        "within the pause a forged flood reads nothing"
    );
}

/// The owner revokes the bot's token in BotFather and puts the new one in its secret: a
/// warm function's first call with the old token is refused and retried, not failed; the
/// next reads the token again and goes through. A token that is simply wrong is still
/// named a configuration error once it was read again.
#[tokio::test]
async fn a_rotated_bot_token_reaches_a_warm_function_and_a_wrong_one_stays_an_error() {
    use fake_bot_api::FakeBotApi;
    use telepay_core::telegram::{TelegramError, TelegramInviter};
    use telepay_shared::secrets::SecretsManagerSource;
    use telepay_shared::telegram::{BotToken, TelegramBotApi};

    let sdk = moto().await;
    let telegram = FakeBotApi::start("777:the-new-token").await;
    let arn = secret(&sdk, "777:the-old-token").await;
    let bot = TelegramBotApi::new(
        BotToken::new("777:the-old-token").unwrap(),
        Some(&telegram.url()),
    )
    .unwrap()
    .with_token_source(
        std::sync::Arc::new(SecretsManagerSource::new(&sdk, &arn)),
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_secs(3600),
    );
    rotate(&sdk, &arn, "777:the-new-token").await;
    let first = bot.send_message(6271402111, "hello").await;
    assert!(
        matches!(first, Err(TelegramError::Transient(_))),
        "refused, and worth a retry: {first:?}"
    );
    bot.send_message(6271402111, "hello").await.unwrap();
    assert_eq!(telegram.delivered("sendMessage").len(), 1);

    // A token that is wrong in its store too: read again once, then a configuration error.
    let wrong = secret(&sdk, "777:a-wrong-token").await;
    let bot = TelegramBotApi::new(
        BotToken::new("777:a-wrong-token").unwrap(),
        Some(&telegram.url()),
    )
    .unwrap()
    .with_token_source(
        std::sync::Arc::new(SecretsManagerSource::new(&sdk, &wrong)),
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_secs(3600),
    );
    assert!(matches!(
        bot.send_message(6271402111, "hello").await,
        Err(TelegramError::Transient(_))
    ));
    let second = bot.send_message(6271402111, "hello").await;
    assert!(
        matches!(second, Err(TelegramError::Misconfigured(_))),
        "{second:?}"
    );
}

/// A token held past its maximum age is read again before the next call: a rotation
/// reaches a warm function before any call is refused.
#[tokio::test]
async fn a_bot_token_held_past_its_age_is_read_again_before_a_call_is_refused() {
    use fake_bot_api::FakeBotApi;
    use telepay_core::telegram::TelegramInviter;
    use telepay_shared::secrets::SecretsManagerSource;
    use telepay_shared::telegram::{BotToken, TelegramBotApi};

    let sdk = moto().await;
    let telegram = FakeBotApi::start("778:the-new-token").await;
    let arn = secret(&sdk, "778:the-new-token").await;
    let bot = TelegramBotApi::new(
        BotToken::new("778:the-old-token").unwrap(),
        Some(&telegram.url()),
    )
    .unwrap()
    .with_token_source(
        std::sync::Arc::new(SecretsManagerSource::new(&sdk, &arn)),
        std::time::Duration::from_secs(3600),
        std::time::Duration::ZERO,
    );
    bot.send_message(6271402111, "hello").await.unwrap();
    assert_eq!(telegram.delivered("sendMessage").len(), 1);
    assert!(
        telegram.calls().iter().all(|call| call.delivered),
        "no call was refused"
    );
}

/// The owner rotates the bot's webhook secret (in Secrets Manager, then `telepay bot
/// set-webhook`, so Telegram sends the new one): a warm bot-webhook reads it again on
/// the first header its held secret refuses, takes the new one and refuses the old; a
/// flood of wrong headers within the pause reads nothing.
#[tokio::test]
async fn a_rotated_bot_webhook_secret_reaches_a_warm_bot_without_a_restart() {
    use fake_bot_api::FakeBotApi;
    use fake_nowpayments::FakeNowPayments;
    use telepay_core::bot::{BotFrontDoor, BotOutcome, BotRequest, BotSetup, WebhookSecret};
    use telepay_core::fixtures::SAMPLE_DIRECTORY;
    use telepay_core::queue::memory::MemoryQueue;
    use telepay_core::store::memory::MemoryStore;
    use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};
    use telepay_shared::secrets::SecretsManagerSource;
    use telepay_shared::telegram::{BotToken, TelegramBotApi};

    const BEFORE: &str = "webhook-secret-before-0123456789abcdef";
    const AFTER: &str = "webhook-secret-after-0123456789abcdefgh";
    const TOKEN: &str = "515151:rotation-test";
    let (sdk, requests) = WireRequests::around(&moto().await);
    let arn = secret(&sdk, BEFORE).await;
    let telegram = FakeBotApi::start(TOKEN).await;
    let nowpayments = FakeNowPayments::start("np-key", "np-ipn-secret").await;
    let bot = BotFrontDoor::new(
        BotSetup::new(
            WebhookSecret::new(BEFORE).unwrap(),
            telepay_core::directory::ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
            "https://example.com/np-webhook",
        ),
        MemoryStore::new(),
        TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&telegram.url())).unwrap(),
        NowPaymentsInvoices::new(
            NowPaymentsApiKey::new("np-key").unwrap(),
            Some(&nowpayments.url()),
        )
        .unwrap(),
        MemoryQueue::new(),
        MemoryQueue::new(),
    )
    .with_secret_source(
        std::sync::Arc::new(SecretsManagerSource::new(&sdk, &arn)),
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_secs(3600),
    );
    let help = |update_id: i64| {
        serde_json::json!({"update_id": update_id, "message": {"message_id": 1, "date": 1,
            "chat": {"id": 42, "type": "private"}, "from": {"id": 42, "is_bot": false, "first_name": "B"},
            "text": "/help"}})
        .to_string()
    };
    let answer = |update_id: i64, secret: &'static str| {
        let bot = &bot;
        async move {
            let body = help(update_id);
            bot.receive(BotRequest {
                method: "POST",
                secret: Some(secret.as_bytes()),
                body: body.as_bytes(),
            })
            .await
        }
    };
    assert_eq!(answer(1, BEFORE).await, BotOutcome::Handled);

    rotate(&sdk, &arn, AFTER).await;
    assert_eq!(
        answer(2, AFTER).await,
        BotOutcome::Handled,
        "Telegram's new secret is taken: read again, no restart"
    );
    assert_eq!(answer(3, BEFORE).await, BotOutcome::BadSecret);
    let reads_before = requests.operations().len();
    for n in 0..20 {
        assert_eq!(
            answer(100 + n, "a-forgers-guess-0123456789abcdef").await,
            BotOutcome::BadSecret
        );
    }
    assert_eq!(
        requests.operations().len(),
        reads_before,
        "within the pause a forged flood reads nothing"
    );
}

/// The owner makes a new NOWPayments API key (the old one deleted) and puts it in its
/// secret: a warm bot-webhook's next invoice is refused with the old key, the key is
/// read again and the invoice made with the new one; a key refused after that stays
/// refused (the owner is told by `InvoiceRefused`), read once per pause at most.
#[tokio::test]
async fn a_rotated_nowpayments_key_reaches_a_warm_bot_without_a_restart() {
    use fake_nowpayments::FakeNowPayments;
    use telepay_core::bot::{InvoiceApi, InvoiceError, InvoiceRequest, InvoiceUrls};
    use telepay_core::directory::ChannelDirectory;
    use telepay_core::fixtures::SAMPLE_DIRECTORY;
    use telepay_core::order::UserId;
    use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};
    use telepay_shared::secrets::SecretsManagerSource;

    let (sdk, requests) = WireRequests::around(&moto().await);
    let arn = secret(&sdk, "np-key-before").await;
    let nowpayments = FakeNowPayments::start("np-key-before", "np-ipn-secret").await;
    let invoices = NowPaymentsInvoices::new(
        NowPaymentsApiKey::new("np-key-before").unwrap(),
        Some(&nowpayments.url()),
    )
    .unwrap()
    .with_key_source(
        std::sync::Arc::new(SecretsManagerSource::new(&sdk, &arn)),
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_secs(3600),
    );
    let directory = ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap();
    let entry = directory.channels()[0].clone();
    let request = InvoiceRequest::for_tier(
        UserId::new(42).unwrap(),
        &entry,
        &entry.tiers[0],
        1,
        &InvoiceUrls {
            ipn_callback_url: "https://example.com/np-webhook".into(),
            success_url: None,
        },
    )
    .unwrap();
    invoices.create_invoice(&request).await.unwrap();

    nowpayments.rotate_key("np-key-after");
    rotate(&sdk, &arn, "np-key-after").await;
    invoices
        .create_invoice(&request)
        .await
        .expect("the new key is read again and the invoice made: no restart");
    let answered: Vec<(String, u16)> = nowpayments
        .invoice_requests()
        .into_iter()
        .map(|(key, status)| (key.unwrap_or_default(), status))
        .collect();
    assert_eq!(
        answered,
        vec![
            ("np-key-before".to_owned(), 200),
            ("np-key-before".to_owned(), 403),
            ("np-key-after".to_owned(), 200)
        ]
    );

    // The key deleted again, its secret not updated: refused, and read once a pause.
    nowpayments.rotate_key("np-key-unknown-to-us");
    let reads_before = requests.operations().len();
    for _ in 0..5 {
        assert!(matches!(
            invoices.create_invoice(&request).await,
            Err(InvoiceError::Refused(_))
        ));
    }
    assert_eq!(
        requests.operations().len(),
        reads_before,
        "within the pause a refused key reads nothing more"
    );
}

/// The same rotation reaches the reconciler's recovery pass: its question with the old
/// key is refused, the key is read again, and the next question carries the new one.
#[tokio::test]
async fn a_rotated_nowpayments_key_reaches_the_recovery_pass_at_its_next_question() {
    use fake_nowpayments::FakeNowPayments;
    use telepay_core::ipn::PaymentId;
    use telepay_core::recovery::PaymentStatusApi;
    use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsPayments};
    use telepay_shared::secrets::SecretsManagerSource;

    let sdk = moto().await;
    let arn = secret(&sdk, "np-key-before").await;
    let nowpayments = FakeNowPayments::start("np-key-before", "np-ipn-secret").await;
    let payments = NowPaymentsPayments::new(
        NowPaymentsApiKey::new("np-key-before").unwrap(),
        Some(&nowpayments.url()),
    )
    .unwrap()
    .with_key_source(
        std::sync::Arc::new(SecretsManagerSource::new(&sdk, &arn)),
        std::time::Duration::ZERO,
        std::time::Duration::from_secs(3600),
    );
    // A payment the fake does not know: 404 with a key it accepts, 403 with another.
    let unknown = PaymentId::new(999).unwrap();
    let _ = payments.payment_status(unknown).await;
    nowpayments.rotate_key("np-key-after");
    rotate(&sdk, &arn, "np-key-after").await;
    let _ = payments.payment_status(unknown).await;
    let _ = payments.payment_status(unknown).await;
    assert_eq!(
        nowpayments.status_requests(),
        vec![(999, 404), (999, 403), (999, 404)],
        "refused once with the old key, then asked with the new one"
    );
}
