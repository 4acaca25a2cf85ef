"""The embedded moto backend's state, checkpointed into the state file and restored at the next start.

A checkpoint is taken at one instant, under the locks every DynamoDB and SQS operation holds
(``moto_patches``): what changed since the last one (the items written or deleted, the stream records
added, the queues whose messages moved) is copied out, then committed to the state file in one SQLite
transaction. So the file always holds the backend as it was at one moment: a payment and its stream
record, a message and the write that sent it, are saved together or not at all.

Only the stream records the event source mappings have not finished with are kept (the runtime says
how far each got): at the next start the stream holds exactly those, under their own sequence
numbers, and its mapping reads them again from the beginning. Messages come back as they were,
except that a message its consumer had received (and not deleted) is visible again at once: that
consumer died with the process. A message whose visibility the consumer set itself (a retry's
backoff) keeps its moment. Consumers are idempotent, so what is replayed after a crash is harmless.

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
from dataclasses import dataclass
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
    """Saves what changed in the template's tables and queues; ``restore()`` puts a saved state back."""

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
        self.changed = changed or threading.Event()  # set by every change: the checkpoint loop sleeps on it
        self._lock = threading.Lock()
        self._dirty_items: set[tuple[str, Any, Any]] = set()
        self._dirty_queues: set[str] = set()
        self._saved_through: dict[str, int] = {}  # table -> next stream sequence number not yet saved
        self._trimmed: dict[str, int] = {}  # table -> stream records dropped through this one
        self._unobserve = moto_patches.observe(self._on_change)

    def close(self) -> None:
        self._unobserve()

    def _on_change(self, kind: str, *what: Any) -> None:
        with self._lock:
            if kind == "item" and what[0] in self.tables:
                self._dirty_items.add(what)
            elif kind == "queue" and what[0] in self.queues:
                self._dirty_queues.add(what[0])
            else:
                return
        self.changed.set()

    # ---------------------------------------------------------------- restore

    def restore(self) -> Restored:
        """Put the saved state into the freshly provisioned (empty) tables and queues. Before the
        pollers start; the writes made here are not changes to save again."""
        from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
        from moto.dynamodb.models.table import StreamRecord
        from moto.sqs.models import Message

        began = time.monotonic()
        done = Restored()
        with moto_patches.dynamodb_lock, moto_patches.sqs_lock:
            tables = {name: self.dynamodb.get_table(name) for name in self.tables}
            for name, attrs in self.state.items():
                table = tables.get(name)
                if table is None:
                    continue  # a table the template no longer has
                hash_value = DynamoType(attrs[table.hash_key_attr])
                range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
                # What Item(hash, range, attrs) builds, without checking the item's size again at
                # each attribute (moto adds up the whole item every time: quadratic, and these items
                # passed that check when they were written).
                item = Item.__new__(Item)
                item.hash_key, item.range_key, item.attrs = hash_value, range_value, LimitedSizeDict()
                dict.update(item.attrs, {name: DynamoType(value) for name, value in attrs.items()})
                if range_value is not None:
                    table.items[hash_value][range_value] = item
                else:
                    table.items[hash_value] = item
                done.items += 1
            pending: dict[str, list[tuple[int, dict[str, Any]]]] = {}
            for name, seq, record in self.state.stream():
                pending.setdefault(name, []).append((seq, record))
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
                done.stream_records += len(records)
            for name, blob in self.state.queues().items():
                if name not in self.queues:
                    continue
                queue = self.sqs.get_queue(name)
                messages = []
                for fields in pickle.loads(blob):
                    message = Message.__new__(Message)
                    message.__dict__.update(fields)
                    if not fields.get("paygate_visibility_set"):
                        message.visible_at = 0.0  # its consumer is gone: it can be received again now
                    messages.append(message)
                queue._messages = messages
                # Still held back by its consumer's own choice (a backoff): in flight, so that a FIFO
                # group stays blocked behind it until it comes back, as before the restart.
                queue._pending_messages = {m for m in messages if m.visible_at > time.time() * 1000}
                done.messages += len(messages)
            with self._lock:  # restoring is not a change
                self._dirty_items.clear()
                self._dirty_queues.clear()
            self.changed.clear()
        done.seconds = time.monotonic() - began
        return done

    # ---------------------------------------------------------------- checkpoint

    def checkpoint(self, finished: dict[str, int | None] | None = None) -> bool:
        """Save what changed since the last checkpoint. ``finished``: per table, the last stream
        sequence number every mapping of its stream is done with (None: not known yet, keep all).
        Answers whether anything was written."""
        finished = finished or {}
        with moto_patches.dynamodb_lock, moto_patches.sqs_lock:
            with self._lock:
                dirty_items, self._dirty_items = self._dirty_items, set()
                dirty_queues, self._dirty_queues = self._dirty_queues, set()
            items = []
            for name, hash_key, range_key in dirty_items:
                found = self.dynamodb.get_table(name).get_item(hash_key, range_key)
                items.append((name, _key(hash_key, range_key), found.to_json()["Attributes"] if found else None))
            records: dict[str, list[tuple[int, dict[str, Any]]]] = {}
            next_seqs: dict[str, int] = {}
            for name in self.tables:
                shard = self.dynamodb.get_table(name).stream_shard
                if shard is None:
                    continue
                start = shard.starting_sequence_number
                saved = self._saved_through.get(name, start)
                fresh = shard.items[saved - start:]
                if fresh:
                    records[name] = [(saved + n, _record_to_json(r.record)) for n, r in enumerate(fresh)]
                next_seqs[name] = start + len(shard.items)
            queues = {name: pickle.dumps([dict(m.__dict__) for m in self.sqs.get_queue(name)._messages])
                      for name in dirty_queues}
        trims = {name: seq for name, seq in finished.items()
                 if seq is not None and name in next_seqs and seq > self._trimmed.get(name, -1)}
        if not (items or records or queues or trims):
            return False
        with self.state.transaction() as tx:
            tx.put_items(items)
            for name, fresh_records in records.items():
                tx.add_stream_records(name, fresh_records)
            for name, seq in trims.items():
                tx.drop_stream_records(name, seq)
            for name, blob in queues.items():
                tx.put_queue(name, blob)
            for name, seq in next_seqs.items():
                tx.set(f"stream.next.{name}", seq)
            tx.set(CHECKPOINT_AT, time.time())  # what a restart resumes from (tests wait for it)
        self._saved_through.update(next_seqs)
        self._trimmed.update(trims)
        return True
