"""The hooks the in-process pollers (``event_sources.transports``) wait on instead of polling: a
queue's channel in ``changes`` is notified when a message is added to it (sent, or moved there by a
redrive), deleted from it, or has its visibility changed; a table's channel when its stream gets a
record."""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable

from paygate_local.backends.moto.patches.patching import Patch, queue_by_name, queue_itself


class Channel:
    """A change counter with a condition: ``wait(seen, timeout)`` returns once the counter is no
    longer ``seen`` (or the timeout passes). Reading ``version`` before looking at the backend and
    waiting on that value means a change in between is never missed."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self.version = 0

    def notify(self) -> None:
        with self._cond:
            self.version += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float | None) -> int:
        with self._cond:
            if self.version == seen and (timeout is None or timeout > 0):
                self._cond.wait_for(lambda: self.version != seen, timeout)
            return self.version


class Notifier:
    """Channels by key: ``("sqs", queue_arn)`` or ``("stream", table_arn)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._channels: dict[tuple[str, str], Channel] = {}

    def channel(self, key: tuple[str, str]) -> Channel:
        with self._lock:
            found = self._channels.get(key)
            if found is None:
                found = self._channels[key] = Channel()
            return found

    def notify(self, key: tuple[str, str]) -> None:
        with self._lock:
            found = self._channels.get(key)
        if found is not None:  # nobody waits on a channel that was never asked for
            found.notify()


changes = Notifier()


def install(patch: Patch) -> None:
    from moto.dynamodb.models.table import StreamShard
    from moto.sqs.models import Queue, SQSBackend

    add = StreamShard.add

    @functools.wraps(add)
    def add_and_notify(self: Any, old: Any, new: Any) -> None:
        add(self, old, new)
        changes.notify(("stream", self.table.table_arn))
    patch(StreamShard, "add", add_and_notify)

    # A message added (sent, or redriven to this queue as its DLQ) may be received now or at its
    # DelaySeconds; a delete can unblock its FIFO group; a visibility change moves the moment it
    # comes back.
    patch(Queue, "add_message", _notify_after(Queue.add_message, queue_itself))
    patch(Queue, "delete_message", _notify_after(Queue.delete_message, queue_itself))
    patch(SQSBackend, "change_message_visibility", _notify_after(SQSBackend.change_message_visibility, queue_by_name))


def _notify_after(method: Callable[..., Any], queue_of: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            queue = queue_of(self, *args, **kwargs)
            if queue is not None:
                changes.notify(("sqs", queue.queue_arn))
    return run

