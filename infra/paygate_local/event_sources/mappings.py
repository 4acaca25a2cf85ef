"""The event sources of a stack: one poller (or, for SQS, a set of pollers) per enabled event source
mapping and schedule of each function, on the transport that fits the backend (moto's objects in
this process, or boto3), started and stopped together; and where the stream mappings had got to.

With moto in this process a stream mapping's progress is saved with moto's own state (moto_state.py
keeps only the records not yet done); with any other backend it is saved here, in the state file,
by mapping, and a restart resumes after it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from paygate_local.event_sources.boto_transports import BotoSender, BotoSqs, BotoStreams
from paygate_local.event_sources.loop import Invoke
from paygate_local.event_sources.moto_transports import MotoSender, MotoSqs, MotoStreams
from paygate_local.event_sources.schedules import SchedulePoller
from paygate_local.event_sources.sqs import (
    FIFO_MAX_POLLERS,
    STANDARD_INITIAL_POLLERS,
    STANDARD_MAX_POLLERS,
    SqsEventSource,
)
from paygate_local.event_sources.streams import StreamPoller
from paygate_local.event_sources.transports import LONG_POLL_SECONDS
from paygate_local.observability.counters import RuntimeMeter
from paygate_local.statefile import CHECKPOINT_AT, StateFile
from paygate_local.template import FunctionSpec, Schedule, SqsMapping, StreamMapping, TemplateError

log = logging.getLogger(__name__)

STREAM_POSITIONS = "stream.positions"  # in the state file: how far each stream mapping got (remote backends)

Poller = SqsEventSource | StreamPoller | SchedulePoller


def sqs_concurrency(mapping: SqsMapping) -> tuple[int, int]:
    """(pollers to start, most pollers) for one SQS event, like Lambda's scaling."""
    fifo = mapping.queue_arn.endswith(".fifo")
    most = FIFO_MAX_POLLERS if fifo else STANDARD_MAX_POLLERS
    if mapping.maximum_concurrency:
        most = min(most, mapping.maximum_concurrency)
    return (1 if fifo else min(STANDARD_INITIAL_POLLERS, most)), most


def concurrent_invocations(spec: FunctionSpec) -> int:
    """How many invocations of the function its enabled mappings can run at once."""
    most = (sum(sqs_concurrency(m)[1] for m in spec.sqs_mappings if m.enabled)
            + sum(1 for m in spec.stream_mappings if m.enabled))
    return most if spec.reserved_concurrency is None else min(most, spec.reserved_concurrency)


def schedule_interval(schedule: Schedule) -> float | None:
    """The schedule's rate, or PAYGATE_DEV_SCHEDULE_SECONDS for every schedule (to see a
    once-a-minute job run in seconds); cron() expressions are not run locally (said once)."""
    if not schedule.enabled:
        return None
    override = os.environ.get("PAYGATE_DEV_SCHEDULE_SECONDS")
    if override:
        return max(0.1, float(override))
    interval = schedule.interval()
    if interval is None:
        log.warning("%s.%s: %s is not run locally (only rate() schedules are)", schedule.function,
                    schedule.event, schedule.expression)
    return interval


class EventSources:
    """The pollers of every function's event source mappings and schedules. ``log_path(logical_id)``
    is the function's log; ``on_progress`` is called when a stream mapping's checkpoint moves."""

    def __init__(self, invoke: Invoke, *, region: str, account_id: str, meter: RuntimeMeter,
                 log_path: Callable[[str], Path], on_progress: Callable[[], None],
                 long_poll_seconds: int = LONG_POLL_SECONDS):
        self.invoke, self.region, self.account_id, self.meter = invoke, region, account_id, meter
        self.log_path, self.on_progress, self.long_poll_seconds = log_path, on_progress, long_poll_seconds
        self.pollers: list[Poller] = []
        self.stop_event = threading.Event()
        self.in_process = False
        self.client: Callable[[str], Any] | None = None
        self._queue_urls: dict[str, str] = {}  # queue ARN -> URL

    def start(self, functions: Iterable[FunctionSpec], *, in_process: bool, client: Callable[[str], Any],
              queue_urls: dict[str, str], tables_with_streams: set[str], resume_from: StateFile | None = None) -> None:
        """``in_process``: moto runs in this process (its objects are read directly); otherwise
        ``client`` (a service name -> a boto3 client of the backend) is used. ``queue_urls``: the
        template's queues by ARN; ``resume_from``: where a remote backend's stream mappings got to."""
        self.in_process, self.client, self._queue_urls = in_process, client, dict(queue_urls)
        sender = (MotoSender(self.meter) if self.in_process
                  else BotoSender(self.client("sqs"), self.queue_url, self.meter))
        for spec in functions:
            log_path = self.log_path(spec.logical_id)
            for mapping in spec.sqs_mappings:
                if mapping.enabled:
                    self.pollers.append(self._sqs(spec, mapping, log_path))
            for mapping in spec.stream_mappings:
                if not mapping.enabled:
                    continue
                if mapping.table_logical_id and mapping.table_logical_id not in tables_with_streams:
                    raise TemplateError(f"{spec.logical_id}.{mapping.event}: table "
                                        f"{mapping.table_logical_id} has no StreamSpecification")
                streams = (MotoStreams(mapping.stream_arn, self.meter) if self.in_process
                           else BotoStreams(self.client("dynamodbstreams"), mapping.stream_arn, self.meter))
                self.pollers.append(StreamPoller(
                    mapping, streams, invoke=self.invoke, sender=sender, region=self.region,
                    function_arn=spec.arn, stop=self.stop_event, log_path=log_path,
                    resume=saved_positions(resume_from, mapping, streams.stream_arn), on_progress=self.on_progress))
            for schedule in spec.schedules:
                interval = schedule_interval(schedule)
                if interval is not None:
                    self.pollers.append(SchedulePoller(
                        schedule, interval, invoke=self.invoke, region=self.region, account_id=self.account_id,
                        stop=self.stop_event, log_path=log_path))
        for poller in self.pollers:
            poller.start()

    def _sqs(self, spec: FunctionSpec, mapping: SqsMapping, log_path: Path) -> SqsEventSource:
        url = self.queue_url(mapping.queue_arn)
        if url is None:
            raise TemplateError(f"{spec.logical_id}.{mapping.event}: no queue {mapping.queue_arn}")
        transport = (MotoSqs(mapping.queue_arn, self.meter) if self.in_process
                     else BotoSqs(self.client("sqs"), url, mapping.queue_arn, self.meter, self.long_poll_seconds))
        initial, most = sqs_concurrency(mapping)
        if spec.reserved_concurrency is not None:  # Lambda scales the pollers down to what the function may run
            most = max(1, min(most, spec.reserved_concurrency))
            initial = min(initial, most)
        return SqsEventSource(mapping, transport, invoke=self.invoke, region=self.region, stop=self.stop_event,
                              log_path=log_path, initial=initial, maximum=most)

    def queue_url(self, arn: str) -> str | None:
        if arn in self._queue_urls:
            return self._queue_urls[arn]
        try:  # a queue from outside the template, in the same backend
            return self.client("sqs").get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
        except Exception:
            return None

    def wake(self) -> None:
        """Every poller stops taking work (it finishes the invocation it is in)."""
        self.stop_event.set()
        for poller in self.pollers:
            poller.wake()

    def stop(self, deadline: float) -> None:
        """No poller takes new work; each finishes the invocation it is in, until ``deadline``. A
        poller waiting in a remote long poll holds nothing: it is not waited for (its thread is a
        daemon and its poll ends by itself)."""
        self.wake()
        for poller in self.pollers:
            left = max(0.0, deadline - time.monotonic())
            if isinstance(poller, SqsEventSource) and not self.in_process:
                if not poller.wait_idle(left):
                    log.warning("%s: a batch is still being processed; it is cut off", poller.name)
                continue
            poller.join(timeout=left)
            if poller.is_alive():
                log.warning("poller %s is still in a request; it ends by itself", poller.name)

    @property
    def stream_pollers(self) -> list[StreamPoller]:
        return [p for p in self.pollers if isinstance(p, StreamPoller)]

    def finished_stream_positions(self) -> dict[str, int | None]:
        """Per table, the last stream sequence number every mapping of its stream is done with."""
        found: dict[str, int | None] = {}
        for poller in self.stream_pollers:
            table = poller.stream_arn.split(":table/", 1)[1].split("/stream/", 1)[0]
            marks = [int(seq) if seq is not None else None for seq in poller.checkpoints.values()] or [None]
            mine = None if None in marks else min(marks)  # type: ignore[type-var]
            if table in found:
                mine = None if mine is None or found[table] is None else min(mine, found[table])  # type: ignore[type-var]
            found[table] = mine
        return found

    def save_positions(self, state: StateFile) -> bool:
        """Where each stream mapping has got to, into ``state`` (False: nothing had changed)."""
        positions = {_mapping_key(p.mapping): {"stream_arn": p.stream_arn, "shards": p.checkpoints}
                     for p in self.stream_pollers}
        if positions == state.get(STREAM_POSITIONS):
            return False
        with state.transaction() as tx:
            tx.set(STREAM_POSITIONS, positions)
            tx.set(CHECKPOINT_AT, time.time())
        return True


def saved_positions(state: StateFile | None, mapping: StreamMapping, stream_arn: str) -> dict[str, str]:
    """Where this mapping had got to in a previous run (``save_positions``), by shard."""
    if state is None:
        return {}
    saved = (state.get(STREAM_POSITIONS) or {}).get(_mapping_key(mapping)) or {}
    if saved.get("stream_arn") != stream_arn:
        return {}  # another stream (the table was made anew): from its start
    return {shard: seq for shard, seq in (saved.get("shards") or {}).items() if seq}


def _mapping_key(mapping: StreamMapping) -> str:
    return f"{mapping.function}.{mapping.event}"
