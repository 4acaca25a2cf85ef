"""The embedded moto backend's state in the state file: every change durable before it is answered,
and restored at the next start.

Acknowledged means durable. Every change moto makes to the template's tables and queues is heard
(``moto_patches.observe``) and numbered; ``make_durable()`` commits everything changed so far to the
state file in one SQLite transaction (WAL, ``synchronous=NORMAL``: it survives the process being
killed) before it returns. The moto server calls it after each request and before the answer is sent,
and the in-process transports after each of their calls and before a function sees what they read:
so nothing that any client, function or provider was told had happened is lost by a SIGKILL of
``paygate dev``, and no function acts on a stream record or message that a crash could take back.
Concurrent requests share one commit (group commit): whoever commits first takes every change made
so far, and a request whose changes are already committed does not wait for another commit.

A commit copies the changes out at one instant, under the locks every DynamoDB and SQS operation
holds, then writes them outside those locks: the file always holds the backend as it was at one
moment, a payment together with its stream record, a message together with the write that sent it.
What it writes: the items written or deleted (a row per item), the stream records appended, and per
queue the messages sent, received (their receive counts: a crash never lets a poison message start
its count again), deleted or whose visibility was set (a row per message, in the queue's order).

Only the stream records the event source mappings have not finished with are kept: the periodic
``checkpoint(finished)`` drops what every mapping is done with. At the next start the stream holds
exactly those, under their own sequence numbers, and its mapping reads them again from the
beginning. Messages come back as they were, except that a message its consumer had received (and not
deleted) is visible again at once: that consumer died with the process. A message whose visibility
the consumer set itself (a retry's backoff) keeps its moment. Consumers are idempotent, so what is
replayed after a crash is harmless.

Everything here reaches into moto's internals: ``moto_patches.patched()`` (which checks the moto
version) must be in force.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import pickle
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from paygate_local.backends.moto import patches as moto_patches
from paygate_local.statefile import CHECKPOINT_AT, StateFile

log = logging.getLogger(__name__)


@dataclass
class Restored:
    items: int = 0
    stream_records: int = 0
    messages: int = 0
    seconds: float = 0.0


@dataclass
class _Changes:
    """What one commit writes, copied out of moto under its locks."""

    items: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    records: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    next_seqs: dict[str, int] = field(default_factory=dict)
    messages: dict[str, list[tuple[str, int, bytes]]] = field(default_factory=dict)
    removed: dict[str, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.items or self.records or any(self.messages.values()) or any(self.removed.values()))


def _key(hash_key: Any, range_key: Any) -> str:
    return item_key(hash_key.to_json(), range_key.to_json() if range_key is not None else None)


def item_key(hash_value: dict[str, Any], range_value: dict[str, Any] | None) -> str:
    """An item's row key in the state file, from its key attributes' DynamoDB JSON."""
    return json.dumps([hash_value, range_value], sort_keys=True, separators=(",", ":"))


def _record_to_json(record: dict[str, Any]) -> dict[str, Any]:
    stream = dict(record["dynamodb"])
    when = stream.get("ApproximateCreationDateTime")
    if isinstance(when, dt.datetime):
        stream["ApproximateCreationDateTime"] = when.replace(tzinfo=dt.timezone.utc).timestamp()
    return {**record, "dynamodb": stream}


def _record_from_json(record: dict[str, Any]) -> dict[str, Any]:
    stream = dict(record["dynamodb"])
    when = stream.get("ApproximateCreationDateTime")
    if isinstance(when, (int, float)):  # moto keeps a naive UTC datetime there
        stream["ApproximateCreationDateTime"] = dt.datetime.fromtimestamp(when, dt.timezone.utc).replace(tzinfo=None)
    return {**record, "dynamodb": stream}


class MotoCheckpointer:
    """Makes the template's tables and queues durable as they change; ``restore()`` puts a saved
    state back. ``install()`` makes it the backend's barrier (``moto_patches.barrier``)."""

    def __init__(self, state: StateFile, *, account_id: str, region: str, tables: list[str],
                 queues: list[str], changed: threading.Event | None = None) -> None:
        from moto.dynamodb.models import dynamodb_backends
        from moto.sqs.models import sqs_backends

        if not moto_patches.active():
            raise RuntimeError("moto_state needs moto_patches.patched()")
        self.state = state
        self.dynamodb = dynamodb_backends[account_id][region]
        self.sqs = sqs_backends[account_id][region]
        self.tables, self.queues = set(tables), set(queues)
        self.changed = changed or threading.Event()  # set by every change: the compaction loop sleeps on it
        self.commits = 0  # transactions written (each may hold the changes of many requests)
        self._lock = threading.Lock()  # the dirty sets and the change counter
        self._commit_lock = threading.Lock()  # one commit at a time
        self._seq = 0  # changes heard so far
        self._durable = 0  # changes committed to the state file
        self._dirty_items: set[tuple[str, Any, Any]] = set()
        self._dirty_queues: set[str] = set()
        self._touched: set[str] = set()  # messages received or whose visibility was set
        self._saved_ids: dict[str, set[str]] = {}  # queue -> ids of the messages the file holds
        self._next_position = state.next_position()
        self._saved_through: dict[str, int] = {}  # table -> next stream sequence number not yet saved
        self._trimmed: dict[str, int] = {}  # table -> stream records dropped through this one
        self._unobserve = moto_patches.observe(self._on_change)

    def install(self) -> None:
        """From now on the moto server and the in-process transports wait for this file."""
        moto_patches.set_barrier(self.make_durable)

    def close(self) -> None:
        moto_patches.set_barrier(None)
        self._unobserve()

    def _on_change(self, kind: str, *what: Any) -> None:
        with self._lock:
            if kind == "item" and what[0] in self.tables:
                self._dirty_items.add(what)
            elif kind == "queue" and what[0] in self.queues:
                self._dirty_queues.add(what[0])
            elif kind == "message":
                self._touched.add(what[0])
            else:
                return
            self._seq += 1
        self.changed.set()

    # ---------------------------------------------------------------- durability

    def make_durable(self) -> None:
        """Return once every change heard so far is in the state file (committing it, or waiting
        for the commit under way that holds it)."""
        target = self._seq
        if self._durable >= target:
            return
        with self._commit_lock:
            if self._durable < target:
                self._commit({})

    def checkpoint(self, finished: dict[str, int | None] | None = None) -> bool:
        """Commit what changed, and drop the stream records every mapping is done with.
        ``finished``: per table, the last stream sequence number every mapping of its stream is done
        with (None: not known yet, keep all). Answers whether anything was written."""
        with self._commit_lock:
            return self._commit(finished or {})

    def _commit(self, finished: dict[str, int | None]) -> bool:
        with moto_patches.dynamodb_lock, moto_patches.sqs_lock:
            with self._lock:
                upto = self._seq
                dirty_items, self._dirty_items = self._dirty_items, set()
                dirty_queues, self._dirty_queues = self._dirty_queues, set()
                touched, self._touched = self._touched, set()
            changes = _Changes()
            for name, hash_key, range_key in dirty_items:
                found = self.dynamodb.get_table(name).get_item(hash_key, range_key)
                changes.items.append((name, _key(hash_key, range_key),
                                      found.to_json()["Attributes"] if found else None))
            self._copy_stream_records(changes)
            for name in dirty_queues:
                self._copy_messages(name, touched, changes)
        trims = {name: seq for name, seq in finished.items()
                 if seq is not None and name in changes.next_seqs and seq > self._trimmed.get(name, -1)}
        if not changes and not trims:
            self._durable = upto
            return False
        with self.state.transaction() as tx:
            tx.put_items(changes.items)
            for name, fresh_records in changes.records.items():
                tx.add_stream_records(name, fresh_records)
            for name, seq in trims.items():
                tx.drop_stream_records(name, seq)
            for name, rows in changes.messages.items():
                tx.put_messages(name, rows)
            for name, ids in changes.removed.items():
                tx.delete_messages(name, ids)
            for name, seq in changes.next_seqs.items():
                if seq != self._saved_through.get(name):
                    tx.set(f"stream.next.{name}", seq)
            tx.set(CHECKPOINT_AT, time.time())  # what a restart resumes from (tests wait for it)
        self._saved_through.update(changes.next_seqs)
        self._trimmed.update(trims)
        self._durable = upto
        self.commits += 1
        return True

    def _copy_stream_records(self, changes: _Changes) -> None:
        for name in self.tables:
            shard = self.dynamodb.get_table(name).stream_shard
            if shard is None:
                continue
            start = shard.starting_sequence_number
            saved = self._saved_through.get(name, start)
            fresh = shard.items[saved - start:]
            if fresh:
                changes.records[name] = [(saved + n, _record_to_json(r.record)) for n, r in enumerate(fresh)]
            changes.next_seqs[name] = start + len(shard.items)

    def _copy_messages(self, name: str, touched: set[str], changes: _Changes) -> None:
        """A queue's new and changed messages (in its order), and those gone from it."""
        current = {m.id: m for m in self.sqs.get_queue(name)._messages}
        saved = self._saved_ids.setdefault(name, set())
        rows = []
        for message_id, message in current.items():
            if message_id not in saved or message_id in touched:
                rows.append((message_id, self._next_position, pickle.dumps(dict(message.__dict__))))
                self._next_position += 1
        changes.messages[name] = rows
        changes.removed[name] = [i for i in saved if i not in current]
        self._saved_ids[name] = set(current)

    # ---------------------------------------------------------------- restore

    def restore(self) -> Restored:
        """Put the saved state into the freshly provisioned (empty) tables and queues. Before the
        pollers start; the writes made here are not changes to save again."""
        began = time.monotonic()
        done = Restored()
        with moto_patches.dynamodb_lock, moto_patches.sqs_lock:
            tables = {name: self.dynamodb.get_table(name) for name in self.tables}
            done.items = self._restore_items(tables)
            done.stream_records = self._restore_streams(tables)
            done.messages = self._restore_messages()
            with self._lock:  # restoring is not a change
                self._dirty_items.clear()
                self._dirty_queues.clear()
                self._touched.clear()
                self._durable = self._seq
            self.changed.clear()
        done.seconds = time.monotonic() - began
        return done

    def _restore_items(self, tables: dict[str, Any]) -> int:
        from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

        count = 0
        for name, attrs in self.state.items():
            table = tables.get(name)
            if table is None:
                continue  # a table the template no longer has
            hash_value = DynamoType(attrs[table.hash_key_attr])
            range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            # What Item(hash, range, attrs) builds, without checking the item's size again at each
            # attribute (moto adds up the whole item every time: quadratic, and these items passed
            # that check when they were written).
            item = Item.__new__(Item)
            item.hash_key, item.range_key, item.attrs = hash_value, range_value, LimitedSizeDict()
            dict.update(item.attrs, {name: DynamoType(value) for name, value in attrs.items()})
            if range_value is not None:
                table.items[hash_value][range_value] = item
            else:
                table.items[hash_value] = item
            count += 1
        return count

    def _restore_streams(self, tables: dict[str, Any]) -> int:
        from moto.dynamodb.models.table import StreamRecord

        pending: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for name, seq, record in self.state.stream():
            pending.setdefault(name, []).append((seq, record))
        count = 0
        for name, table in tables.items():
            shard = table.stream_shard
            if shard is None:
                continue
            records = pending.get(name, [])
            next_seq = self.state.get(f"stream.next.{name}") or shard.starting_sequence_number
            shard.starting_sequence_number = records[0][0] if records else next_seq
            shard.items = []
            for _, record in records:
                restored = StreamRecord.__new__(StreamRecord)
                restored.record = _record_from_json(record)
                shard.items.append(restored)
            self._saved_through[name] = shard.starting_sequence_number + len(shard.items)
            count += len(records)
        return count

    def _restore_messages(self) -> int:
        from moto.sqs.models import Message

        count = 0
        for name, blobs in self.state.messages().items():
            if name not in self.queues:
                continue
            queue = self.sqs.get_queue(name)
            messages = []
            for blob in blobs:
                fields = pickle.loads(blob)
                message = Message.__new__(Message)
                message.__dict__.update(fields)
                if not fields.get("paygate_visibility_set"):
                    message.visible_at = 0.0  # its consumer is gone: it can be received again now
                messages.append(message)
            queue._messages = messages
            # Still held back by its consumer's own choice (a backoff): in flight, so that a FIFO
            # group stays blocked behind it until it comes back, as before the restart.
            queue._pending_messages = {m for m in messages if m.visible_at > time.time() * 1000}
            self._saved_ids[name] = {m.id for m in messages}
            count += len(messages)
        return count
