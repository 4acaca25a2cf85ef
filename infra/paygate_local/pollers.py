"""Event source mappings with Lambda's semantics, as poller threads.

We poll the backend ourselves instead of creating mappings in it: moto's own mapping deletes
messages and clears the stream behind our backs.

SQS (``SqsPoller``): receive a batch, invoke, delete what succeeded. With
``ReportBatchItemFailures`` the listed messages stay; on a function error nothing is deleted.
Messages that stay come back after their visibility timeout and move to the DLQ through the queue's
own redrive policy (``maxReceiveCount``). For FIFO queues we work around a moto gap: when several
messages of one group were in flight, their redelivery after the visibility timeout can come out
of order. So for each group the first failed message is left alone (the function may have set its
visibility itself, as a retry backoff) and the group's later failed messages are made visible
again at once: the group stays blocked behind its first message, and comes back in order.

DynamoDB Streams (``StreamPoller``): read every shard in order (parents before children), four
times a second, and keep an in-memory checkpoint per shard. A batch that fails is retried
(``MaximumRetryAttempts``; -1 = forever); with ``ReportBatchItemFailures`` the reported sequence
number means "retry from this record"; with ``BisectBatchOnFunctionError`` a batch whose invocation
fails is split in halves (recursively, using up no retry) until the bad record is alone, and only
then do retries count. When retries run out, a failure record goes to the on-failure destination and the
poller moves on. No record is ever skipped without that record (or at least a log line) saying so.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import ClientError

from .template import SqsMapping, StreamMapping
from .workers import InvocationResult

log = logging.getLogger(__name__)

Invoke = Callable[[str, dict], InvocationResult]

STREAM_POLL_INTERVAL = 0.25  # Lambda polls a DynamoDB stream shard four times a second
SHARD_REFRESH_INTERVAL = 5.0
FIFO_SHORT_POLL_INTERVAL = 0.2
# Extra pollers of one queue (index > 0) are there for bursts; while the queue is empty they poll
# less often, since every empty poll costs the in-process backend CPU that the busy stages need.
IDLE_EXTRA_POLLER_INTERVAL = 1.0


def _log_to(path: Path | None, level: str, message: str, **fields: Any) -> None:
    """A JSON line in the function's log file, next to what the function itself printed."""
    getattr(log, level.lower(), log.info)("%s %s", message, fields or "")
    if path is None:
        return
    line = {"level": level, "timestamp": _now_iso(), "message": message,
            "source": "paygate_local", **fields}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, default=str) + "\n")


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Poller:
    """A loop in its own thread until ``stop`` is set (composition, not a Thread subclass, so
    that our method names cannot clash with Thread's private ones)."""

    def __init__(self, name: str, stop: threading.Event, log_path: Path | None):
        self.name = name
        self._stop_event = stop
        self.log_path = log_path
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # the backend hiccupped or is going away: keep polling
                if self._stop_event.is_set():
                    return
                log.exception("%s: poll failed", self.name)
                _log_to(self.log_path, "ERROR", f"{self.name}: poll failed: {exc!r}")
                self._stop_event.wait(1.0)

    def poll_once(self) -> None:
        raise NotImplementedError


# ------------------------------------------------------------------------------------ SQS


class SqsPoller(_Poller):
    """One poller of one SQS event of one function (several may run for a standard queue)."""

    def __init__(self, mapping: SqsMapping, *, queue_url: str, fifo: bool, invoke: Invoke,
                 sqs: Any, region: str, stop: threading.Event, log_path: Path | None = None,
                 long_poll: bool = True, index: int = 0):
        super().__init__(f"sqs-{mapping.function}-{mapping.event}-{index}", stop, log_path)
        self.mapping = mapping
        self.queue_url = queue_url
        self.fifo = fifo
        self.invoke = invoke
        self.sqs = sqs
        self.region = region
        # moto busy-loops a long poll while a FIFO queue holds visible messages of blocked groups;
        # short polls with a pause between empty ones cost far less CPU there.
        self.long_poll = long_poll
        self.idle_interval = FIFO_SHORT_POLL_INTERVAL if index == 0 else IDLE_EXTRA_POLLER_INTERVAL
        self.invocations = 0

    def poll_once(self) -> None:
        messages = self._receive()
        if not messages:
            if not self.long_poll:
                self._stop_event.wait(self.idle_interval)
            return
        event = {"Records": [sqs_record(m, self.mapping.queue_arn, self.region) for m in messages]}
        result = self.invoke(self.mapping.function, event)
        self.invocations += 1
        failed = failed_message_ids(result, messages, self.mapping.report_batch_item_failures)
        if not result.ok:
            _log_to(self.log_path, "WARNING", "SQS batch failed; messages stay on the queue",
                    event=self.mapping.event, error=result.error)
        self._delete([m for m in messages if m["MessageId"] not in failed])
        if self.fifo and failed:
            self._keep_group_order(messages, failed)

    def _receive(self) -> list[dict]:
        wanted = self.mapping.batch_size
        window = self.mapping.batching_window
        messages = self._receive_some(min(wanted, 10), 1 if self.long_poll else 0)
        if messages and window > 0:
            deadline = time.monotonic() + window
            while len(messages) < wanted and not self._stop_event.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                more = self._receive_some(min(wanted - len(messages), 10),
                                          min(1, int(left)) if self.long_poll else 0)
                if not more and not self.long_poll:
                    self._stop_event.wait(min(left, FIFO_SHORT_POLL_INTERVAL))
                messages.extend(more)
        return messages

    def _receive_some(self, count: int, wait: int) -> list[dict]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages") or []

    def _delete(self, messages: list[dict]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start:start + 10]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                         for i, m in enumerate(chunk)],
            )
            for failure in response.get("Failed") or []:
                _log_to(self.log_path, "ERROR", "could not delete a processed SQS message",
                        failure=failure)

    def _keep_group_order(self, messages: list[dict], failed: set[str]) -> None:
        """Leave each group's first failed message as it is; release the group's later ones."""
        seen_groups: set[str] = set()
        release = []
        for message in messages:
            if message["MessageId"] not in failed:
                continue
            group = (message.get("Attributes") or {}).get("MessageGroupId")
            if group in seen_groups:
                release.append(message)
            else:
                seen_groups.add(group)
        for start in range(0, len(release), 10):
            chunk = release[start:start + 10]
            response = self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                         for i, m in enumerate(chunk)],
            )
            for failure in response.get("Failed") or []:
                log.warning("%s: could not release a skipped FIFO message: %s", self.name, failure)


def failed_message_ids(result: InvocationResult, messages: list[dict], report: bool) -> set[str]:
    """Which messages must stay on the queue, by Lambda's partial batch response rules."""
    everything = {m["MessageId"] for m in messages}
    if not result.ok:
        return everything
    if not report:
        return set()
    payload = result.payload
    if payload is None or payload == "" or payload == {}:
        return set()
    if not isinstance(payload, dict):
        return everything  # an invalid response fails the whole batch
    failures = payload.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    failed = set()
    for failure in failures:
        ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not ident or ident not in everything:
            return everything  # empty, null or unknown identifier: the whole batch failed
        failed.add(ident)
    return failed


def sqs_record(message: dict, queue_arn: str, region: str) -> dict:
    """A received message in the shape of a Lambda SQS event record."""
    attributes = dict(message.get("Attributes") or {})
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(
            message.get("Body", "").encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: dict) -> dict:
    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": [],
                           "dataType": value.get("DataType", "String")}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        raw = value["BinaryValue"]
        out["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
    return out


# ------------------------------------------------------------------------------------ streams


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator_type: str
    iterator: str | None = None
    started: bool = False
    closed: bool = False  # the stream said there is nothing more after the buffer
    buffer: list[dict] = field(default_factory=list)
    buffered_since: float | None = None
    last_fetched: str | None = None  # sequence number of the last record read from the stream
    checkpoint: str | None = None  # sequence number of the last record done with

    @property
    def done(self) -> bool:
        return self.closed and not self.buffer


class StreamPoller(_Poller):
    """One poller of one DynamoDB event of one function."""

    def __init__(self, mapping: StreamMapping, *, stream_arn: str, invoke: Invoke, streams: Any,
                 sqs: Any, region: str, function_arn: str, stop: threading.Event,
                 resolve_queue_url: Callable[[str], str | None], log_path: Path | None = None):
        super().__init__(f"stream-{mapping.function}-{mapping.event}", stop, log_path)
        self.mapping = mapping
        self.stream_arn = stream_arn
        self.invoke = invoke
        self.streams = streams
        self.sqs = sqs
        self.region = region
        self.function_arn = function_arn
        self.resolve_queue_url = resolve_queue_url
        self.shards: dict[str, _Shard] = {}
        self._discovered = False
        self._next_refresh = 0.0
        self.invocations = 0
        self.failures_sent = 0

    @property
    def checkpoints(self) -> dict[str, str | None]:
        return {sid: s.checkpoint for sid, s in self.shards.items()}

    def poll_once(self) -> None:
        now = time.monotonic()
        if now >= self._next_refresh:
            self._refresh_shards()
            self._next_refresh = now + SHARD_REFRESH_INTERVAL
        for shard in list(self.shards.values()):
            if self._stop_event.is_set():
                return
            if shard.done or not self._parent_done(shard):
                continue
            self._poll_shard(shard)
        self._stop_event.wait(STREAM_POLL_INTERVAL)

    def _parent_done(self, shard: _Shard) -> bool:
        parent = self.shards.get(shard.parent_id) if shard.parent_id else None
        return parent is None or parent.done

    def _refresh_shards(self) -> None:
        shards: list[dict] = []
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self.streams.describe_stream(**kwargs)["StreamDescription"]
            shards.extend(description.get("Shards") or [])
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            kwargs["ExclusiveStartShardId"] = last
        for info in shards:
            shard_id = info["ShardId"]
            if shard_id in self.shards:
                continue
            is_open = "EndingSequenceNumber" not in (info.get("SequenceNumberRange") or {})
            if not self._discovered and self.mapping.starting_position == "LATEST":
                if not is_open:
                    continue  # history before the mapping existed
                iterator_type = "LATEST"
            else:
                iterator_type = "TRIM_HORIZON"  # shards that appear later are read from the start
            self.shards[shard_id] = _Shard(shard_id, info.get("ParentShardId"), iterator_type)
        self._discovered = True

    def _poll_shard(self, shard: _Shard) -> None:
        if not shard.started:
            shard.iterator = self._iterator(shard)
            shard.started = True
        if len(shard.buffer) < self.mapping.batch_size and shard.iterator and not shard.closed:
            self._fetch(shard)
        while shard.buffer and not self._stop_event.is_set():
            if not self._window_elapsed(shard):
                return
            batch = shard.buffer[: self.mapping.batch_size]
            if not self._deliver(shard, batch, self.mapping.maximum_retry_attempts):
                return  # stopping: the rest stays unacknowledged
            del shard.buffer[: len(batch)]
            shard.buffered_since = time.monotonic() if shard.buffer else None
            if len(shard.buffer) < self.mapping.batch_size and shard.iterator:
                self._fetch(shard)

    def _window_elapsed(self, shard: _Shard) -> bool:
        window = self.mapping.batching_window
        if window <= 0 or len(shard.buffer) >= self.mapping.batch_size or shard.closed:
            return True
        return shard.buffered_since is not None and time.monotonic() - shard.buffered_since >= window

    def _iterator(self, shard: _Shard) -> str | None:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard.shard_id}
        resume_from = shard.last_fetched or shard.checkpoint
        if resume_from:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=resume_from)
        else:
            kwargs["ShardIteratorType"] = shard.iterator_type
        return self.streams.get_shard_iterator(**kwargs).get("ShardIterator")

    def _fetch(self, shard: _Shard) -> None:
        try:
            response = self.streams.get_records(ShardIterator=shard.iterator, Limit=1000)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ExpiredIteratorException",
                                                 "TrimmedDataAccessException"):
                shard.iterator = self._iterator(shard)
                return
            raise
        records = response.get("Records") or []
        if records:
            if not shard.buffer:
                shard.buffered_since = time.monotonic()
            shard.buffer.extend(stream_record(r, self.stream_arn, self.region) for r in records)
            shard.last_fetched = records[-1]["dynamodb"]["SequenceNumber"]
        shard.iterator = response.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True

    # ---------------------------------------------------------------- delivery

    def _deliver(self, shard: _Shard, batch: list[dict], retries_left: int) -> bool:
        """Process ``batch`` until every record succeeded or was sent to the on-failure destination.
        Returns False only when stopping."""
        attempt = 0
        invocations = 0
        while True:
            if self._stop_event.is_set():
                return False
            result = self.invoke(self.mapping.function, {"Records": batch})
            self.invocations += 1
            invocations += 1
            failed_at, error = stream_failure(result, batch, self.mapping.report_batch_item_failures)
            if failed_at is None:
                shard.checkpoint = batch[-1]["dynamodb"]["SequenceNumber"]
                return True
            if self._stop_event.is_set():
                return False
            if failed_at > 0:  # the records before the reported one are done
                shard.checkpoint = batch[failed_at - 1]["dynamodb"]["SequenceNumber"]
            remaining = batch[failed_at:]
            if not result.ok and self.mapping.bisect_on_error and len(remaining) > 1:
                # Splitting uses up no retry: its point is to isolate the bad record so that the
                # good ones around it get through; each half keeps the budget that was left.
                middle = len(remaining) // 2
                return (self._deliver(shard, remaining[:middle], retries_left)
                        and self._deliver(shard, remaining[middle:], retries_left))
            if retries_left == 0:
                self._give_up(shard, remaining, error, invocations)
                shard.checkpoint = remaining[-1]["dynamodb"]["SequenceNumber"]
                return True
            retries_left = retries_left - 1 if retries_left > 0 else -1
            _log_to(self.log_path, "WARNING", "stream batch failed; retrying",
                    event=self.mapping.event, shard=shard.shard_id,
                    first=remaining[0]["dynamodb"]["SequenceNumber"], error=error)
            if self._stop_event.wait(min(0.2 * 2 ** attempt, 5.0)):
                return False
            attempt += 1
            batch = remaining

    def _give_up(self, shard: _Shard, records: list[dict], error: dict, invocations: int) -> None:
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invocations,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled" if error.get("errorType") != "BatchItemFailure" else None,
            },
            "version": "1.0",
            "timestamp": _now_iso(),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _epoch_iso(first.get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": _epoch_iso(last.get("ApproximateCreationDateTime")),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
            # Not in Lambda's record (there you read the stream again); handy locally.
            "error": error,
            "records": records,
        }
        destination = self.mapping.on_failure_arn
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
        if not destination:
            _log_to(self.log_path, "ERROR", "retries exhausted and no on-failure destination: "
                    "records discarded", shard=shard.shard_id, sequenceNumbers=sequence_numbers)
            return
        url = self.resolve_queue_url(destination) if ":sqs:" in destination else None
        if url is None:
            _log_to(self.log_path, "ERROR", f"on-failure destination {destination} is not an SQS "
                    "queue known locally: records discarded", sequenceNumbers=sequence_numbers)
            return
        kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": json.dumps(message, default=str)}
        if destination.endswith(".fifo"):
            kwargs.update(MessageGroupId=shard.shard_id,
                          MessageDeduplicationId=hashlib.sha256(
                              f"{shard.shard_id}:{first['SequenceNumber']}".encode()).hexdigest())
        self.sqs.send_message(**kwargs)
        self.failures_sent += 1
        _log_to(self.log_path, "ERROR", "retries exhausted: batch sent to the on-failure destination",
                destination=destination, shard=shard.shard_id, sequenceNumbers=sequence_numbers)


def stream_failure(result: InvocationResult, batch: list[dict],
                   report: bool) -> tuple[int | None, dict]:
    """(index of the first record to retry or None when all succeeded, error description)."""
    if not result.ok:
        return 0, dict(result.error or {})
    if not report:
        return None, {}
    payload = result.payload
    if payload is None or payload == "" or payload == {}:
        return None, {}
    invalid = {"errorType": "InvalidBatchItemFailures",
               "errorMessage": "the partial batch response is not valid", "response": payload}
    if not isinstance(payload, dict):
        return 0, invalid
    failures = payload.get("batchItemFailures")
    if failures is None or failures == []:
        return None, {}
    if not isinstance(failures, list):
        return 0, invalid
    positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(batch)}
    indexes = []
    for failure in failures:
        ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not ident or ident not in positions:
            return 0, invalid
        indexes.append(positions[ident])
    return min(indexes), {"errorType": "BatchItemFailure",
                          "errorMessage": "the function reported batch item failures",
                          "itemIdentifiers": [f["itemIdentifier"] for f in failures]}


def stream_record(record: dict, stream_arn: str, region: str) -> dict:
    """A boto3 stream record -> a Lambda DynamoDB event record (JSON-ready)."""
    out = _jsonable(record)
    out.setdefault("eventSource", "aws:dynamodb")
    out.setdefault("eventVersion", "1.1")
    out["awsRegion"] = out.get("awsRegion") or region
    out["eventSourceARN"] = stream_arn
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        ts = value.timestamp()
        return int(ts) if ts.is_integer() else ts
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def _epoch_iso(value: Any) -> str | None:
    if value is None:
        return None
    return dt.datetime.fromtimestamp(float(value), dt.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
