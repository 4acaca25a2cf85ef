"""How the pollers reach SQS and DynamoDB Streams: two transports behind one small interface.

- In process (``MotoSqs``, ``MotoStreams``): when ``paygate dev`` runs moto's server itself, the
  pollers call moto's backend objects directly (no HTTP round trip, no boto3) and, when there is
  nothing to take, wait on the notifications ``moto_patches`` hooks into moto (a message sent,
  deleted or made visible; a stream record appended) or until the moment the next delayed or
  invisible message is due. An idle gateway then does no work at all.
- Remote (``BotoSqs``, ``BotoStreams``): any other backend (LocalStack, ``--backend URL``) is read
  through boto3 the way Lambda's pollers read AWS: SQS long polling (WaitTimeSeconds up to 20 s),
  DynamoDB streams polled four times a second.

Lambda's event source mapping semantics (batching, partial failures, FIFO order, retries, bisect,
on-failure destinations) live in ``pollers.py`` once, on top of either transport.

Every request a transport makes is counted in the runtime's ``Meter`` by its AWS operation name, as
AWS would bill it (one long poll is one ReceiveMessage, however long it waited).
"""

from __future__ import annotations

import datetime
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from paygate_local.metering.meter import RuntimeMeter

LONG_POLL_SECONDS = 20  # what Lambda's SQS pollers ask for
STREAM_POLL_INTERVAL = 0.25  # Lambda reads a DynamoDB stream shard four times a second
SHARD_REFRESH_INTERVAL = 5.0
# A bound on any wait in process, so that a poller re-checks its stop flag even if a wake-up
# were lost (none should be: stop() wakes every channel the runtime uses).
MAX_IDLE_WAIT = 60.0


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """arn:aws:<service>:<region>:<account>:<resource> -> (region, account, resource)."""
    parts = arn.split(":", 5)
    return parts[3], parts[4], parts[5]


# ------------------------------------------------------------------------------------ SQS


class SqsTransport(Protocol):
    queue_arn: str
    fifo: bool

    def receive(self, count: int, wait_seconds: float, stop: threading.Event) -> list[dict]:
        """Up to ``count`` (<= 10) messages in ReceiveMessage's response shape, waiting up to
        ``wait_seconds`` for the first one."""

    def delete(self, receipt_handles: list[str]) -> list[dict]:
        """Delete (<= 10 per request); returns the failures."""

    def change_visibility(self, entries: list[tuple[str, int]]) -> list[dict]:
        """(receipt handle, seconds) pairs; returns the failures."""

    def wake(self) -> None:
        """Make a waiting ``receive`` return early (used when stopping)."""


class SqsSender(Protocol):
    def send(self, queue_arn: str, body: str, group_id: str | None = None,
             deduplication_id: str | None = None) -> None: ...


class BotoSqs:
    """A queue read through boto3: what Lambda does on AWS."""

    def __init__(self, client: Any, queue_url: str, queue_arn: str, meter: RuntimeMeter,
                 long_poll_seconds: int = LONG_POLL_SECONDS):
        self.client, self.queue_url, self.queue_arn, self.meter = client, queue_url, queue_arn, meter
        self.name = _arn_parts(queue_arn)[2]
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
        self.meter.sqs_request(_arn_parts(queue_arn)[2], "SendMessage")
        self.client.send_message(**kwargs)


class MotoSqs:
    """A queue of the moto backend in this process, read without HTTP; needs ``moto_patches.patched()``."""

    def __init__(self, queue_arn: str, meter: RuntimeMeter):
        from moto.sqs.models import sqs_backends

        from paygate_local.backends.moto import patches as moto_patches

        if not moto_patches.active():
            raise RuntimeError("the in-process SQS transport needs moto_patches.patched()")
        region, account, name = _arn_parts(queue_arn)
        self.backend = sqs_backends[account][region]
        self.name, self.queue_arn, self.meter = name, queue_arn, meter
        self.fifo = name.endswith(".fifo")
        self.channel = moto_patches.changes.channel(("sqs", queue_arn))
        self._lock = moto_patches.sqs_lock

    @property
    def queue(self) -> Any:
        return self.backend.get_queue(self.name)

    def receive(self, count: int, wait_seconds: float, stop: threading.Event) -> list[dict]:
        """One ReceiveMessage, long-polled: it waits on the queue's hooks, never on a timer."""
        messages = self._receive(count, wait_seconds, stop)
        self.meter.sqs_request(self.name, "ReceiveMessage", messages_received=len(messages))
        return messages

    def _receive(self, count: int, wait_seconds: float, stop: threading.Event) -> list[dict]:
        deadline = time.monotonic() + wait_seconds
        while True:
            if stop.is_set():
                return []  # a stopping poller takes nothing more
            seen = self.channel.version  # before looking: a change from now on ends the wait below
            queue = self.queue
            messages = self.backend.receive_message(self.name, count, 0, int(queue.visibility_timeout),
                                                    ["All"])
            if messages:
                return [_message_dict(m) for m in messages]
            left = deadline - time.monotonic()
            if left <= 0 or stop.is_set():
                return []
            self.channel.wait(seen, min(left, self._next_due(queue), MAX_IDLE_WAIT))

    def _next_due(self, queue: Any) -> float:
        """Seconds until the next message that is delayed or invisible now becomes receivable."""
        now_ms = time.time() * 1000
        with self._lock:
            due = [max(m.visible_at, m.delayed_until) for m in queue._messages]
        future = [d for d in due if d > now_ms]
        # moto compares with a strict ">" on milliseconds: wake just after the moment.
        return (min(future) - now_ms) / 1000 + 0.002 if future else MAX_IDLE_WAIT

    def delete(self, receipt_handles: list[str]) -> list[dict]:
        failures: list[dict] = []
        for start in range(0, len(receipt_handles), 10):
            self.meter.sqs_request(self.name, "DeleteMessageBatch")
            _, errors = self.backend.delete_message_batch(self.name, [
                {"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(receipt_handles[start:start + 10])])
            failures.extend(errors)
        return failures

    def change_visibility(self, entries: list[tuple[str, int]]) -> list[dict]:
        failures: list[dict] = []
        for start in range(0, len(entries), 10):
            self.meter.sqs_request(self.name, "ChangeMessageVisibilityBatch")
            _, errors = self.backend.change_message_visibility_batch(self.name, [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": s}
                for i, (h, s) in enumerate(entries[start:start + 10])])
            failures.extend(errors)
        return failures

    def wake(self) -> None:
        self.channel.notify()


class MotoSender:
    def __init__(self, meter: RuntimeMeter):
        self.meter = meter

    def send(self, queue_arn: str, body: str, group_id: str | None = None,
             deduplication_id: str | None = None) -> None:
        from moto.sqs.exceptions import QueueDoesNotExist
        from moto.sqs.models import sqs_backends

        region, account, name = _arn_parts(queue_arn)
        self.meter.sqs_request(name, "SendMessage")
        try:
            sqs_backends[account][region].send_message(name, body, group_id=group_id,
                                                       deduplication_id=deduplication_id)
        except QueueDoesNotExist:
            raise LookupError(f"no queue {queue_arn} in the backend") from None


def _message_dict(message: Any) -> dict:
    """A moto Message -> the shape of one entry of ReceiveMessage's response (all attributes)."""
    attributes = {
        "SenderId": message.sender_id,
        "SentTimestamp": str(message.sent_timestamp),
        "ApproximateReceiveCount": str(message.approximate_receive_count),
        "ApproximateFirstReceiveTimestamp": str(message.approximate_first_receive_timestamp),
    }
    if message.deduplication_id is not None:
        attributes["MessageDeduplicationId"] = message.deduplication_id
    if message.group_id is not None:
        attributes["MessageGroupId"] = message.group_id
    if message.sequence_number is not None:
        attributes["SequenceNumber"] = message.sequence_number
    trace = (message.system_attributes or {}).get("AWSTraceHeader")
    if trace:
        attributes["AWSTraceHeader"] = trace.get("StringValue")
    out = {"MessageId": message.id, "ReceiptHandle": message.receipt_handle,
           "MD5OfBody": message.body_md5, "Body": message.body, "Attributes": attributes}
    if message.message_attributes:
        out["MessageAttributes"] = message.message_attributes
        out["MD5OfMessageAttributes"] = message.attribute_md5
    return out


# ------------------------------------------------------------------------------------ streams


@dataclass(frozen=True)
class ShardInfo:
    shard_id: str
    parent_id: str | None
    open: bool


class StreamTransport(Protocol):
    stream_arn: str
    json_ready: bool  # records hold JSON types only (no datetimes, no bytes)

    def shards(self) -> list[ShardInfo]: ...

    def iterator(self, shard_id: str, iterator_type: str, sequence_number: str | None = None) -> Any:
        """A position in the shard: TRIM_HORIZON, LATEST, or AFTER_SEQUENCE_NUMBER."""

    def read(self, iterator: Any, limit: int) -> tuple[list[dict], Any]:
        """(records, next iterator or None when the shard is closed and read to its end)."""

    def version(self) -> int:
        """A change counter to pass to ``wait`` (0 when the transport cannot tell)."""

    def wait(self, seen: int, timeout: float, stop: threading.Event) -> None:
        """Until new records may be there, or ``timeout`` s."""

    def refresh_due(self) -> bool:
        """Whether the shard list may have changed since the last ``shards()``."""

    def wake(self) -> None: ...


class TrimmedPosition(Exception):
    """The iterator expired or points before the oldest record: get a new one."""


class BotoStreams:
    json_ready = False  # boto3 gives datetimes and bytes

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


class MotoStreams:
    """A table's stream in the moto backend of this process. moto keeps one shard per table that
    never closes; a position is the sequence number of the next record to read."""

    json_ready = True  # read() converts the one datetime of each record

    def __init__(self, stream_arn: str, meter: RuntimeMeter):
        from moto.dynamodb.models import dynamodb_backends

        from paygate_local.backends.moto import patches as moto_patches

        if not moto_patches.active():
            raise RuntimeError("the in-process stream transport needs moto_patches.patched()")
        region, account, resource = _arn_parts(stream_arn)
        self.table_name = resource.split("/")[1]
        self.backend = dynamodb_backends[account][region]
        self.stream_arn, self.meter = stream_arn, meter
        self.channel = moto_patches.changes.channel(("stream", self.table.table_arn))
        self._listed = False

    @property
    def table(self) -> Any:
        return self.backend.get_table(self.table_name)

    def _shard(self) -> Any:
        shard = self.table.stream_shard
        if shard is None:
            raise LookupError(f"table {self.table_name} has no stream")
        return shard

    def shards(self) -> list[ShardInfo]:
        self._listed = True
        return [ShardInfo(self._shard().id, None, True)]

    def refresh_due(self) -> bool:
        return not self._listed  # the one shard never changes

    def iterator(self, shard_id: str, iterator_type: str, sequence_number: str | None = None) -> Any:
        shard = self._shard()
        if iterator_type == "TRIM_HORIZON":
            return shard.starting_sequence_number
        if iterator_type == "LATEST":
            return shard.starting_sequence_number + len(shard.items)
        if iterator_type == "AFTER_SEQUENCE_NUMBER":
            return int(sequence_number) + 1
        return int(sequence_number)  # AT_SEQUENCE_NUMBER

    def read(self, iterator: Any, limit: int) -> tuple[list[dict], Any]:
        self.meter.stream_request("GetRecords")
        shard = self._shard()
        start = int(iterator) - shard.starting_sequence_number
        # The records are never changed once appended (a transaction rolled back truncates the
        # list, under the DynamoDB lock): a slice read without that lock is consistent.
        records = [_json_ready(r.to_json()) for r in shard.items[start:start + limit]]
        return records, int(iterator) + len(records)

    def version(self) -> int:
        return self.channel.version

    def wait(self, seen: int, timeout: float, stop: threading.Event) -> None:
        if not stop.is_set():
            self.channel.wait(seen, min(timeout, MAX_IDLE_WAIT))

    def wake(self) -> None:
        self.channel.notify()


def _json_ready(record: dict) -> dict:
    """moto's stream record with its creation time as epoch seconds (what Lambda sends); the
    images are shared with moto's record, which nothing changes."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime.datetime):
        if created.tzinfo is None:  # moto's naive UTC
            created = created.replace(tzinfo=datetime.timezone.utc)
        stamp = created.timestamp()
        change["ApproximateCreationDateTime"] = int(stamp) if stamp.is_integer() else stamp
    return {**record, "dynamodb": change}
