"""``<state-dir>/state.db``: what ``paygate dev`` keeps across a restart, in one SQLite file.

SQLite (standard library) in WAL mode: a write is committed atomically, a reader never sees half of
one, and a commit survives the process being killed (``synchronous=NORMAL``: only an operating
system crash can lose the last commits). Several parts of ``paygate dev`` write to it from several
threads through one connection and one lock.

Tables:
  meta      small facts by name: the file's format, the sandbox merchant and its key, the ports
  items     DynamoDB items of the embedded backend, by table and key (DynamoDB JSON)
  stream    the stream records the event source mappings have not finished with, by table
  queues    each SQS queue's messages (a pickle of moto's message state, per queue)
  sandbox   the sandbox provider's records (charges, idempotency keys, refunds...), by kind and id
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

FORMAT = 1
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
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, messages BLOB NOT NULL);
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
        elif found != FORMAT:
            raise StateFileError(f"{self.path} has state of format {found}, this paygate writes {FORMAT}: "
                                 f"start with --reset to begin again")

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

    def queues(self) -> dict[str, bytes]:
        with self._lock:
            return dict(self._db.execute("SELECT name, messages FROM queues").fetchall())

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
                    for table in ("items", "stream", "queues", "sandbox")}


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

    def put_queue(self, name: str, messages: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO queues (name, messages) VALUES (?, ?)", (name, messages))

    def set(self, name: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, json.dumps(value)))
