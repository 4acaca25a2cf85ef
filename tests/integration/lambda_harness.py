"""Helpers for running handlers against moto: sample events, Lambda-shaped SQS and stream events."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3

from paygate_local.lambda_.context import LambdaContext as RuntimeLambdaContext

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


class LambdaContext(RuntimeLambdaContext):
    """The local Lambda service's own context object, for a handler called in the test's process:
    function "test" with 512 MB, 30 s to run from now."""

    def __init__(self) -> None:
        super().__init__("00000000-0000-0000-0000-000000000000", int(time.time() * 1000) + 30_000,
                         "arn:aws:lambda:us-east-1:123456789012:function:test",
                         environ={"AWS_LAMBDA_FUNCTION_NAME": "test", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
                                  "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/test",
                                  "AWS_LAMBDA_LOG_STREAM_NAME": "test"})


def load_event(name: str, **replace: str) -> dict[str, Any]:
    """events/<function>/<case>.json, with placeholder text replaced (e.g. pay_REPLACE -> a real id)."""
    text = (EVENTS / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return json.loads(text)


class Stack:
    """The provisioned template: resource names and each function's environment."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    def env(self, logical_id: str) -> dict[str, str]:
        return dict(self.spec.function(logical_id).environment)

    def url(self, logical_id: str) -> str:
        return self.spec.ref(logical_id)


def make_merchant(aws: Stack, name: str) -> dict[str, str]:
    from paygate.adapters.dynamodb.merchants import MerchantsTable
    from paygate.services.merchants import register_merchant

    m, key = register_merchant(MerchantsTable(boto3.client("dynamodb"), aws.env("ApiFunction")["MERCHANTS_TABLE"]), name)
    return {"merchant_id": m.id, "api_key": key}


def receive_all(queue_url: str, wait: int = 0) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    got: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                    AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if not batch:
            return got
        got += batch


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """Received SQS messages in the shape Lambda hands them to a function."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": {k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"],
                                  "stringListValues": [], "binaryListValues": []}
                              for k, v in m.get("MessageAttributes", {}).items()},
        "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    } for m in messages]}


def stream_event(table_name: str) -> dict[str, Any]:
    """Every record on the table's stream so far, in the shape Lambda hands them to a function."""
    ddb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records += streams.get_records(ShardIterator=it)["Records"]
    for r in records:
        r["eventSourceARN"] = arn
        r["dynamodb"].pop("ApproximateCreationDateTime", None)
    return {"Records": records}
