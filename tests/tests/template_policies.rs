//! The template's trust boundaries, read from template.yaml: who may write what. AWS
//! enforces these (moto does not), so they are held here against the code that needs
//! them: a policy wider than the code is a hole, narrower is an outage.

use telepay_integration_tests::template::{block, property, resource, resources, statements};

#[test]
fn bot_webhook_may_write_a_payment_only_where_a_reissue_writes() {
    let writes: Vec<String> = statements("BotWebhookFunction")
        .into_iter()
        .filter(|s| s.contains("ProcessedPaymentsTable"))
        .filter(|s| s.contains("UpdateItem") || s.contains("PutItem") || s.contains("DeleteItem"))
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    let write = &writes[0];
    assert!(
        !write.contains("PutItem") && !write.contains("DeleteItem"),
        "{write}"
    );
    assert!(write.contains("ForAllValues:StringEquals:"), "{write}");
    let allowed: Vec<&str> = write
        .split("dynamodb:Attributes: [")
        .nth(1)
        .expect("a dynamodb:Attributes condition")
        .split(']')
        .next()
        .unwrap()
        .split(',')
        .map(str::trim)
        .collect();
    let mut allowed = allowed;
    allowed.sort();
    let mut needed = telepay_shared::dynamodb::REOPEN_ATTRIBUTES.to_vec();
    needed.sort();
    assert_eq!(allowed, needed);
}

/// What cannot be made again outlives the stack: deleting or replacing it must not
/// delete unpaid payout instructions, dead letters a person must see, or any table (a
/// new stack on new, empty tables would accept old signed IPNs again).
#[test]
fn tables_the_payout_queue_and_every_dead_letter_queue_are_retained() {
    let mut retained = 0;
    for (id, block) in resources() {
        let kind = property(&block, "Type").unwrap_or_default();
        let must_keep = kind == "AWS::DynamoDB::Table"
            || (kind == "AWS::SQS::Queue" && (id.contains("DeadLetter") || id == "PayoutQueue"));
        if must_keep {
            assert!(
                block.contains("DeletionPolicy: Retain")
                    && block.contains("UpdateReplacePolicy: Retain"),
                "{id} ({kind}) is deleted with the stack"
            );
            retained += 1;
        }
    }
    // 6 tables, the payout queue and 5 dead-letter queues.
    assert_eq!(retained, 12);
}

/// The two public routes are throttled by API Gateway before any function runs, logged
/// one line per request without a header or body (the secrets travel in headers), and
/// the two webhooks may not take more than their reserved concurrency.
#[test]
fn the_public_routes_are_throttled_logged_and_their_functions_capped() {
    let api = resource("WebhookApi");
    for route in ["\"POST /np-webhook\":", "\"POST /bot-webhook\":"] {
        let settings = api
            .split(route)
            .nth(1)
            .unwrap_or_else(|| panic!("{route} has route settings"));
        let rate: u32 = settings
            .lines()
            .find_map(|l| l.trim().strip_prefix("ThrottlingRateLimit: "))
            .and_then(|n| n.parse().ok())
            .expect("a rate limit");
        let burst: u32 = settings
            .lines()
            .find_map(|l| l.trim().strip_prefix("ThrottlingBurstLimit: "))
            .and_then(|n| n.parse().ok())
            .expect("a burst limit");
        assert!((50..=1000).contains(&rate) && burst >= rate, "{route}");
    }
    let format = api
        .lines()
        .find_map(|l| l.trim().strip_prefix("Format: "))
        .expect("access logs");
    assert!(format.contains("$context.status") && format.contains("$context.routeKey"));
    for leak in ["header", "body", "$request"] {
        assert!(!format.to_lowercase().contains(leak), "{leak} in {format}");
    }
    for function in ["NpWebhookFunction", "BotWebhookFunction"] {
        assert!(
            resource(function).contains(
                "ReservedConcurrentExecutions: !If [ReservesWebhookConcurrency, !Ref WebhookReservedConcurrency"
            ),
            "{function}"
        );
    }
    assert!(block("Parameters", "WebhookReservedConcurrency").contains("Default: 20"));
    assert_eq!(
        telepay_shared::telegram::DEFAULT_MAX_CONNECTIONS,
        20,
        "set-webhook asks Telegram for no more than the reserved concurrency"
    );
}

/// A refund reads the payment's stored purchase: np-webhook may read the payments table.
#[test]
fn np_webhook_may_read_the_payment_a_refund_names() {
    assert!(statements("NpWebhookFunction").iter().any(|s| {
        s.contains("ProcessedPaymentsTable")
            && s.lines()
                .any(|l| l.trim().starts_with("Action:") && l.contains("dynamodb:GetItem"))
    }));
}

/// A 429 waits as a delayed copy on the consumer's own queue (`SqsQueue::retry_later`):
/// the two consumers that meet Telegram's rate limits may send to their queues.
#[test]
fn the_rate_limited_consumers_may_requeue_to_their_own_queue() {
    for (function, queue) in [
        ("InviteSenderFunction", "InviteQueue"),
        ("SubscriptionLifecycleFunction", "LifecycleQueue"),
    ] {
        assert!(
            statements(function)
                .iter()
                .any(|s| s.contains("sqs:SendMessage")
                    && s.contains(&format!("!GetAtt {queue}.Arn"))),
            "{function} cannot requeue to {queue}"
        );
    }
}

/// Each queue's policy (with `OperatorPrincipalArn` set) names exactly the functions whose
/// own policies send to it, and the operator: a sender added to the code and its IAM
/// without the queue's policy would be refused in AWS, which moto never shows.
#[test]
fn each_queue_refuses_every_sender_but_the_functions_that_send_to_it_and_the_operator() {
    let functions: Vec<String> = resources()
        .into_iter()
        .filter(|(_, block)| property(block, "Type") == Some("AWS::Serverless::Function"))
        .map(|(id, _)| id)
        .collect();
    for queue in [
        "ProcessorQueue",
        "InviteQueue",
        "PayoutQueue",
        "LifecycleQueue",
        "AdmissionQueue",
    ] {
        let mut sending: Vec<String> = functions
            .iter()
            .filter(|function| {
                statements(function).iter().any(|statement| {
                    statement.contains("sqs:SendMessage")
                        && statement.contains(&format!("!GetAtt {queue}.Arn"))
                })
            })
            .map(|function| format!("!GetAtt {function}Role.Arn"))
            .collect();
        sending.push("!Ref OperatorPrincipalArn".to_owned());
        sending.sort();
        let policy = resource(&format!("{queue}Senders"));
        assert_eq!(property(&policy, "Condition"), Some("LocksQueues"));
        assert_eq!(property(&policy, "Effect"), Some("Deny"));
        assert_eq!(property(&policy, "Action"), Some("sqs:SendMessage"));
        assert_eq!(
            property(&policy, "Resource"),
            Some(format!("!GetAtt {queue}.Arn").as_str())
        );
        let mut named: Vec<String> = policy
            .split("aws:PrincipalArn:")
            .nth(1)
            .expect("the senders")
            .lines()
            .filter_map(|line| line.trim().strip_prefix("- ").map(str::to_owned))
            .collect();
        named.sort();
        assert_eq!(named, sending, "{queue}'s senders");
    }
}
