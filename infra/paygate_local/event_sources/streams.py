"""DynamoDB stream event source mappings with Lambda's semantics, as poller threads over a
transport (``transports.py``). We poll the stream ourselves instead of creating a mapping in the
backend: moto's own mapping clears the stream behind our backs.

DynamoDB Streams (``StreamPoller``): read every shard in order (parents before children) and keep
an in-memory checkpoint per shard; in process a new record wakes the poller at once, remotely it
reads four times a second. A batch that fails is retried (``MaximumRetryAttempts``; -1 = forever);
with ``ReportBatchItemFailures`` the reported sequence number means "retry from this record"; with
``BisectBatchOnFunctionError`` a batch whose invocation fails is split in halves (recursively,
using up no retry) until the bad record is alone, and only then do retries count. When retries run
out, or a record is older than ``MaximumRecordAgeInSeconds``, a failure record goes to the on-failure
destination and the poller moves on. No record is
ever skipped without that record (or at least a log line) saying so.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from paygate_local.event_sources.loop import Invoke, PollLoop, note
from paygate_local.event_sources.transports import (
    MAX_IDLE_WAIT,
    SqsSender,
    StreamTransport,
    TrimmedPosition,
)
from paygate_local.lambda_.worker import InvocationResult
from paygate_local.template import StreamMapping


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
    # When each buffered record was first read (wall clock), where the transport's creation times are
    # coarse: MaximumRecordAgeInSeconds counts from the later of the two, never discarding a record early.
    fetched_at: dict[str, float] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.closed and not self.buffer


class StreamPoller(PollLoop):
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
            for record in batch:
                shard.fetched_at.pop(record["dynamodb"]["SequenceNumber"], None)
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
            if not self.transport.exact_creation_times:
                now = time.time()
                for r in records:
                    shard.fetched_at.setdefault(r["dynamodb"]["SequenceNumber"], now)
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
            expired = self._expired(shard, batch)
            if expired:  # MaximumRecordAgeInSeconds: discarded, to the on-failure destination
                self._give_up(shard, batch[:expired], {"errorType": "RecordAgeExceeded", "errorMessage":
                              f"older than {self.mapping.maximum_record_age} s"}, invocations, "RecordAgeExceeded")
                shard.checkpoint = batch[expired - 1]["dynamodb"]["SequenceNumber"]
                self.on_progress()
                batch = batch[expired:]
                if not batch:
                    return True
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
            note(self.log_path, "WARNING", "stream batch failed; retrying",
                 event=self.mapping.event, shard=shard.shard_id,
                 first=remaining[0]["dynamodb"]["SequenceNumber"], error=error)
            if self._stop_event.wait(min(0.2 * 2 ** attempt, 5.0)):
                return False
            attempt += 1
            batch = remaining

    def _expired(self, shard: _Shard, batch: list[dict]) -> int:
        """How many records at the batch's head are older than MaximumRecordAgeInSeconds (by their
        ApproximateCreationDateTime, or when first read if that is later and the transport's are coarse)."""
        if self.mapping.maximum_record_age < 0:
            return 0
        limit = time.time() - self.mapping.maximum_record_age
        count = 0
        for record in batch:
            created = record["dynamodb"].get("ApproximateCreationDateTime")
            if created is None or max(float(created), shard.fetched_at.get(record["dynamodb"]["SequenceNumber"], 0.0)) >= limit:
                break
            count += 1
        return count

    def _give_up(self, shard: _Shard, records: list[dict], error: dict, invocations: int,
                 condition: str = "RetryAttemptsExhausted") -> None:
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": condition,
                "approximateInvokeCount": invocations,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": None if error.get("errorType") in ("BatchItemFailure", "RecordAgeExceeded")
                else "Unhandled",
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
            note(self.log_path, "ERROR", "retries exhausted and no on-failure destination: "
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
            note(self.log_path, "ERROR", f"on-failure destination {destination} is not an SQS "
                 f"queue known locally ({exc}): records discarded", sequenceNumbers=sequence_numbers)
            return
        self.failures_sent += 1
        note(self.log_path, "ERROR", "retries exhausted: batch sent to the on-failure destination",
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


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
