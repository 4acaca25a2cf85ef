"""The seeded scheduler, the virtual clock, the fault draws, the history, and the event sources.

One thread does everything, in the order of a heap of (virtual time, sequence) steps: a client's API
request, a poll of a queue or of the stream, the reconciliation schedule, a provider callback. The
clock is time-machine's, moved to each step's time (moto reads it too: visibility timeouts, delays and
stream times are virtual). The event sources are the local runtime's own (``SqsEventSource``'s
poller for receive/invoke/delete and FIFO order, ``StreamPoller`` for batches, retries, bisection and
the on-failure destination) on moto's in-process transports, stepped by the scheduler instead of
threads."""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
import threading
from collections import Counter, deque
from datetime import datetime, timezone
from typing import Any, Callable

START = datetime(2030, 1, 1, tzinfo=timezone.utc)
WRITES = frozenset({"put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item",
                    "send_message_batch", "send_message", "change_message_visibility"})


class SimCrash(BaseException):
    """The function's process died (out of memory, timeout, host lost): nothing after runs. A
    BaseException so that no ``except Exception`` in the code under test can swallow it."""


class Faults:
    """Every fault is drawn here, from the seed, and counted by kind."""

    def __init__(self, rng: random.Random, scale: float = 1.0):
        self.rng, self.scale = rng, scale
        self.counts: Counter[str] = Counter()
        self.enabled = True
        self.crashes_on = False  # only inside a function's invocation

    def draw(self, kind: str, probability: float) -> bool:
        if not self.enabled or probability <= 0:
            return False
        if probability < 1.0 and self.rng.random() >= probability * self.scale:
            return False
        self.counts[kind] += 1
        return True

    def count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] += n

    def aws_hook(self, service: str, operation: str, phase: str) -> None:
        """A crash before the write reaches AWS, or after it landed (the caller never hears)."""
        if self.crashes_on and operation in WRITES and self.draw(f"crash_{phase}_aws_write", 0.004):
            raise SimCrash(f"{phase} {service}.{operation}")


class History:
    """What happened, step by step: hashed as it goes, the last entries kept to print around a
    violation."""

    def __init__(self, keep: int = 60):
        self._hash = hashlib.sha256()
        self.recent: deque[str] = deque(maxlen=keep)
        self.step = 0

    def add(self, now: float, text: str) -> None:
        line = f"{self.step} {now:.3f} {text}"
        self._hash.update(line.encode())
        self._hash.update(b"\n")
        self.recent.append(line)

    @property
    def digest(self) -> str:
        return self._hash.hexdigest()


class VirtualStop(threading.Event):
    """The pollers' stop flag; a wait on it (a stream retry's backoff) passes in virtual time."""

    def __init__(self, scheduler: Scheduler):
        super().__init__()
        self.scheduler = scheduler

    def wait(self, timeout: float | None = None) -> bool:
        if timeout:
            self.scheduler.advance(timeout)
        return self.is_set()


class Scheduler:
    def __init__(self, traveller: Any, history: History):
        self.traveller, self.history = traveller, history
        self.now = 0.0
        self._heap: list[tuple[float, int, str, Callable[[], None]]] = []
        self._seq = itertools.count()

    def at(self, when: float, name: str, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (max(when, self.now), next(self._seq), name, action))

    def after(self, delay: float, name: str, action: Callable[[], None]) -> None:
        self.at(self.now + delay, name, action)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.traveller.shift(seconds)

    def run_until(self, done: Callable[[], bool], limit: float) -> None:
        while self._heap and not done():
            when, _, name, action = heapq.heappop(self._heap)
            if when > limit:
                heapq.heappush(self._heap, (when, next(self._seq), name, action))
                return
            if when > self.now:
                self.advance(when - self.now)
            self.history.step += 1
            action()

    @property
    def pending(self) -> int:
        return len(self._heap)
