"""The remote transports: SQS and DynamoDB Streams read through boto3, as Lambda's pollers read AWS
(any backend but the moto of this process: LocalStack, ``--backend URL``)."""

from __future__ import annotations

import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from paygate_local.event_sources.transports import (
    LONG_POLL_SECONDS,
    SHARD_REFRESH_INTERVAL,
    STREAM_POLL_INTERVAL,
    ShardInfo,
    TrimmedPosition,
    arn_parts,
)
from paygate_local.observability.counters import RuntimeMeter


class BotoSqs:
    """A queue read through boto3: what Lambda does on AWS."""

    reorders_fifo_redelivery = False

    def __init__(self, client: Any, queue_url: str, queue_arn: str, meter: RuntimeMeter,
                 long_poll_seconds: int = LONG_POLL_SECONDS):
        self.client, self.queue_url, self.queue_arn, self.meter = client, queue_url, queue_arn, meter
        self.name = arn_parts(queue_arn)[2]
        self.fifo = queue_arn.endswith(".fifo")
        self.long_poll_seconds = long_poll_seconds

    def receive(self, count: int, wait_seconds: float, stop: threading.Event) -> list[dict]:
        whole = max(0, min(self.long_poll_seconds, int(wait_seconds)))  # SQS takes whole seconds
        response = self.client.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=count, WaitTimeSeconds=whole,
            AttributeNames=["All"], MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])
        messages = response.get("Messages") or []
        self.meter.sqs_request(self.name, "ReceiveMessage", messages_received=len(messages))
        if not messages and whole == 0 and wait_seconds > 0:
            stop.wait(wait_seconds)  # the last fraction of a batching window: wait it out, not spin
        return messages

    def delete(self, receipt_handles: list[str]) -> list[dict]:
        failures: list[dict] = []
        for start in range(0, len(receipt_handles), 10):
            self.meter.sqs_request(self.name, "DeleteMessageBatch")
            response = self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(receipt_handles[start:start + 10])])
            failures.extend(response.get("Failed") or [])
        return failures

    def change_visibility(self, entries: list[tuple[str, int]]) -> list[dict]:
        failures: list[dict] = []
        for start in range(0, len(entries), 10):
            self.meter.sqs_request(self.name, "ChangeMessageVisibilityBatch")
            response = self.client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": s}
                for i, (h, s) in enumerate(entries[start:start + 10])])
            failures.extend(response.get("Failed") or [])
        return failures

    def wake(self) -> None:
        pass  # a long poll in flight ends by itself within long_poll_seconds


class BotoSender:
    def __init__(self, client: Any, resolve_url: Any, meter: RuntimeMeter):
        self.client, self.resolve_url, self.meter = client, resolve_url, meter

    def send(self, queue_arn: str, body: str, group_id: str | None = None,
             deduplication_id: str | None = None) -> None:
        url = self.resolve_url(queue_arn)
        if url is None:
            raise LookupError(f"no queue {queue_arn} in the backend")
        kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
        if group_id is not None:
            kwargs.update(MessageGroupId=group_id, MessageDeduplicationId=deduplication_id)
        self.meter.sqs_request(arn_parts(queue_arn)[2], "SendMessage")
        self.client.send_message(**kwargs)


class BotoStreams:
    json_ready = False  # boto3 gives datetimes and bytes
    exact_creation_times = False  # LocalStack's are rounded down to the minute

    def __init__(self, client: Any, stream_arn: str, meter: RuntimeMeter):
        self.client, self.stream_arn, self.meter = client, stream_arn, meter
        self._next_refresh = 0.0

    def shards(self) -> list[ShardInfo]:
        found: list[ShardInfo] = []
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            self.meter.stream_request("DescribeStream")
            description = self.client.describe_stream(**kwargs)["StreamDescription"]
            for info in description.get("Shards") or []:
                found.append(ShardInfo(info["ShardId"], info.get("ParentShardId"),
                                       "EndingSequenceNumber" not in (info.get("SequenceNumberRange") or {})))
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            kwargs["ExclusiveStartShardId"] = last
        self._next_refresh = time.monotonic() + SHARD_REFRESH_INTERVAL
        return found

    def refresh_due(self) -> bool:
        return time.monotonic() >= self._next_refresh

    def iterator(self, shard_id: str, iterator_type: str, sequence_number: str | None = None) -> Any:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id,
                                  "ShardIteratorType": iterator_type}
        if sequence_number is not None:
            kwargs["SequenceNumber"] = sequence_number
        self.meter.stream_request("GetShardIterator")
        return self.client.get_shard_iterator(**kwargs).get("ShardIterator")

    def read(self, iterator: Any, limit: int) -> tuple[list[dict], Any]:
        self.meter.stream_request("GetRecords")
        try:
            response = self.client.get_records(ShardIterator=iterator, Limit=limit)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                raise TrimmedPosition from exc
            raise
        return response.get("Records") or [], response.get("NextShardIterator")

    def version(self) -> int:
        return 0

    def wait(self, seen: int, timeout: float, stop: threading.Event) -> None:
        stop.wait(min(timeout, STREAM_POLL_INTERVAL))

    def wake(self) -> None:
        pass
