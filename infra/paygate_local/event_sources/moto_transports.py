"""The in-process transports: the queues and streams of the moto backend running in this process,
read without HTTP. When there is nothing to take they wait on the notifications ``moto_patches``
hooks into moto (a message sent, deleted or made visible; a stream record appended), or until the
next delayed or invisible message is due: an idle gateway does no work at all.

Like the moto server, they pass the barrier (``moto_patches.barrier``) after each call: what they
changed is durable before they go on, and what they read is durable before a function sees it."""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any

from paygate_local.event_sources.transports import MAX_IDLE_WAIT, ShardInfo, arn_parts
from paygate_local.observability.counters import RuntimeMeter


class MotoSqs:
    """A queue of the moto backend in this process, read without HTTP; needs ``moto_patches.patched()``."""

    reorders_fifo_redelivery = True

    def __init__(self, queue_arn: str, meter: RuntimeMeter):
        from moto.sqs.models import sqs_backends

        from paygate_local.backends.moto import patches as moto_patches

        if not moto_patches.active():
            raise RuntimeError("the in-process SQS transport needs moto_patches.patched()")
        self._barrier = moto_patches.barrier
        region, account, name = arn_parts(queue_arn)
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
        if messages:
            self._barrier()  # the messages and their receive counts, before a function sees them
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
        self._barrier()
        return failures

    def change_visibility(self, entries: list[tuple[str, int]]) -> list[dict]:
        failures: list[dict] = []
        for start in range(0, len(entries), 10):
            self.meter.sqs_request(self.name, "ChangeMessageVisibilityBatch")
            _, errors = self.backend.change_message_visibility_batch(self.name, [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": s}
                for i, (h, s) in enumerate(entries[start:start + 10])])
            failures.extend(errors)
        self._barrier()
        return failures

    def wake(self) -> None:
        self.channel.notify()


class MotoSender:
    def __init__(self, meter: RuntimeMeter):
        from paygate_local.backends.moto import patches as moto_patches

        self.meter = meter
        self._barrier = moto_patches.barrier

    def send(self, queue_arn: str, body: str, group_id: str | None = None,
             deduplication_id: str | None = None) -> None:
        from moto.sqs.exceptions import QueueDoesNotExist
        from moto.sqs.models import sqs_backends

        region, account, name = arn_parts(queue_arn)
        self.meter.sqs_request(name, "SendMessage")
        try:
            sqs_backends[account][region].send_message(name, body, group_id=group_id,
                                                       deduplication_id=deduplication_id)
        except QueueDoesNotExist:
            raise LookupError(f"no queue {queue_arn} in the backend") from None
        self._barrier()


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


class MotoStreams:
    """A table's stream in the moto backend of this process. moto keeps one shard per table that
    never closes; a position is the sequence number of the next record to read."""

    json_ready = True  # read() converts the one datetime of each record
    exact_creation_times = True

    def __init__(self, stream_arn: str, meter: RuntimeMeter):
        from moto.dynamodb.models import dynamodb_backends

        from paygate_local.backends.moto import patches as moto_patches

        if not moto_patches.active():
            raise RuntimeError("the in-process stream transport needs moto_patches.patched()")
        region, account, resource = arn_parts(stream_arn)
        self.table_name = resource.split("/")[1]
        self.backend = dynamodb_backends[account][region]
        self.stream_arn, self.meter = stream_arn, meter
        self.channel = moto_patches.changes.channel(("stream", self.table.table_arn))
        self._barrier, self._lock = moto_patches.barrier, moto_patches.dynamodb_lock
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
        with self._lock:  # never half a transaction; every record's change already heard
            start = int(iterator) - shard.starting_sequence_number
            items = shard.items[start:start + limit]
        if items:
            self._barrier()  # the writes these records tell of are durable before a function sees them
        records = [_json_ready(r.to_json()) for r in items]
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
