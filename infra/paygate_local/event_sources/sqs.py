"""SQS event source mappings with Lambda's semantics, as poller threads over a transport
(``transports.py``). We poll the queue ourselves instead of creating a mapping in the backend:
moto's own mapping deletes messages behind our backs.

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
their redelivery after the visibility timeout can come out of order. So on moto, for each group the
first failed message is left alone (the function may have set its visibility itself, as a retry
backoff) and the group's later failed messages are made visible again at once: the group stays
blocked behind its first message, and comes back in order. Through boto3 (LocalStack) the failed
messages are left alone, as Lambda leaves them: LocalStack would unblock the group for them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

from paygate_local.event_sources.loop import Invoke, PollLoop, note
from paygate_local.event_sources.transports import LONG_POLL_SECONDS, SqsTransport
from paygate_local.lambda_.worker import InvocationResult
from paygate_local.template import SqsMapping

log = logging.getLogger(__name__)

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


class SqsPoller(PollLoop):
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
            note(self.log_path, "WARNING", "SQS batch failed; messages stay on the queue",
                 event=mapping.event, error=result.error)
        done = [m["ReceiptHandle"] for m in messages if m["MessageId"] not in failed]
        if done:
            for failure in source.transport.delete(done):
                note(self.log_path, "ERROR", "could not delete a processed SQS message", failure=failure)
        if source.fifo and failed and source.transport.reorders_fifo_redelivery:
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
