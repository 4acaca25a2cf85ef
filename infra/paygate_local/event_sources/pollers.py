"""Event source mappings with Lambda's semantics, as poller threads over a transport
(``transports.py``: moto's backend in process, woken by its hooks; or boto3 against any endpoint).

We poll the backend ourselves instead of creating mappings in it: moto's own mapping deletes
messages and clears the stream behind our backs.

SQS (``SqsEventSource``, one per mapping, with its ``SqsPoller`` threads): receive a batch (up to
BatchSize, gathering for MaximumBatchingWindowInSeconds), invoke, delete what succeeded. With
``ReportBatchItemFailures`` the listed messages stay; on a function error nothing is deleted.
Messages that stay come back after their visibility timeout and move to the DLQ through the queue's
own redrive policy (``maxReceiveCount``). Like Lambda, a mapping runs several pollers at once: a
standard queue starts with five and grows while every poller is busy and messages keep coming, so
one slow batch never holds up the others; a FIFO queue starts with one and grows the same way,
and since SQS hands each message group to one receiver at a time, the pollers that do work are
at most the groups that have messages. Extra pollers retire after an idle long poll.

For FIFO queues we work around a moto gap: when several messages of one group were in flight,
their redelivery after the visibility timeout can come out of order. So for each group the first
failed message is left alone (the function may have set its visibility itself, as a retry backoff)
and the group's later failed messages are made visible again at once: the group stays blocked
behind its first message, and comes back in order.

DynamoDB Streams (``StreamPoller``): read every shard in order (parents before children) and keep
an in-memory checkpoint per shard; in process a new record wakes the poller at once, remotely it
reads four times a second. A batch that fails is retried (``MaximumRetryAttempts``; -1 = forever);
with ``ReportBatchItemFailures`` the reported sequence number means "retry from this record"; with
``BisectBatchOnFunctionError`` a batch whose invocation fails is split in halves (recursively,
using up no retry) until the bad record is alone, and only then do retries count. When retries run
out, a failure record goes to the on-failure destination and the poller moves on. No record is
ever skipped without that record (or at least a log line) saying so.
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

from paygate_local.event_sources.transports import (
    LONG_POLL_SECONDS,
    MAX_IDLE_WAIT,
    SqsSender,
    SqsTransport,
    StreamTransport,
    TrimmedPosition,
)
from paygate_local.lambda_.workers import InvocationResult
from paygate_local.template import Schedule, SqsMapping, StreamMapping

log = logging.getLogger(__name__)

Invoke = Callable[[str, dict], InvocationResult]

# Lambda starts five pollers on a standard queue and adds more while the backlog lasts, up to 1,250
# concurrent invocations. Locally the cap is lower, but high enough that invocations held by one slow
# consumer (a webhook endpoint that takes its full 10 s, batch after batch) leave room for the others:
# the workers are forked from an initialised one, so a poller and its worker cost little, and the
# extra ones retire when idle.
STANDARD_INITIAL_POLLERS = 5
STANDARD_MAX_POLLERS = 32
FIFO_MAX_POLLERS = 5
# An extra poller retires after this long without a message.
EXTRA_POLLER_IDLE_SECONDS = float(LONG_POLL_SECONDS)


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


class _Loop:
    """A loop in its own thread until ``stop`` is set (composition, not a Thread subclass, so
    that our method names cannot clash with Thread's private ones). ``step`` returns False to end
    the loop early."""

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
                if self.step() is False:
                    return
            except Exception as exc:  # the backend hiccupped or is going away: keep polling
                if self._stop_event.is_set():
                    return
                log.exception("%s: poll failed", self.name)
                _log_to(self.log_path, "ERROR", f"{self.name}: poll failed: {exc!r}")
                self._stop_event.wait(1.0)

    def step(self) -> bool | None:
        raise NotImplementedError


# ------------------------------------------------------------------------------------ SQS


class SqsEventSource:
    """One SQS event of one function: its pollers, started with ``initial`` and grown up to
    ``maximum`` while all of them are busy."""

    def __init__(self, mapping: SqsMapping, transport: SqsTransport, *, invoke: Invoke, region: str,
                 stop: threading.Event, log_path: Path | None = None, initial: int = 1, maximum: int = 1):
        self.mapping = mapping
        self.transport = transport
        self.fifo = transport.fifo
        self.invoke = invoke
        self.region = region
        self.stop_event = stop
        self.log_path = log_path
        self.initial = max(1, min(initial, maximum))
        self.maximum = max(1, maximum)
        self.name = f"sqs-{mapping.function}-{mapping.event}"
        self._lock = threading.Condition()
        self._pollers: list[SqsPoller] = []
        self._busy = 0
        self._next_index = 0
        self.invocations = 0
        self.peak_pollers = 0

    def start(self) -> None:
        for _ in range(self.initial):
            self._spawn(extra=False)

    def _spawn(self, extra: bool) -> None:
        with self._lock:
            poller = SqsPoller(self, self._next_index, extra)
            self._next_index += 1
            self._pollers.append(poller)
            self.peak_pollers = max(self.peak_pollers, len(self._pollers))
        poller.start()

    @property
    def pollers(self) -> list[SqsPoller]:
        with self._lock:
            return list(self._pollers)

    def batch_started(self) -> None:
        """A poller has messages: if every poller is now busy, there is a backlog to scale for."""
        with self._lock:
            self._busy += 1
            grow = self._busy >= len(self._pollers) < self.maximum
        if grow and not self.stop_event.is_set():
            self._spawn(extra=True)

    def batch_done(self) -> None:
        with self._lock:
            self._busy -= 1
            self.invocations += 1
            self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Until no batch is being processed (a poller waiting in a long poll holds none)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._busy == 0, max(0.0, timeout))

    def retire(self, poller: SqsPoller) -> bool:
        """An idle extra poller asks to end; the initial ones always stay."""
        with self._lock:
            if len(self._pollers) <= self.initial:
                return False
            self._pollers.remove(poller)
            return True

    def wake(self) -> None:
        self.transport.wake()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for poller in self.pollers:
            poller.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def is_alive(self) -> bool:
        return any(p.is_alive() for p in self.pollers)


class SqsPoller(_Loop):
    """One poller thread of an ``SqsEventSource``."""

    def __init__(self, source: SqsEventSource, index: int, extra: bool):
        super().__init__(f"{source.name}-{index}", source.stop_event, source.log_path)
        self.source = source
        self.extra = extra
        self._idle_since = time.monotonic()

    def step(self) -> bool | None:
        source = self.source
        messages = self._receive()
        if not messages:
            if self.extra and time.monotonic() - self._idle_since >= EXTRA_POLLER_IDLE_SECONDS:
                return not source.retire(self)
            return None
        if self._stop_event.is_set():
            # Received while stopping (a long poll in flight ends by itself): leave them in flight.
            # Handing them back would only bounce them between the other pollers' long polls, each
            # receive counting towards the queue's maxReceiveCount until SQS dead-letters a message
            # no function ever saw. In flight they are what the next start makes visible again at
            # once (moto's restore, our LocalStack plugin), and any other backend after the
            # visibility timeout, as Lambda's own pollers leave them when they go away.
            return False
        source.batch_started()
        try:
            self._process(messages)
        finally:
            source.batch_done()
            self._idle_since = time.monotonic()
        return None

    def _receive(self) -> list[dict]:
        mapping, transport = self.source.mapping, self.source.transport
        wanted = mapping.batch_size
        messages = transport.receive(min(wanted, 10), LONG_POLL_SECONDS, self._stop_event)
        window = mapping.batching_window
        if messages and window > 0:
            deadline = time.monotonic() + window
            while len(messages) < wanted and not self._stop_event.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                messages.extend(transport.receive(min(wanted - len(messages), 10), left, self._stop_event))
        return messages

    def _process(self, messages: list[dict]) -> None:
        source = self.source
        mapping = source.mapping
        event = {"Records": [sqs_record(m, mapping.queue_arn, source.region) for m in messages]}
        result = source.invoke(mapping.function, event)
        failed = failed_message_ids(result, messages, mapping.report_batch_item_failures)
        if not result.ok:
            _log_to(self.log_path, "WARNING", "SQS batch failed; messages stay on the queue",
                    event=mapping.event, error=result.error)
        done = [m["ReceiptHandle"] for m in messages if m["MessageId"] not in failed]
        if done:
            for failure in source.transport.delete(done):
                _log_to(self.log_path, "ERROR", "could not delete a processed SQS message", failure=failure)
        if source.fifo and failed:
            self._keep_group_order(messages, failed)

    def _keep_group_order(self, messages: list[dict], failed: set[str]) -> None:
        """Leave each group's first failed message as it is; release the group's later ones."""
        seen_groups: set[str] = set()
        release = []
        for message in messages:
            if message["MessageId"] not in failed:
                continue
            group = (message.get("Attributes") or {}).get("MessageGroupId")
            if group in seen_groups:
                release.append((message["ReceiptHandle"], 0))
            else:
                seen_groups.add(group)
        if release:
            for failure in self.source.transport.change_visibility(release):
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
    iterator: Any = None
    started: bool = False
    closed: bool = False  # the stream said there is nothing more after the buffer
    buffer: list[dict] = field(default_factory=list)
    buffered_since: float | None = None
    last_fetched: str | None = None  # sequence number of the last record read from the stream
    checkpoint: str | None = None  # sequence number of the last record done with

    @property
    def done(self) -> bool:
        return self.closed and not self.buffer


class SchedulePoller(_Loop):
    """A ``Schedule`` event: the function invoked with EventBridge's scheduled event, once per
    interval, first one interval after the start. It sleeps on the stop event between runs: an idle
    gateway does not wake up for it more than the schedule says."""

    def __init__(self, schedule: Schedule, interval: float, *, invoke: Invoke, region: str, account_id: str,
                 stop: threading.Event, log_path: Path | None = None):
        super().__init__(f"schedule-{schedule.function}-{schedule.event}", stop, log_path)
        self.schedule, self.interval, self.invoke = schedule, interval, invoke
        self.region, self.account_id = region, account_id
        self.invocations = 0
        self._due = time.monotonic() + interval

    def wake(self) -> None:
        pass  # it waits on the stop event itself

    def step(self) -> bool | None:
        if self._stop_event.wait(max(0.0, self._due - time.monotonic())):
            return False
        self._due = max(self._due + self.interval, time.monotonic())
        result = self.invoke(self.schedule.function, scheduled_event(self.schedule, self.region, self.account_id))
        self.invocations += 1
        if not result.ok:
            _log_to(self.log_path, "WARNING", "scheduled invocation failed", event=self.schedule.event,
                    error=result.error)
        return None


def scheduled_event(schedule: Schedule, region: str, account_id: str) -> dict[str, Any]:
    """What EventBridge sends a function on a schedule."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": account_id, "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account_id}:rule/{schedule.function}-{schedule.event}"],
        "detail": {},
    }


class StreamPoller(_Loop):
    """One poller of one DynamoDB event of one function."""

    def __init__(self, mapping: StreamMapping, transport: StreamTransport, *, invoke: Invoke,
                 sender: SqsSender, region: str, function_arn: str, stop: threading.Event,
                 log_path: Path | None = None, resume: dict[str, str] | None = None,
                 on_progress: Callable[[], None] | None = None):
        super().__init__(f"stream-{mapping.function}-{mapping.event}", stop, log_path)
        self.mapping = mapping
        self.transport = transport
        self.stream_arn = transport.stream_arn
        self.invoke = invoke
        self.sender = sender
        self.region = region
        self.function_arn = function_arn
        self.shards: dict[str, _Shard] = {}
        self._discovered = False
        self.invocations = 0
        self.failures_sent = 0
        # Where a previous run of this mapping had got to, by shard (a restart resumes after it), and
        # who to tell when a checkpoint moves (so that the runtime saves it).
        self.resume = dict(resume or {})
        self.on_progress = on_progress or (lambda: None)

    @property
    def checkpoints(self) -> dict[str, str | None]:
        return {sid: s.checkpoint for sid, s in self.shards.items()}

    def wake(self) -> None:
        self.transport.wake()

    def step(self) -> None:
        seen = self.transport.version()  # before reading: a record appended from now on wakes us
        if self.transport.refresh_due():
            self._refresh_shards()
        wait = MAX_IDLE_WAIT
        for shard in list(self.shards.values()):
            if self._stop_event.is_set():
                return
            if shard.done or not self._parent_done(shard):
                continue
            wait = min(wait, self._poll_shard(shard))
        self.transport.wait(seen, wait, self._stop_event)

    def _parent_done(self, shard: _Shard) -> bool:
        parent = self.shards.get(shard.parent_id) if shard.parent_id else None
        return parent is None or parent.done

    def _refresh_shards(self) -> None:
        for info in self.transport.shards():
            if info.shard_id in self.shards:
                continue
            if not self._discovered and self.mapping.starting_position == "LATEST":
                if not info.open:
                    continue  # history before the mapping existed
                iterator_type = "LATEST"
            else:
                iterator_type = "TRIM_HORIZON"  # shards that appear later are read from the start
            self.shards[info.shard_id] = _Shard(info.shard_id, info.parent_id, iterator_type,
                                                checkpoint=self.resume.get(info.shard_id))
        self._discovered = True

    def _poll_shard(self, shard: _Shard) -> float:
        """Deliver what the shard has; returns how long until it needs looking at again (the rest
        of a batching window) or MAX_IDLE_WAIT when only a new record can change anything."""
        if not shard.started:
            shard.iterator = self._iterator(shard)
            shard.started = True
        if len(shard.buffer) < self.mapping.batch_size and shard.iterator is not None and not shard.closed:
            self._fetch(shard)
        while shard.buffer and not self._stop_event.is_set():
            left = self._window_left(shard)
            if left > 0:
                return left
            batch = shard.buffer[: self.mapping.batch_size]
            if not self._deliver(shard, batch, self.mapping.maximum_retry_attempts):
                return 0  # stopping: the rest stays unacknowledged
            del shard.buffer[: len(batch)]
            shard.buffered_since = time.monotonic() if shard.buffer else None
            if len(shard.buffer) < self.mapping.batch_size and shard.iterator is not None:
                self._fetch(shard)
        return MAX_IDLE_WAIT

    def _window_left(self, shard: _Shard) -> float:
        window = self.mapping.batching_window
        if window <= 0 or len(shard.buffer) >= self.mapping.batch_size or shard.closed:
            return 0
        return max(0.0, window - (time.monotonic() - (shard.buffered_since or 0)))

    def _iterator(self, shard: _Shard) -> Any:
        resume_from = shard.last_fetched or shard.checkpoint
        if resume_from:
            return self.transport.iterator(shard.shard_id, "AFTER_SEQUENCE_NUMBER", resume_from)
        return self.transport.iterator(shard.shard_id, shard.iterator_type)

    def _fetch(self, shard: _Shard) -> None:
        try:
            records, shard.iterator = self.transport.read(shard.iterator, 1000)
        except TrimmedPosition:
            shard.iterator = self._iterator(shard)
            return
        if records:
            if not shard.buffer:
                shard.buffered_since = time.monotonic()
            json_ready = self.transport.json_ready
            shard.buffer.extend(stream_record(r, self.stream_arn, self.region, json_ready) for r in records)
            shard.last_fetched = records[-1]["dynamodb"]["SequenceNumber"]
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
                self.on_progress()
                return True
            if self._stop_event.is_set():
                return False
            if failed_at > 0:  # the records before the reported one are done
                shard.checkpoint = batch[failed_at - 1]["dynamodb"]["SequenceNumber"]
                self.on_progress()
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
                self.on_progress()
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
        group = dedup = None
        if destination.endswith(".fifo"):
            group = shard.shard_id
            dedup = hashlib.sha256(f"{shard.shard_id}:{first['SequenceNumber']}".encode()).hexdigest()
        try:
            if ":sqs:" not in destination:
                raise LookupError(f"{destination} is not an SQS queue")
            self.sender.send(destination, json.dumps(message, default=str), group, dedup)
        except LookupError as exc:
            _log_to(self.log_path, "ERROR", f"on-failure destination {destination} is not an SQS "
                    f"queue known locally ({exc}): records discarded", sequenceNumbers=sequence_numbers)
            return
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


def stream_record(record: dict, stream_arn: str, region: str, json_ready: bool = False) -> dict:
    """A stream record (boto3's, or moto's own) -> a Lambda DynamoDB event record (JSON-ready).

    ``json_ready``: the record holds JSON types only (the in-process transport's): copied shallowly
    instead of walked, since nothing below the top level is changed."""
    out = dict(record) if json_ready else _jsonable(record)
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
        if value.tzinfo is None:  # moto's own records carry naive UTC datetimes
            value = value.replace(tzinfo=dt.timezone.utc)
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
