"""``runtime.json`` for a ``paygate dev`` whose runtime keeps no counters of its own (e.g. 5123448).

A runtime that keeps them (``paygate_local.observability.counters``, ``PAYGATE_METER=1``) writes
this file itself, with the requests of its pollers that only it can see. For one that does not,
``bench/inject/metered_dev.py`` counts from outside: the invocations and API requests around
``LambdaService.invoke`` (``invoked``, ``api_request``), and the pollers' SQS and stream requests
through a ``meter_hook.Meter`` on the dev process's own boto3 clients (``hook``). The file has the
runtime's format (``version`` 1), ``event_sources.calls`` holding the hook's other calls.
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any

from .meter_hook import Flusher, Meter

FILE_VERSION = 1
RUNTIME_FILE = "runtime.json"


class DevCounters:
    """The dev process's counters, counted from outside; written to ``path`` within 200 ms of a change."""

    def __init__(self, path: str | os.PathLike[str] | None, hook: Meter | None = None):
        self._lock = threading.Lock()
        self._lambda: dict[str, dict[str, Any]] = {}
        self._api_requests = 0
        self.hook = hook
        self._flusher = Flusher(os.fspath(path), self.snapshot) if path is not None else None
        if hook is not None:
            hook.listeners.append(self.touch)

    def invoked(self, logical_id: str, *, duration_ms: float, name: str | None = None, memory_mb: int | None = None,
                records: int = 0, error: bool = False) -> None:
        with self._lock:
            entry = self._lambda.setdefault(logical_id, {"name": name or logical_id, "memory_mb": memory_mb,
                                                         "invocations": 0, "errors": 0, "records": 0,
                                                         "duration_ms": 0.0, "billed_ms": 0})
            if memory_mb is not None:
                entry["memory_mb"] = memory_mb
            entry["invocations"] += 1
            entry["errors"] += 1 if error else 0
            entry["records"] += records
            entry["duration_ms"] += duration_ms
            entry["billed_ms"] += max(1, math.ceil(duration_ms))  # Lambda bills each started millisecond
        self.touch()

    def api_request(self) -> None:
        with self._lock:
            self._api_requests += 1
        self.touch()

    def touch(self) -> None:
        if self._flusher is not None:
            self._flusher.touch()

    def flush(self) -> None:
        if self._flusher is not None:
            self._flusher.flush()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            data: dict[str, Any] = {
                "version": FILE_VERSION, "kind": "runtime", "pid": os.getpid(), "updated": time.time(),
                "lambda": {lid: dict(entry) for lid, entry in self._lambda.items()},
                "api": {"requests": self._api_requests},
                "event_sources": {"sqs": {}, "streams": {}, "calls": {}},
            }
        if self.hook is not None:  # the pollers' requests: per queue, and every other call by operation
            seen = self.hook.snapshot()
            for queue, counts in (seen.get("sqs") or {}).items():
                merged = data["event_sources"]["sqs"].setdefault(queue, {})
                for name, value in counts.items():
                    merged[name] = merged.get(name, 0) + value
            data["event_sources"]["calls"] = seen.get("calls") or {}
        return data
