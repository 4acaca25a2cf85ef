"""Locks that moto's backends lack. Its DynamoDB backend has none: two threads of its server can
both find an item missing and both write it, so a conditional write is not atomic, and a reader can
see half a transaction. DynamoDB guarantees both; here every DynamoDB operation holds one lock,
``dynamodb_lock``. Its SQS backend has the same race: two pollers of one FIFO queue could receive
one message, or two messages of one group, at once; SQS operations on a queue are serialized too
(``sqs_lock``; a long poll, which waits inside the call, is not: only standard queues, which promise
at-least-once delivery anyway, are long-polled over HTTP)."""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable

from paygate_local.backends.moto.patches.patching import Patch

dynamodb_lock = threading.RLock()  # also taken by the capacity meter around each request
sqs_lock = threading.RLock()  # also taken by the in-process SQS transport to read a queue's state

# Every DynamoDB backend operation the gateway or the runtime's pollers use.
_SERIALIZED = (
    "put_item", "update_item", "delete_item", "get_item", "query", "scan", "batch_write_item",
    "batch_get_item", "transact_write_items", "transact_get_items", "create_table", "delete_table",
    "update_table", "describe_table",
)
_SQS_SERIALIZED = ("send_message", "send_message_batch", "delete_message", "delete_message_batch",
                   "change_message_visibility", "change_message_visibility_batch")


def install(patch: Patch) -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.sqs.models import SQSBackend

    for name in _SERIALIZED:
        patch(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name), dynamodb_lock))
    for name in _SQS_SERIALIZED:
        patch(SQSBackend, name, _locked(getattr(SQSBackend, name), sqs_lock))

    receive = SQSBackend.receive_message

    @functools.wraps(receive)
    def receive_message(self: Any, queue_name: str, count: int, wait_seconds_timeout: int, *args: Any,
                        **kwargs: Any) -> Any:
        if wait_seconds_timeout:
            return receive(self, queue_name, count, wait_seconds_timeout, *args, **kwargs)
        with sqs_lock:
            return receive(self, queue_name, count, wait_seconds_timeout, *args, **kwargs)
    patch(SQSBackend, "receive_message", receive_message)


def _locked(method: Callable[..., Any], lock: Any) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)
    return run
