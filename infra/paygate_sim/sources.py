"""The functions' triggers, stepped by the scheduler: the runtime's SQS pollers and stream poller
(``paygate_local.event_sources``) on moto's in-process transports, and the invocation of a handler
as Lambda does it (a crash is an invocation error; what it had written stays written)."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from paygate_sim import aws
from paygate_sim.engine import Faults, History, Scheduler, SimCrash, VirtualStop
from paygate_sim.world import World, context

from paygate_local.event_sources.moto_transports import MotoSender, MotoSqs, MotoStreams
from paygate_local.event_sources.sqs import SqsEventSource, SqsPoller
from paygate_local.event_sources.streams import StreamPoller
from paygate_local.lambda_.worker import InvocationResult
from paygate_local.observability.counters import RuntimeMeter


class SimStreams(MotoStreams):
    """The stream, read at once: the scheduler decides when the poller looks again."""

    def wait(self, seen: int, timeout: float, stop: Any) -> None:
        return None


class Invoker:
    """Runs a function's handler in this process, as one Lambda invocation."""

    def __init__(self, world: World, scheduler: Scheduler, faults: Faults, history: History):
        self.world, self.scheduler, self.faults, self.history = world, scheduler, faults, history
        self.invocations: dict[str, int] = {}
        self.crashes = 0

    def __call__(self, function: str, event: dict[str, Any]) -> InvocationResult:
        self.invocations[function] = self.invocations.get(function, 0) + 1
        outer, self.faults.crashes_on = self.faults.crashes_on, True  # an early callback runs inside another
        try:
            payload = self.world.handlers[function](event, context(function, time.time()))
        except SimCrash as crash:
            self.crashes += 1
            self._count_retry(event)
            self.history.add(self.scheduler.now, f"crash {function} {crash}")
            return InvocationResult("sim", error={"errorType": "Crash", "errorMessage": str(crash)})
        except Exception as exc:  # an unhandled error: the invocation fails, as on Lambda
            self.history.add(self.scheduler.now, f"error {function} {type(exc).__name__}")
            return InvocationResult("sim", error={"errorType": type(exc).__name__, "errorMessage": str(exc)})
        finally:
            self.faults.crashes_on = outer
        failed = payload.get("batchItemFailures") if isinstance(payload, dict) else None
        self.history.add(self.scheduler.now, f"invoke {function} records={len(event.get('Records') or [])} "
                                             f"failed={len(failed or [])}")
        return InvocationResult("sim", payload=payload)


    def _count_retry(self, event: dict[str, Any]) -> None:
        """What Lambda does next with a crashed invocation's records, counted as the fault it is."""
        records = event.get("Records") or []
        if not records:
            return
        if records[0].get("eventSource") == "aws:sqs":
            self.faults.count("sqs_redelivery_after_visibility_timeout", len(records))
        else:
            self.faults.count("stream_batch_retried")
            if len(records) > 1:
                self.faults.count("stream_batch_bisected")


class QueueSource:
    """One SQS event source mapping: the runtime's poller, receiving and processing one batch per step.
    Faults: a batch's groups handed over in another order, a delete that never lands (the message
    comes back after its visibility timeout: a duplicate delivery)."""

    def __init__(self, world: World, logical_id: str, invoke: Invoker, scheduler: Scheduler, faults: Faults,
                 meter: RuntimeMeter, interval: float):
        mapping = world.mapping(logical_id, "sqs")
        self.transport = MotoSqs(mapping.queue_arn, meter)
        self.source = SqsEventSource(mapping, self.transport, invoke=invoke, region=aws.REGION,
                                     stop=VirtualStop(scheduler))
        self.poller = SqsPoller(self.source, 0, extra=False)
        self.scheduler, self.faults, self.interval = scheduler, faults, interval
        self.name = f"poll:{logical_id}"
        self.idle_polls = 0
        self._delete = self.transport.delete
        self.transport.delete = self._lossy_delete  # type: ignore[method-assign]

    def _lossy_delete(self, handles: list[str]) -> list[dict]:
        kept = [h for h in handles if not self.faults.draw("sqs_duplicate_delivery", 0.01)]
        return self._delete(kept) if kept else []

    def start(self) -> None:
        self.scheduler.after(self.interval, self.name, self.step)

    def step(self) -> None:
        rng = self.faults.rng
        wanted = min(self.source.mapping.batch_size, 10)
        messages = self.transport.receive(rng.randint(1, wanted), 0, self.source.stop_event)
        if messages:
            self.idle_polls = 0
            if self.source.fifo and len({_group(m) for m in messages}) > 1 and self.faults.draw("reorder_across_groups", 0.3):
                order = {g: rng.random() for g in sorted({_group(m) for m in messages})}
                messages.sort(key=lambda m: order[_group(m)])  # stable: each group keeps its order
            self.poller._process(messages)
            delay = self.interval * rng.uniform(0.2, 1.0)
        else:
            self.idle_polls += 1
            delay = min(self.interval * (1 + self.idle_polls), 2.0) * rng.uniform(0.8, 1.2)
        self.scheduler.after(delay, self.name, self.step)

    def backlog(self) -> int:
        queue = self.transport.queue
        return len(queue._messages)


def _group(message: dict) -> str:
    return (message.get("Attributes") or {}).get("MessageGroupId") or ""


class StreamSource:
    """The relay's DynamoDB stream mapping: the runtime's StreamPoller, one step per poll."""

    def __init__(self, world: World, logical_id: str, invoke: Invoker, scheduler: Scheduler, faults: Faults,
                 meter: RuntimeMeter, interval: float):
        mapping = world.mapping(logical_id, "stream")
        transport = SimStreams(mapping.stream_arn, meter)
        spec = world.spec.function(logical_id)
        self.poller = StreamPoller(mapping, transport, invoke=invoke, sender=MotoSender(meter), region=aws.REGION,
                                   function_arn=spec.arn, stop=VirtualStop(scheduler))
        self.transport, self.scheduler, self.faults, self.interval = transport, scheduler, faults, interval
        self.name = f"poll:{logical_id}"

    def start(self) -> None:
        self.scheduler.after(self.interval, self.name, self.step)

    def step(self) -> None:
        self.poller.step()
        delay = self.interval * self.faults.rng.uniform(0.5, 1.5)
        if self.faults.draw("stream_late_delivery", 0.005):
            delay += 30.0
        self.scheduler.after(delay, self.name, self.step)

    def caught_up(self) -> bool:
        shard = self.transport.table.stream_shard
        end = str(shard.starting_sequence_number + len(shard.items) - 1) if shard.items else None
        return all(s.checkpoint == end and not s.buffer for s in self.poller.shards.values()) if end else True


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


Step = Callable[[], None]
