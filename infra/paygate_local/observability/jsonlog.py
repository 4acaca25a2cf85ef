"""The one JSON-line writer of the local runtime.

Every line the runtime writes is one JSON object on one line with an RFC 3339 UTC ``timestamp`` to
the millisecond: its own log (``runtime.log``, through ``JsonFormatter``), the lines it adds to a
function's log beside what the function printed (a timeout, a crash, a failed batch: ``note``, with
``"source": "paygate_local"``), API Gateway's access log (``LineFile``), and the error lines of the
function's own runtime (``worker_main.py``). The log shipper (``shipper.py``), ``paygate logs`` and the
tests read them.

Stdlib only: ``worker_main.py`` loads this file by its path inside the function's interpreter, which
has no ``paygate_local``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

SOURCE = "paygate_local"  # what the runtime's own lines in a function's log say they come from


def timestamp(at: float | None = None) -> str:
    """``2026-01-31T12:00:00.123Z`` for ``at`` (epoch seconds; now by default)."""
    at = time.time() if at is None else at
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"


def line(level: str, message: str, *, at: float | None = None, **fields: Any) -> dict[str, Any]:
    """A log line: level, timestamp, message, then ``fields``."""
    return {"level": level, "timestamp": timestamp(at), "message": message, **fields}


def dumps(document: dict[str, Any]) -> str:
    """One line of JSON (anything JSON has no type for is written as its ``str``)."""
    return json.dumps(document, default=str)


def append(path: str | Path, document: dict[str, Any]) -> None:
    """Append one line to the file at ``path`` (opened and closed: several processes write there)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(dumps(document) + "\n")


def note(path: str | Path, level: str, message: str, **fields: Any) -> None:
    """A line the runtime adds to a function's log, next to what the function itself printed."""
    append(path, line(level, message, source=SOURCE, **fields))


class LineFile:
    """A JSON-lines file kept open and written under a lock (API Gateway's access log: an open and a
    close per request cost more than writing the line). Lines written after ``close`` are dropped."""

    def __init__(self, path: str | Path):
        self._lock = threading.Lock()
        self._file: Any = open(path, "a", encoding="utf-8", buffering=1)

    def write(self, document: dict[str, Any]) -> None:
        text = dumps(document) + "\n"
        with self._lock:
            if self._file is not None:
                self._file.write(text)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class JsonFormatter(logging.Formatter):
    """Python logging records as JSON lines (the runtime's own log, like the function logs beside it)."""

    def format(self, record: logging.LogRecord) -> str:
        document = line(record.levelname, record.getMessage(), at=record.created, logger=record.name)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return dumps(document)
