"""The runtime's own counters: what it invoked and what its event sources requested, for ``make bench``.

Only the runtime sees these (the requests the pollers make through the in-process moto transports
call no botocore at all), so the runtime keeps them. Counting always happens; the counters are
written to ``<meter_dir>/runtime.json`` only when asked: ``PAYGATE_METER=1`` for ``paygate dev``, a
``meter_dir`` for a ``LocalRuntime``. The other meters of ``make bench`` (DynamoDB capacity, every
AWS call of the function workers) patch moto and botocore: they are bench's (``bench/meters/``),
injected by bench when it starts a gateway, and write their files into the same directory.

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
``event_sources.calls`` stays empty here (bench fills it for a runtime that keeps no counters).
"""

from __future__ import annotations

import atexit
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from paygate_local.foreground import write_json_atomically

FILE_VERSION = 1
METER_ENV = "PAYGATE_METER"  # "1": paygate dev writes its counters
RUNTIME_FILE = "runtime.json"
FLUSH_INTERVAL = 0.2  # seconds: written at most this often, and at most this late after a change


def metering_requested(environ: dict[str, str] | None = None) -> bool:
    return (environ if environ is not None else os.environ).get(METER_ENV, "") == "1"


def meter_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / "meter"


def write_runtime_meter(path: str | os.PathLike[str], counters: dict[str, Any]) -> None:
    """Write ``counters`` (the ``lambda``, ``api``, ``event_sources`` sections) as runtime.json, atomically."""
    write_json_atomically(Path(path), {"version": FILE_VERSION, "kind": "runtime", "pid": os.getpid(),
                                       "updated": time.time(), **counters})


class RuntimeMeter:
    """The dev process's counters, written to ``path`` (if any) within 200 ms of each change.

    The runtime calls ``invoked`` after each invocation, ``api_request`` for each request to the API,
    and ``sqs_request`` / ``stream_request`` for each request its pollers make.
    """

    def __init__(self, path: str | os.PathLike[str] | None):
        self._lock = threading.Lock()
        self._lambda: dict[str, dict[str, Any]] = {}
        self._api_requests = 0
        self._sqs: dict[str, dict[str, Any]] = {}
        self._streams: dict[str, int] = {}
        self.path = Path(path) if path is not None else None
        self._dirty = threading.Event()
        self._write_lock = threading.Lock()
        self._writer: threading.Thread | None = None

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

    def _counters(self) -> dict[str, Any]:
        with self._lock:
            return {
                "lambda": {lid: dict(entry) for lid, entry in self._lambda.items()},
                "api": {"requests": self._api_requests},
                "event_sources": {"sqs": {q: {**e, "operations": dict(e["operations"])} for q, e in self._sqs.items()},
                                  "streams": dict(self._streams), "calls": {}},
            }

    def snapshot(self) -> dict[str, Any]:
        return {"version": FILE_VERSION, "kind": "runtime", "pid": os.getpid(), "updated": time.time(),
                **self._counters()}

    # ------------------------------------------------------------------ the file

    def touch(self) -> None:
        """Something changed: the writer thread (started on the first change) writes within 200 ms."""
        if self.path is None:
            return
        if self._writer is None:
            with self._write_lock:
                if self._writer is None:
                    self._writer = threading.Thread(target=self._write_loop, name="paygate-counters", daemon=True)
                    self._writer.start()
                    atexit.register(self.flush)
        self._dirty.set()

    def flush(self) -> None:
        """Write the file now (nothing without a path)."""
        if self.path is None:
            return
        with self._write_lock:
            self._dirty.clear()
            try:
                write_runtime_meter(self.path, self._counters())
            except OSError:
                pass  # the state directory went away (the gateway is stopping)

    def _write_loop(self) -> None:
        while True:
            self._dirty.wait()  # no timeout: an idle runtime does not wake up at all
            self.flush()
            time.sleep(FLUSH_INTERVAL)
