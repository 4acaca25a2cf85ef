"""``<state-dir>/state.db``: what ``paygate dev`` keeps across a restart, in one SQLite file.

SQLite (standard library) in WAL mode: a write is committed atomically, a reader never sees half of
one, and a commit survives the process being killed (``synchronous=NORMAL``: only an operating
system crash can lose the last commits). Several parts of ``paygate dev`` write to it from several
threads through one connection and one lock; the embedded backend commits each acknowledged change
before it is answered (``backends/moto/state.py``).

Tables:
  meta      small facts by name: the file's format, the sandbox merchant and its key, the ports
  items     DynamoDB items of the embedded backend, by table and key (DynamoDB JSON)
  stream    the stream records the event source mappings have not finished with, by table
  messages  each SQS message (a pickle of moto's message state), by queue and id, in the queue's order
            (``pos``); format 1 kept a queue's messages as one blob, migrated at open
  sandbox   the sandbox provider's records (charges, idempotency keys, refunds...), by kind and id
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

FORMAT = 2
FILE_NAME = "state.db"
CHECKPOINT_AT = "checkpoint.at"  # meta: when the last checkpoint was saved (a restart resumes from it)
SEQ_DIGITS = 40  # stream sequence numbers outgrow SQLite's integers: kept as text of this width


def _seq(number: int) -> str:
    return str(number).zfill(SEQ_DIGITS)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (tbl TEXT NOT NULL, key TEXT NOT NULL, item TEXT NOT NULL,
                                  PRIMARY KEY (tbl, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stream (tbl TEXT NOT NULL, seq TEXT NOT NULL, record TEXT NOT NULL,
                                   PRIMARY KEY (tbl, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (queue TEXT NOT NULL, id TEXT NOT NULL, pos INTEGER NOT NULL,
                                     message BLOB NOT NULL, PRIMARY KEY (queue, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sandbox (kind TEXT NOT NULL, id TEXT NOT NULL, record TEXT NOT NULL,
                                    PRIMARY KEY (kind, id)) WITHOUT ROWID;
"""


class StateFileError(RuntimeError):
    """The state file cannot be used (another format, or another backend's state)."""


class StateFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        found = self.get("format")
        if found is None:
            self.set("format", FORMAT)
        elif found == 1:
            self._from_format_1()
        elif found != FORMAT:
            raise StateFileError(f"{self.path} has state of format {found}, this paygate writes {FORMAT}: "
                                 f"start with --reset to begin again")

    def _from_format_1(self) -> None:
        """Format 1 kept each queue's messages as one pickled list: one row per message now."""
        import pickle

        with self.transaction() as tx:
            tables = {row[0] for row in self.db_rows("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "queues" in tables:
                for name, blob in self.db_rows("SELECT name, messages FROM queues"):
                    tx.put_messages(name, [(fields["id"], self.next_position() + n, pickle.dumps(fields))
                                           for n, fields in enumerate(pickle.loads(blob))])
                tx.db.execute("DROP TABLE queues")
            tx.set("format", FORMAT)

    def next_position(self) -> int:
        """A position behind every saved message's."""
        with self._lock:
            return (self._db.execute("SELECT max(pos) FROM messages").fetchone()[0] or 0) + 1

    def db_rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---------------------------------------------------------------- meta

    def get(self, name: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def set(self, name: str, value: Any) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, json.dumps(value)))

    # ---------------------------------------------------------------- one transaction

    def transaction(self) -> _Transaction:
        """``with state.transaction() as tx: tx.put_item(...)``: all of it is committed, or none."""
        return _Transaction(self)

    # ---------------------------------------------------------------- reading back

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute("SELECT tbl, item FROM items").fetchall()
        for table, item in rows:
            yield table, json.loads(item)

    def stream(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute("SELECT tbl, seq, record FROM stream ORDER BY tbl, seq").fetchall()
        for table, seq, record in rows:
            yield table, int(seq), json.loads(record)

    def messages(self) -> dict[str, list[bytes]]:
        """Each queue's saved messages, in the queue's order."""
        with self._lock:
            rows = self._db.execute("SELECT queue, message FROM messages ORDER BY queue, pos").fetchall()
        found: dict[str, list[bytes]] = {}
        for queue, message in rows:
            found.setdefault(queue, []).append(message)
        return found

    def sandbox_records(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute("SELECT kind, id, record FROM sandbox").fetchall()
        for kind, record_id, record in rows:
            yield kind, record_id, json.loads(record)

    def put_sandbox(self, kind: str, record_id: str, record: dict[str, Any]) -> None:
        """One sandbox record, committed at once (the provider writes through: a charge it answered
        is never forgotten, whatever happens to the gateway's own checkpoints)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO sandbox (kind, id, record) VALUES (?, ?, ?)",
                             (kind, record_id, json.dumps(record, separators=(",", ":"))))

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {table: self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
                    for table in ("items", "stream", "messages", "sandbox")}


class _Transaction:
    def __init__(self, state: StateFile) -> None:
        self.state = state

    def __enter__(self) -> _Transaction:
        self.state._lock.acquire()
        self.db = self.state._db
        self.db.execute("BEGIN")
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        try:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self.state._lock.release()

    def put_items(self, rows: Iterable[tuple[str, str, dict[str, Any] | None]]) -> None:
        """(table, key, item): the item as it is now, or None where it was deleted."""
        for table, key, item in rows:
            if item is None:
                self.db.execute("DELETE FROM items WHERE tbl = ? AND key = ?", (table, key))
            else:
                self.db.execute("INSERT OR REPLACE INTO items (tbl, key, item) VALUES (?, ?, ?)",
                                (table, key, json.dumps(item, separators=(",", ":"))))

    def add_stream_records(self, table: str, records: Iterable[tuple[int, dict[str, Any]]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO stream (tbl, seq, record) VALUES (?, ?, ?)",
                            [(table, _seq(seq), json.dumps(record, separators=(",", ":"), default=str))
                             for seq, record in records])

    def drop_stream_records(self, table: str, through: int) -> None:
        """The records up to ``through`` are done with (every mapping of the stream processed them)."""
        self.db.execute("DELETE FROM stream WHERE tbl = ? AND seq <= ?", (table, _seq(through)))

    def put_messages(self, queue: str, messages: Iterable[tuple[str, int, bytes]]) -> None:
        """(id, position, pickled message): a message as it is now. The position orders a queue's
        messages and is kept from the message's first save (a later one updates the message only)."""
        self.db.executemany(
            "INSERT INTO messages (queue, id, pos, message) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (queue, id) DO UPDATE SET message = excluded.message",
            [(queue, message_id, pos, message) for message_id, pos, message in messages])

    def delete_messages(self, queue: str, ids: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM messages WHERE queue = ? AND id = ?", [(queue, i) for i in ids])

    def set(self, name: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, json.dumps(value)))
