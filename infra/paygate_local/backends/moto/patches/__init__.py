"""Work-arounds for moto behaviour that would make the local runtime unusable, and the hooks its
pollers and checkpoints wait on: all applied by one context manager, ``patched()``, the same way by
``paygate dev`` and by the tests. One module per purpose:

- ``locking``: the DynamoDB and SQS locks moto lacks, so a conditional write is atomic and a FIFO
  group is received by one poller (``dynamodb_lock``, ``sqs_lock``);
- ``speedups``: what moto recomputes on every request, remembered;
- ``transactions``: ``TransactWriteItems`` all or nothing, undone item by item on failure;
- ``notifications``: the channels (``changes``) the in-process pollers wait on;
- ``checkpoints``: the observers (``observe``) the state file of ``backends.moto.state`` hears, and
  the barrier (``barrier``) that makes each change durable before it is answered;
- ``version``: every patch reaches into moto's internals, so ``patched()`` refuses a moto version it
  was not written for (``UnsupportedMotoVersion``) rather than misbehave quietly.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from paygate_local.backends.moto.patches import checkpoints, locking, notifications, speedups, transactions
from paygate_local.backends.moto.patches.checkpoints import barrier, observe, set_barrier
from paygate_local.backends.moto.patches.locking import dynamodb_lock, sqs_lock
from paygate_local.backends.moto.patches.notifications import Channel, Notifier, changes
from paygate_local.backends.moto.patches.patching import Patches
from paygate_local.backends.moto.patches.version import (
    SUPPORTED_MOTO_VERSIONS,
    UnsupportedMotoVersion,
    check_moto_version,
)

__all__ = [
    "SUPPORTED_MOTO_VERSIONS", "Channel", "Notifier", "UnsupportedMotoVersion", "active", "barrier", "changes",
    "check_moto_version", "dynamodb_lock", "observe", "patched", "set_barrier", "sqs_lock",
]

_state_lock = threading.Lock()
_depth = 0
_applied = Patches()


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
                _applied.undo()


def active() -> bool:
    """True inside ``patched()`` (the in-process transports need the hooks)."""
    return _depth > 0


def _install() -> None:
    # The order is the wrappers' nesting: the item observers run under the DynamoDB lock (a
    # checkpoint never sees half a change), the queue observers and notifications after the SQS lock
    # is released (a woken poller does not wait for it).
    patch = _applied.set
    speedups.install(patch)
    transactions.install(patch)
    checkpoints.install_tables(patch)
    locking.install(patch)
    checkpoints.install_queues(patch)
    notifications.install(patch)
