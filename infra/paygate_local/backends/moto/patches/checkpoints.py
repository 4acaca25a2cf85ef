"""What the state file (``backends.moto.state``) hears: observers (``observe``) hear of every item
written or deleted, every queue whose messages changed and every message received or whose
visibility was set, so that a commit saves only what changed. A message whose visibility a consumer
set itself (a retry's backoff) is marked, so that a restore can tell it from one that was merely
received by a consumer that is gone.

The barrier (``barrier``): what the moto server calls after each request, before its answer is sent,
and the in-process transports after each call; the state file installs itself there
(``set_barrier``) to make every change durable before anyone is told of it."""

from __future__ import annotations

import functools
from typing import Any, Callable

from paygate_local.backends.moto.patches.patching import Patch, queue_by_name, queue_itself

# Called with ("item", table name, hash DynamoType, range DynamoType or None), ("queue", queue name)
# or ("message", message id), after each change (the items' under the DynamoDB lock): keep them cheap.
_observers: list[Callable[..., None]] = []
_barrier: Callable[[], None] | None = None


def set_barrier(callback: Callable[[], None] | None) -> None:
    """What ``barrier()`` runs from now on (None: nothing)."""
    global _barrier
    _barrier = callback


def barrier() -> None:
    """Return once every change made so far is durable (at once where no state file is kept)."""
    callback = _barrier
    if callback is not None:
        callback()


def observe(callback: Callable[..., None]) -> Callable[[], None]:
    """Hear of every item and queue change from now on; answers the function that stops it."""
    _observers.append(callback)
    return lambda: _observers.remove(callback) if callback in _observers else None


def changed(*what: Any) -> None:
    """Tell every observer of a change (``observe``)."""
    for callback in list(_observers):
        callback(*what)


def install_tables(patch: Patch) -> None:
    """The item observers; installed inside the DynamoDB lock, so that a checkpoint never sees half
    a change."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    put, delete, update = Table.put_item, Table.delete_item, DynamoDBBackend.update_item

    @functools.wraps(put)
    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = put(self, *args, **kwargs)
        changed("item", self.name, item.hash_key, item.range_key)
        return item

    @functools.wraps(delete)
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return delete(self, hash_key, range_key)
        finally:
            changed("item", self.name, hash_key, range_key)

    @functools.wraps(update)
    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        item = update(self, table_name, *args, **kwargs)  # an existing item is changed in place
        changed("item", table_name, item.hash_key, item.range_key)
        return item

    patch(Table, "put_item", put_item)
    patch(Table, "delete_item", delete_item)
    patch(DynamoDBBackend, "update_item", update_item)


def install_queues(patch: Patch) -> None:
    """The queue observers and the marks of a message's visibility; installed around the SQS lock."""
    from moto.sqs.models import Message, Queue, SQSBackend

    receive = SQSBackend.receive_message

    @functools.wraps(receive)
    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        before = _depth(self, queue_name)
        received: Any = None
        try:
            received = receive(self, queue_name, *args, **kwargs)
            return received
        finally:
            # Receive counts and visibility moved, or a redrive took messages away. An empty receive
            # that left the queue as it was (the pollers' idle loop) changed nothing to save.
            if received or before is None or _depth(self, queue_name) != before:
                changed("queue", queue_name)
    patch(SQSBackend, "receive_message", receive_message)

    # Received: its consumer holds it. Visibility set by the consumer itself: a backoff, kept as such.
    mark_received, change_visibility = Message.mark_received, Message.change_visibility

    @functools.wraps(mark_received)
    def received(self: Any, *args: Any, **kwargs: Any) -> None:
        mark_received(self, *args, **kwargs)
        self.paygate_visibility_set = False
        changed("message", self.id)

    @functools.wraps(change_visibility)
    def visibility_set(self: Any, *args: Any, **kwargs: Any) -> None:
        change_visibility(self, *args, **kwargs)
        self.paygate_visibility_set = True
        changed("message", self.id)

    patch(Message, "mark_received", received)
    patch(Message, "change_visibility", visibility_set)

    patch(Queue, "add_message", _observed(Queue.add_message, queue_itself))
    patch(Queue, "delete_message", _observed(Queue.delete_message, queue_itself))
    patch(SQSBackend, "change_message_visibility", _observed(SQSBackend.change_message_visibility, queue_by_name))


def _depth(backend: Any, queue_name: str) -> int | None:
    """How many messages a queue holds (None: no such queue)."""
    queue = backend.queues.get(queue_name)
    return None if queue is None else len(queue._messages)


def _observed(method: Callable[..., Any], queue_of: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            queue = queue_of(self, *args, **kwargs)
            if queue is not None:
                changed("queue", queue.name)
    return run
