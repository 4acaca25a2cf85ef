"""`paygate dlq replay` over a running gateway: a relay batch that went to RelayDLQ (as Lambda's
on-failure destination writes it: where the batch was in the stream) is published again once the
fault is fixed; the replay moves nothing twice (no second charge, the same webhook-id again)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import httpx
import pytest
from polling import wait_for

from paygate_local.template import Stack

ROOT = Path(__file__).resolve().parents[2]


def clients(info):
    kwargs = {"endpoint_url": info.aws_endpoint_url, "region_name": info.region,
              "aws_access_key_id": "test", "aws_secret_access_key": "test"}
    return boto3.client("dynamodb", **kwargs), boto3.client("dynamodbstreams", **kwargs), boto3.client("sqs", **kwargs)


def first_record_of(streams, stream_arn: str, payment_id: str) -> tuple[str, str]:
    """(shard id, sequence number) of the stream record that created the payment."""
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page.get("Records", []):
                keys = record["dynamodb"].get("Keys", {})
                if keys.get("pk", {}).get("S") == payment_id and record["eventName"] == "INSERT":
                    return shard["ShardId"], record["dynamodb"]["SequenceNumber"]
            if not page.get("Records"):
                break
            iterator = page.get("NextShardIterator")
    raise AssertionError(f"no stream record created {payment_id}")


def dlq(dev, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paygate_local.cli", "dlq", *args, "--state-dir", str(dev.state_dir)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.not_on_ministack("paygate dlq works on a paygate dev's state directory and the local queue and "
                              "table names")
def test_a_dead_lettered_relay_batch_is_replayed_once_the_fault_is_fixed(dev, info, merchant, receiver):
    merchant.post("/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["payment.created"]})
    payment = merchant.pay("tok_success")
    merchant.wait_status(payment["id"], {"COMPLETED"}, timeout=60)
    receiver.wait_for(1, timeout=30)
    stack = Stack.from_file(ROOT / "template.yaml", parameter_overrides={"Mode": "dev"})
    names = {t.logical_id: t.name for t in stack.tables()}
    queues = {q.logical_id: q.name for q in stack.queues()}
    ddb, streams, sqs = clients(info)
    stream_arn = ddb.describe_table(TableName=names["AggregatesTable"])["Table"]["LatestStreamArn"]
    shard, sequence = first_record_of(streams, stream_arn, payment["id"])
    # What Lambda's on-failure destination writes for a batch the relay could not publish.
    dlq_url = sqs.get_queue_url(QueueName=queues["RelayDLQ"])["QueueUrl"]
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"requestContext": {"condition": "RetryAttemptsExhausted"},
        "DDBStreamBatchInfo": {"shardId": shard, "startSequenceNumber": sequence, "endSequenceNumber": sequence,
                               "batchSize": 1, "streamArn": stream_arn}}))
    listed = dlq(dev, "list")
    assert listed.returncode == 0 and any(line.split()[:2] == ["RelayDLQ", "1"] for line in listed.stdout.splitlines()), listed.stdout
    replayed = dlq(dev, "replay")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replayed 1 failed relay batches (1 stream records)" in replayed.stdout
    # The created event reaches the endpoint again under its webhook-id; nothing else moved.
    wait_for(lambda: len(receiver.events("payment.created")) == 2, 30, "the replayed payment.created webhook")
    ids = {headers["webhook-id"] for _, headers, _ in receiver.events("payment.created")}
    assert len(ids) == 1
    again = merchant.get(f"/v1/payments/{payment['id']}").json()
    assert (again["status"], again["version"]) == ("COMPLETED", 3)
    assert httpx.get(f"{info.provider_url}/charges", params={"reference": payment["id"]}).json()["count"] == 1
    assert dlq(dev, "replay").stdout.startswith("replayed 0")
