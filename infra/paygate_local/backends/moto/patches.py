"""Work-arounds for moto behaviour that would make the local runtime unusable, and the hooks its
pollers wait on: all applied by one context manager, ``patched()``, the same way by ``paygate dev``
and by the tests.

moto's DynamoDB backend has no locking: two threads of its server can both find an item missing
and both write it, so a conditional write is not atomic, and a reader can see half a transaction.
DynamoDB guarantees both; here every DynamoDB operation holds one lock. Its SQS backend has the same
race: two pollers of one FIFO queue could receive one message, or two messages of one group, at
once; SQS operations on a queue are serialized too (a long poll, which waits inside the call, is not:
only standard queues, which promise at-least-once delivery anyway, are long-polled over HTTP).

moto's server lists its own package directory (about 150 stat calls) on every request to find the
service a request is for; the list never changes while it runs, so it is computed once.

moto's ``TransactWriteItems`` deep-copies every table it touches (all items and the whole stream
history) before each transaction, to roll back on failure. Each payment change is one transaction,
so the cost of a write grows with everything written before it: after a few hundred payments a
write takes hundreds of milliseconds. Here the transaction is done the way DynamoDB defines it:
every condition is checked first, against the state before the transaction, and nothing is written
unless all pass; the rare failure while writing is undone item by item.

Hooks: a queue's channel in ``changes`` is notified when a message is added to it (sent, or moved
there by a redrive), deleted from it, or has its visibility changed; a table's channel when its
stream gets a record. The in-process pollers (``transports.py``) wait on these instead of polling.
Observers (``observe``) hear of every item written or deleted and every queue whose messages
changed (received too): the checkpoints of ``moto_state`` save only what changed. A message whose
visibility a consumer set itself (a retry's backoff) is marked, so that a restore can tell it from
one that was merely received by a consumer that is gone.

Every patch reaches into moto's internals, so ``patched()`` refuses a moto version it was not
written for (``UnsupportedMotoVersion``) rather than misbehave quietly: re-check the patches against
the new version's code, then add it to ``SUPPORTED_MOTO_VERSIONS``.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
import time
from typing import Any, Callable, Iterator

SUPPORTED_MOTO_VERSIONS = ("5.2.5",)  # requirements.lock pins moto==5.2.5


class UnsupportedMotoVersion(RuntimeError):
    """The installed moto is not one these patches were written for."""


def check_moto_version(version: str | None = None) -> None:
    """Raise ``UnsupportedMotoVersion`` unless ``version`` (default: the installed moto's) is supported."""
    if version is None:
        import moto

        version = moto.__version__
    if version not in SUPPORTED_MOTO_VERSIONS:
        raise UnsupportedMotoVersion(
            f"paygate_local.backends.moto.patches was written for moto {', '.join(SUPPORTED_MOTO_VERSIONS)}, "
            f"but moto {version} is installed: reinstall the pinned version (make setup; "
            f"requirements.lock pins moto), or review the patches against moto {version}'s code")


# ------------------------------------------------------------------------------------ notifications


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

# Called with ("item", table name, hash DynamoType, range DynamoType or None) or ("queue", queue
# name), under the backend's lock, after each change: keep them cheap.
_observers: list[Callable[..., None]] = []


def observe(callback: Callable[..., None]) -> Callable[[], None]:
    """Hear of every item and queue change from now on; answers the function that stops it."""
    _observers.append(callback)
    return lambda: _observers.remove(callback) if callback in _observers else None


def _changed(*what: Any) -> None:
    for callback in list(_observers):
        callback(*what)


# ------------------------------------------------------------------------------------ patching

dynamodb_lock = threading.RLock()  # also taken by the capacity meter around each request
sqs_lock = threading.RLock()  # also taken by the in-process SQS transport to read a queue's state
_state_lock = threading.Lock()
_depth = 0
_undo_patches: list[tuple[Any, str, Any]] = []

# Every DynamoDB backend operation the gateway or the runtime's pollers use.
_SERIALIZED = (
    "put_item", "update_item", "delete_item", "get_item", "query", "scan", "batch_write_item",
    "batch_get_item", "transact_write_items", "transact_get_items", "create_table", "delete_table",
    "update_table", "describe_table",
)
_SQS_SERIALIZED = ("send_message", "send_message_batch", "delete_message", "delete_message_batch",
                   "change_message_visibility", "change_message_visibility_batch")


@contextlib.contextmanager
def patched() -> Iterator[Notifier]:
    """Apply every patch for the duration of the block (nested blocks share one application);
    yields ``changes``, the notifier the hooks signal. Raises ``UnsupportedMotoVersion`` first."""
    global _depth
    check_moto_version()
    with _state_lock:
        if _depth == 0:
            _install()
        _depth += 1
    try:
        yield changes
    finally:
        with _state_lock:
            _depth -= 1
            if _depth == 0:
                _uninstall()


def active() -> bool:
    """True inside ``patched()`` (the in-process transports need the hooks)."""
    return _depth > 0


def _set(owner: Any, name: str, value: Any) -> None:
    _undo_patches.append((owner, name, owner.__dict__[name] if name in owner.__dict__ else _MISSING))
    setattr(owner, name, value)


_MISSING = object()


def _uninstall() -> None:
    while _undo_patches:
        owner, name, original = _undo_patches.pop()
        if original is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, original)


def _install() -> None:
    from moto import backends
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard

    modules = tuple(backends.list_of_moto_modules())
    _set(backends, "list_of_moto_modules", lambda: modules)

    # Two pure functions moto calls on every request (and, for SQS, on every queue attribute
    # read): the list of a response class's methods (inspect.getmembers, ~300 members) and the
    # snake_case of an action name. Their answers never change, so they are remembered.
    from moto.core import responses, utils
    from moto.sqs import models as sqs_models

    _set(responses, "method_names_from_class", functools.lru_cache(maxsize=None)(utils.method_names_from_class))
    snake_case = functools.lru_cache(maxsize=4096)(utils.camelcase_to_underscores)
    _set(responses, "camelcase_to_underscores", snake_case)
    _set(sqs_models, "camelcase_to_underscores", snake_case)

    _set(DynamoDBBackend, "transact_write_items", _transact_write_items)
    for name in _SERIALIZED:
        if name != "update_item":  # wrapped below, with its observer
            _set(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name), dynamodb_lock))

    from moto.dynamodb.models.table import Table

    put, delete, update = Table.put_item, Table.delete_item, DynamoDBBackend.update_item

    @functools.wraps(put)
    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = put(self, *args, **kwargs)
        _changed("item", self.name, item.hash_key, item.range_key)
        return item

    @functools.wraps(delete)
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return delete(self, hash_key, range_key)
        finally:
            _changed("item", self.name, hash_key, range_key)

    @functools.wraps(update)
    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        item = update(self, table_name, *args, **kwargs)  # an existing item is changed in place
        _changed("item", table_name, item.hash_key, item.range_key)
        return item

    _set(Table, "put_item", put_item)
    _set(Table, "delete_item", delete_item)
    _set(DynamoDBBackend, "update_item", _locked(update_item, dynamodb_lock))

    add = StreamShard.add

    @functools.wraps(add)
    def add_and_notify(self: Any, old: Any, new: Any) -> None:
        add(self, old, new)
        changes.notify(("stream", self.table.table_arn))
    _set(StreamShard, "add", add_and_notify)

    _patch_sqs()


def _unix_time(dt: Any) -> float:
    from moto.core.utils import unix_time

    return unix_time(dt)


def _locked(method: Callable[..., Any], lock: Any) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)
    return run


def _patch_sqs() -> None:
    from moto.sqs import models
    from moto.sqs.models import Queue, SQSBackend

    # moto's SQS reads the clock as datetime arithmetic (two datetimes built per call), once per
    # message per check of its visibility, and a receive checks every message of the queue a few
    # times over (through Queue.attributes, for each message it returns): under load that was a
    # third of the backend's CPU. time.time() is the same number.
    _set(models, "unix_time", lambda dt=None: time.time() if dt is None else _unix_time(dt))
    _set(models, "unix_time_millis", lambda dt=None: time.time() * 1000.0 if dt is None else _unix_time(dt) * 1000.0)

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        # The same test as moto's, without building every attribute of the queue to read one.
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > time.time()
    _set(SQSBackend, "is_message_valid_based_on_retention_period", is_message_valid_based_on_retention_period)

    receive = SQSBackend.receive_message

    @functools.wraps(receive)
    def receive_message(self: Any, queue_name: str, count: int, wait_seconds_timeout: int, *args: Any,
                        **kwargs: Any) -> Any:
        try:
            if wait_seconds_timeout:
                return receive(self, queue_name, count, wait_seconds_timeout, *args, **kwargs)
            with sqs_lock:
                return receive(self, queue_name, count, wait_seconds_timeout, *args, **kwargs)
        finally:  # receive counts and visibility moved (and a redrive may have taken messages away)
            _changed("queue", queue_name)
    _set(SQSBackend, "receive_message", receive_message)

    # Received: its consumer holds it. Visibility set by the consumer itself: a backoff, kept as such.
    from moto.sqs.models import Message

    mark_received, change_visibility = Message.mark_received, Message.change_visibility

    @functools.wraps(mark_received)
    def received(self: Any, *args: Any, **kwargs: Any) -> None:
        mark_received(self, *args, **kwargs)
        self.paygate_visibility_set = False

    @functools.wraps(change_visibility)
    def visibility_set(self: Any, *args: Any, **kwargs: Any) -> None:
        change_visibility(self, *args, **kwargs)
        self.paygate_visibility_set = True

    _set(Message, "mark_received", received)
    _set(Message, "change_visibility", visibility_set)

    for name in _SQS_SERIALIZED:
        _set(SQSBackend, name, _locked(getattr(SQSBackend, name), sqs_lock))

    # The hooks. A message added (sent, or redriven to this queue as its DLQ) may be received now
    # or at its DelaySeconds; a delete can unblock its FIFO group; a visibility change moves the
    # moment it comes back.
    def notify_after(method: Callable[..., Any], queue_of: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            finally:
                queue = queue_of(self, *args, **kwargs)
                if queue is not None:
                    _changed("queue", queue.name)
                    changes.notify(("sqs", queue.queue_arn))
        return run

    def itself(queue: Any, *args: Any, **kwargs: Any) -> Any:
        return queue

    def by_name(backend: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        return backend.queues.get(queue_name)

    _set(Queue, "add_message", notify_after(Queue.add_message, itself))
    _set(Queue, "delete_message", notify_after(Queue.delete_message, itself))
    _set(SQSBackend, "change_message_visibility",
         notify_after(SQSBackend.change_message_visibility, by_name))


def _key_of(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return op["Key"]
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()

    # 1. Check: unicity and every condition, against the state before the transaction. No writes.
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[Any, Any, Any]] = []
    plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in ("ConditionCheck", "Put", "Delete", "Update"):
            errors.append(("ValidationError", f"unsupported transaction operation {op_type}", None))
            continue
        table = self.get_table(op["TableName"])
        key = _key_of(table, op_type, op)
        marker = (op["TableName"], str(sorted(key.items())))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(condition, op.get("ExpressionAttributeNames"),
                                          op.get("ExpressionAttributeValues"))
            if not check.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                continue
        errors.append((None, None, None))
        plan.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    # 2. Write, remembering each item as it was, to undo a write that fails half-way.
    undo: list[tuple[Any, dict[str, Any], Any, int | None]] = []
    try:
        for op_type, op, key in plan:
            if op_type == "ConditionCheck":
                continue
            name = op["TableName"]
            table = self.get_table(name)
            before = self.get_item(name, key)
            shard = table.stream_shard
            undo.append((table, key, copy.deepcopy(before), len(shard.items) if shard is not None else None))
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(name, op["Item"], expression_attribute_names=names,
                              expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(name, key, expression_attribute_names=names, expression_attribute_values=values)
            else:
                self.update_item(name, key, update_expression=op["UpdateExpression"],
                                 expression_attribute_names=names, expression_attribute_values=values)
    except MockValidationException:
        _undo(undo)
        raise
    except Exception as exc:  # like moto: any other failure cancels the whole transaction
        _undo(undo)
        failed = len(undo) - 1
        raise TransactionCanceledException(
            [(type(exc).__name__, str(exc), None) if i == failed else (None, None, None)
             for i in range(len(plan))]
        ) from exc


def _undo(undo: list[tuple[Any, dict[str, Any], Any, int | None]]) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    for table, key, before, stream_length in reversed(undo):
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        if range_value is not None:
            if before is None:
                table.items[hash_value].pop(range_value, None)
            else:
                table.items[hash_value][range_value] = before
        elif before is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = before
        if stream_length is not None:
            del table.stream_shard.items[stream_length:]
        _changed("item", table.name, hash_value, range_value)
