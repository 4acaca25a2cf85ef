"""What ``paygate dev`` itself counts for ``make bench``, written to ``<state-dir>/meter/runtime.json``.

Metering is on when ``PAYGATE_METER=1``. Everything metered lands in one directory (``meter_dir``):
``runtime.json`` from the dev process (this module), ``calls-<function>-<pid>.json`` from each
function worker (``meter_hook``) and ``capacity-<pid>.json`` from wherever moto's DynamoDB runs
(``capacity``). The bench reads the directory before and after a run and divides the difference by
the payments made.

``runtime.json`` (``version`` 1)::

    {"version": 1, "kind": "runtime", "pid": 1234, "updated": 1700000000.0,
     "lambda": {"ApiFunction": {"name": "paygate-ApiFunction", "memory_mb": 512, "invocations": 3,
                                "errors": 0, "records": 0, "duration_ms": 41.5, "billed_ms": 43}},
     "api": {"requests": 3},
     "event_sources": {"sqs": {"paygate-commands.fifo": {"requests": 4, "billed_requests": 4,
                                                        "messages_received": 2, "empty_receives": 1,
                                                        "operations": {"ReceiveMessage": 3, "DeleteMessageBatch": 1}}},
                       "streams": {"GetRecords": 12}, "calls": {}}}

``lambda`` is keyed by logical id; ``records`` counts the SQS messages or stream records the
invocations carried (an API invocation carries none). ``event_sources.sqs`` counts the requests the
event source mappings (the pollers) make to each queue, as AWS bills them to the account:
``empty_receives`` are the receives that returned nothing, billed too, but by the hour rather than
per payment; ``event_sources.streams`` counts the mappings' DynamoDB Streams requests (free on AWS).
Stdlib only.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

try:
    from paygate_local.metering.meter_hook import Flusher, write_json_atomically
except ImportError:  # pragma: no cover - loaded from its file, next to meter_hook.py
    from meter_hook import Flusher, write_json_atomically  # type: ignore[no-redef]

FILE_VERSION = 1
METER_ENV = "PAYGATE_METER"  # "1": paygate dev meters itself
METER_DIR_ENV = "PAYGATE_METER_DIR"  # set by the runtime for the workers: where their calls files go
RUNTIME_FILE = "runtime.json"


def metering_requested(environ: dict[str, str] | None = None) -> bool:
    return (environ if environ is not None else os.environ).get(METER_ENV, "") == "1"


def meter_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / "meter"


def write_runtime_meter(path: str | os.PathLike[str], counters: dict[str, Any]) -> None:
    """Write ``counters`` (the ``lambda``, ``api``, ``event_sources`` sections) as runtime.json, atomically."""
    data = {"version": FILE_VERSION, "kind": "runtime", "pid": os.getpid(), "updated": time.time(), **counters}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(os.fspath(path), data)


class RuntimeMeter:
    """The dev process's counters, written to ``path`` within 200 ms of each change (never when idle).

    The runtime calls ``invoked`` after each invocation and ``sqs_request`` for each request its
    pollers make to a queue; ``sources`` are extra callables whose dicts are merged into the file
    (``event_sources.calls``: e.g. a meter_hook counting the dev process's own boto3 calls).
    """

    def __init__(self, path: str | os.PathLike[str] | None, sources: dict[str, Callable[[], Any]] | None = None):
        self._lock = threading.Lock()
        self._lambda: dict[str, dict[str, Any]] = {}
        self._api_requests = 0
        self._sqs: dict[str, dict[str, Any]] = {}
        self._streams: dict[str, int] = {}
        self.sources = dict(sources or {})
        self._flusher = Flusher(os.fspath(path), self.snapshot) if path is not None else None

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
        """A request to the API, answered by a function or not (404, 413...): API Gateway bills each."""
        with self._lock:
            self._api_requests += 1
        self.touch()

    def sqs_request(self, queue: str, operation: str, *, messages_received: int | None = None,
                    billed_requests: int = 1) -> None:
        with self._lock:
            entry = self._sqs.setdefault(queue, {"requests": 0, "billed_requests": 0, "messages_received": 0,
                                                 "empty_receives": 0, "operations": {}})
            entry["requests"] += 1
            entry["billed_requests"] += billed_requests
            entry["operations"][operation] = entry["operations"].get(operation, 0) + 1
            if messages_received is not None:
                entry["messages_received"] += messages_received
                entry["empty_receives"] += 1 if messages_received == 0 else 0
        self.touch()

    def stream_request(self, operation: str) -> None:
        """A DynamoDB Streams request of an event source mapping (free on AWS: counted, not priced)."""
        with self._lock:
            self._streams[operation] = self._streams.get(operation, 0) + 1
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
                "event_sources": {"sqs": {q: {**e, "operations": dict(e["operations"])} for q, e in self._sqs.items()},
                                  "streams": dict(self._streams), "calls": {}},
            }
        for key, source in self.sources.items():
            extra = source() or {}
            if key == "hook":  # a meter_hook.Meter's snapshot: its SQS queues and its other calls
                for queue, counts in (extra.get("sqs") or {}).items():
                    merged = data["event_sources"]["sqs"].setdefault(queue, {})
                    for name, value in counts.items():
                        merged[name] = merged.get(name, 0) + value
                data["event_sources"]["calls"] = extra.get("calls") or {}
            else:
                data[key] = extra
        return data
