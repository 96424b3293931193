"""Prepares moto for `make watch`: the four tables, the five queues with their DLQs
(as in template.yaml), and the sample payment 4492847470 recorded as np-webhook records
it (accepted, not processed), so the SQS sample events in events/ find their record.
Prints the environment the functions need, one KEY=VALUE per line."""
import json
import os
from datetime import datetime, timezone

import boto3

REGION = "us-east-1"
ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"], region_name=REGION)
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL_SQS"], region_name=REGION)

# As template.yaml has them: processed_payments with its sparse pending index.
ddb.create_table(
    TableName="processed_payments",
    AttributeDefinitions=[
        {"AttributeName": "payment_id", "AttributeType": "N"},
        {"AttributeName": "pending_shard", "AttributeType": "S"},
        {"AttributeName": "created_at", "AttributeType": "S"},
    ],
    KeySchema=[{"AttributeName": "payment_id", "KeyType": "HASH"}],
    GlobalSecondaryIndexes=[{
        "IndexName": "PendingIndex",
        "KeySchema": [
            {"AttributeName": "pending_shard", "KeyType": "HASH"},
            {"AttributeName": "created_at", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }],
    BillingMode="PAY_PER_REQUEST",
)
ddb.create_table(
    TableName="payment_reviews",
    AttributeDefinitions=[{"AttributeName": "payment_id", "AttributeType": "N"}],
    KeySchema=[{"AttributeName": "payment_id", "KeyType": "HASH"}],
    BillingMode="PAY_PER_REQUEST",
)

# subscriptions with its sparse, sharded due index.
ddb.create_table(
    TableName="subscriptions",
    AttributeDefinitions=[
        {"AttributeName": "user_id", "AttributeType": "N"},
        {"AttributeName": "channel_id", "AttributeType": "N"},
        {"AttributeName": "due_shard", "AttributeType": "N"},
        {"AttributeName": "next_due_at_ms", "AttributeType": "N"},
    ],
    KeySchema=[
        {"AttributeName": "user_id", "KeyType": "HASH"},
        {"AttributeName": "channel_id", "KeyType": "RANGE"},
    ],
    GlobalSecondaryIndexes=[{
        "IndexName": "DueIndex",
        "KeySchema": [
            {"AttributeName": "due_shard", "KeyType": "HASH"},
            {"AttributeName": "next_due_at_ms", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }],
    BillingMode="PAY_PER_REQUEST",
)

# The bot's once-records (its TTL is not modelled by moto; harmless here).
ddb.create_table(
    TableName="bot_once",
    AttributeDefinitions=[{"AttributeName": "once_key", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "once_key", "KeyType": "HASH"}],
    BillingMode="PAY_PER_REQUEST",
)

# Payments under way, watched until their outcome is known (settled ones expire by TTL).
ddb.create_table(
    TableName="payment_watches",
    AttributeDefinitions=[{"AttributeName": "payment_id", "AttributeType": "N"}],
    KeySchema=[{"AttributeName": "payment_id", "KeyType": "HASH"}],
    BillingMode="PAY_PER_REQUEST",
)

urls = {}
for name, visibility in (("processor", 180), ("invite", 360), ("payout", 300), ("lifecycle", 900), ("admission", 180)):
    dlq_url = sqs.create_queue(QueueName=f"telepay-{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    urls[name] = sqs.create_queue(
        QueueName=f"telepay-{name}",
        Attributes={"VisibilityTimeout": str(visibility), "RedrivePolicy": redrive},
    )["QueueUrl"]
    urls[f"{name}-dlq"] = dlq_url

now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
ddb.put_item(
    TableName="processed_payments",
    Item={
        "payment_id": {"N": "4492847470"},
        "user_id": {"N": "6271402111"},
        "channel_id": {"N": "-1003111266231"},
        "state": {"S": "accepted"},
        "gcwebhook1_processed": {"BOOL": False},
        "telegram_invite_sent": {"BOOL": False},
        "created_at": {"S": now},
        "updated_at": {"S": now},
        "pending_shard": {"S": "pending"},
        "private_channel_id": {"N": "-1003111266231"},
        "subscription_days": {"N": "30"},
        "price_amount": {"N": "3.21"},
        "price_currency": {"S": "usd"},
        "outcome_amount": {"N": "0.001408"},
        "outcome_currency": {"S": "eth"},
    },
)

env = {
    "TELEPAY_PAYMENTS_TABLE": "processed_payments",
    "TELEPAY_REVIEWS_TABLE": "payment_reviews",
    "TELEPAY_SUBSCRIPTIONS_TABLE": "subscriptions",
    "TELEPAY_BOT_TABLE": "bot_once",
    "TELEPAY_WATCHES_TABLE": "payment_watches",
    "TELEPAY_ADMISSION_QUEUE_URL": urls["admission"],
    "TELEPAY_ADMISSION_DLQ_URL": urls["admission-dlq"],
    "TELEPAY_LIFECYCLE_QUEUE_URL": urls["lifecycle"],
    "TELEPAY_LIFECYCLE_DLQ_URL": urls["lifecycle-dlq"],
    "TELEPAY_PROCESSOR_QUEUE_URL": urls["processor"],
    "TELEPAY_INVITE_QUEUE_URL": urls["invite"],
    "TELEPAY_PAYOUT_QUEUE_URL": urls["payout"],
    "TELEPAY_PROCESSOR_DLQ_URL": urls["processor-dlq"],
    "TELEPAY_INVITE_DLQ_URL": urls["invite-dlq"],
    "TELEPAY_PAYOUT_DLQ_URL": urls["payout-dlq"],
}
for key, value in env.items():
    print(f"{key}={value}")
