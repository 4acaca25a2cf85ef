"""LocalStack's state for paygate dev: saved when LocalStack stops, loaded when it starts.

What is saved: the stores of the services paygate uses (SQS queues and their messages, DynamoDB's
table metadata, DynamoDB Streams' and Kinesis' stream records of LocalStack's side), pickled with
LocalStack's own pickler, into ``PAYGATE_LOCALSTACK_STATE`` (a directory). The table items and the
stream records themselves live in DynamoDB Local's and kinesis-mock's own files, which LocalStack
keeps under its data directory when started with ``PERSISTENCE=1``.

The save happens on LocalStack's shutdown, which ``paygate dev`` brings about when it stops and also
when it dies (LocalStack is started to get SIGTERM when its parent goes). If LocalStack itself is
killed outright, nothing is saved: the next start finds no clean-shutdown mark and begins empty,
rather than with DynamoDB Local's tables but none of the rest.

Messages come back as ``paygate dev``'s own state file brings back moto's: one its consumer had
received (and not deleted) is visible again at once, since that consumer is gone with the restart;
one whose visibility the consumer set itself (a retry's backoff) keeps its moment.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import threading
from pathlib import Path

from localstack import config
from localstack.runtime import hooks
from localstack.state import pickle

LOG = logging.getLogger("paygate.localstack.state")

# service -> the module holding its store bundle, and the bundle's name
STORES = {
    "sqs": ("localstack.services.sqs.models", "sqs_stores"),
    "dynamodb": ("localstack.services.dynamodb.models", "dynamodb_stores"),
    "dynamodbstreams": ("localstack.services.dynamodbstreams.models", "dynamodbstreams_stores"),
    "kinesis": ("localstack.services.kinesis.models", "kinesis_stores"),
}
CLEAN_MARK = "clean-shutdown"


def _directory() -> Path | None:
    found = os.environ.get("PAYGATE_LOCALSTACK_STATE")
    return Path(found) if found else None


# Locks and conditions hold no state worth keeping: a fresh one on load.
def _new_lock():  # noqa: ANN202 - pickled by reference
    return threading.Lock()


def _new_rlock():  # noqa: ANN202
    return threading.RLock()


@pickle.register(type(threading.Lock()))
def _pickle_lock(pickler, obj):  # noqa: ANN001, ANN202
    pickler.save_reduce(_new_lock, (), obj=obj)


@pickle.register(type(threading.RLock()))
def _pickle_rlock(pickler, obj):  # noqa: ANN001, ANN202
    pickler.save_reduce(_new_rlock, (), obj=obj)


def _mark_visibility_changes() -> None:
    """Tell a visibility set by the consumer (ChangeMessageVisibility) from one set by a receive."""
    from localstack.services.sqs.models import SqsMessage

    if getattr(SqsMessage, "paygate_marked", False):
        return
    received, changed = SqsMessage.set_last_received, SqsMessage.update_visibility_timeout

    def set_last_received(self, timestamp):  # noqa: ANN001, ANN202
        received(self, timestamp)
        self.paygate_visibility_set = False

    def update_visibility_timeout(self, timeout):  # noqa: ANN001, ANN202
        changed(self, timeout)
        self.paygate_visibility_set = True

    SqsMessage.set_last_received = set_last_received
    SqsMessage.update_visibility_timeout = update_visibility_timeout
    SqsMessage.paygate_marked = True


def _release_received(sqs_bundle) -> None:  # noqa: ANN001
    """After a restart no consumer holds anything: received messages are visible again at once."""
    for _, _, store in sqs_bundle.iter_stores():
        for queue in store.queues.values():
            with queue.mutex:
                held = [m for m in queue.inflight if getattr(m, "paygate_visibility_set", False)]
                held_groups = {getattr(m, "message_group_id", None) for m in held} - {None}
                # One by one: LocalStack's requeue_inflight_messages stops at the first invisible
                # message of a FIFO queue, whatever its group. A message of a group that has one in a
                # backoff stays in flight behind it (SQS delivers nothing of a group while any of it
                # is in flight); LocalStack's own requeue puts it back after that one, in order.
                for message in list(queue.inflight):
                    if message in held:
                        continue
                    message.visibility_deadline = None
                    if getattr(message, "message_group_id", None) not in held_groups:
                        del queue.inflight[message]
                        queue._put_message(message)


def _bundle(service: str):  # noqa: ANN202
    module, name = STORES[service]
    return getattr(importlib.import_module(module), name)


@hooks.on_infra_start(priority=100)
def load_on_start() -> None:
    directory = _directory()
    if directory is None:
        return
    _mark_visibility_changes()
    directory.mkdir(parents=True, exist_ok=True)
    mark = directory / CLEAN_MARK
    if not mark.exists():
        if any(directory.iterdir()) or _data_left():
            LOG.warning("paygate: LocalStack did not stop cleanly last time: starting empty")
        _wipe(directory)
        return
    mark.unlink()  # from now on this state is live; a save marks it clean again
    for service in STORES:
        path = directory / f"{service}.pickle"
        if not path.exists():
            continue
        live = _bundle(service)
        with path.open("rb") as file:
            saved = pickle.load(file)
        with live.lock:
            live.__dict__.update(saved.__dict__)  # the shared attribute dicts and the lock, as saved
            dict.clear(live)
            dict.update(live, saved)
        if service == "sqs":
            _release_received(live)
        LOG.info("paygate: %s state loaded", service)


@hooks.on_infra_shutdown(priority=100)
def save_on_shutdown() -> None:
    directory = _directory()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for service in STORES:
        live = _bundle(service)
        path = directory / f"{service}.pickle"
        with live.lock, (directory / f".{service}.tmp").open("wb") as file:
            pickle.dump(live, file)
        os.replace(directory / f".{service}.tmp", path)
    (directory / CLEAN_MARK).touch()
    LOG.info("paygate: LocalStack state saved to %s", directory)


def _data_left() -> bool:
    data = config.dirs.data
    return bool(data) and Path(data).is_dir() and any(Path(data).iterdir())


def _wipe(directory: Path) -> None:
    for child in directory.iterdir():
        child.unlink() if child.is_file() else shutil.rmtree(child)
    if config.dirs.data and Path(config.dirs.data).is_dir():
        for child in Path(config.dirs.data).iterdir():
            child.unlink() if child.is_file() else shutil.rmtree(child)
