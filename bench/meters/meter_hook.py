"""Counts every AWS call a process makes, by service and operation, for ``make bench``.

Runs inside function workers, whose interpreter has only the Lambda layer's packages and boto3:
stdlib and botocore only, and no import of anything else (of this folder neither: it can be loaded
from its file alone).

``install(directory)`` registers a botocore event handler on every botocore session created
afterwards (boto3's default session included, which ``boto3.client(...)`` uses) and on boto3's
default session if it exists already. Clients made before ``install`` are not counted, so bench
calls it first thing in a worker, before the handler module is imported: ``bench/inject/``
puts a ``sitecustomize`` on the workers' ``PYTHONPATH`` that installs it when
``PAYGATE_METER_DIR`` is set (``METER_DIR_ENV``).

Counted per call (once per API call, retries not included): ``calls[service][operation]``. For
SQS, per queue: requests, billed requests (each 64 KB chunk of a send's payload is one request, as
SQS bills them), messages sent, messages received and empty receives. The counts are written to
``<directory>/calls-<function name>-<pid>.json`` atomically, by one background thread, at most
every 200 ms and within 200 ms of a change (the thread sleeps on an event while nothing changes).

File format (``version`` 1)::

    {"version": 1, "kind": "calls", "function": "paygate-ApiFunction", "pid": 1234,
     "python": "/usr/bin/python3.12", "python_version": "3.12.1", "sys_path": [...],
     "calls": {"dynamodb": {"TransactWriteItems": 2, "GetItem": 1}, "sqs": {"SendMessage": 1}},
     "sqs": {"paygate-commands.fifo": {"requests": 1, "billed_requests": 1, "messages_sent": 1,
                                        "messages_received": 0, "empty_receives": 0}}}
"""

from __future__ import annotations

import atexit
import json
import math
import os
import sys
import tempfile
import threading
import time
from typing import Any

FILE_VERSION = 1
METER_DIR_ENV = "PAYGATE_METER_DIR"  # where a worker writes its calls file (set by bench for the workers)
FLUSH_INTERVAL = 0.2  # seconds: at most this often, and at most this late after a change
SQS_CHUNK = 64 * 1024  # SQS bills each 64 KB chunk of a request's payload as one request
_SQS_SENDS = ("SendMessage", "SendMessageBatch")

_installed: Meter | None = None
_install_lock = threading.Lock()


def install(directory: str | os.PathLike[str] | None, function_name: str | None = None) -> Meter:
    """Start counting this process's AWS calls; write them under ``directory`` (None: count only).

    Idempotent: a second call returns the meter of the first.
    """
    global _installed
    with _install_lock:
        if _installed is not None:
            return _installed
        name = function_name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "process"
        meter = Meter(name, directory)
        meter.register()
        _installed = meter
        return meter


def installed() -> Meter | None:
    return _installed


def queue_name(queue_url: str) -> str:
    """The queue's name from its URL (``.../123456789012/name`` or ``.../queue/name``)."""
    return queue_url.rstrip("/").rsplit("/", 1)[-1] if queue_url else ""


def sqs_send_payload_bytes(operation: str, params: dict[str, Any]) -> list[int]:
    """Payload size of each billed unit of an SQS send: one entry per request (body + attributes)."""

    def one(message: dict[str, Any]) -> int:
        size = len(str(message.get("MessageBody", "")).encode("utf-8"))
        for attrs in (message.get("MessageAttributes") or {}, message.get("MessageSystemAttributes") or {}):
            for attr_name, value in attrs.items():
                size += len(attr_name.encode("utf-8")) + len(str(value.get("DataType", "")).encode("utf-8"))
                if "StringValue" in value:
                    size += len(str(value["StringValue"]).encode("utf-8"))
                if "BinaryValue" in value:
                    raw = value["BinaryValue"]
                    size += len(raw) if isinstance(raw, (bytes, bytearray)) else len(str(raw).encode("utf-8"))
        return size

    if operation == "SendMessage":
        return [one(params)]
    return [sum(one(entry) for entry in params.get("Entries") or [])]


def billed_requests(payload_bytes: int) -> int:
    """SQS requests billed for one API call with this payload: one per started 64 KB chunk."""
    return max(1, math.ceil(payload_bytes / SQS_CHUNK))


class Meter:
    """The counts of one process. Thread-safe; writes happen on a background thread."""

    def __init__(self, function_name: str, directory: str | os.PathLike[str] | None):
        self.function_name = function_name
        self.directory = os.fspath(directory) if directory is not None else None
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._calls: dict[str, dict[str, int]] = {}
        self._sqs: dict[str, dict[str, int]] = {}
        self._flusher: Flusher | None = None
        self._flusher_lock = threading.Lock()
        self.listeners: list[Any] = []  # called (no arguments) after each change

    # ------------------------------------------------------------------ botocore side

    def register(self) -> None:
        """Hook every botocore session made from now on, and boto3's default one if it exists."""
        import botocore.handlers

        hooks = (("before-parameter-build", _capture_params, "paygate-meter-params"),
                 ("before-call", self._before_call, "paygate-meter-call"),
                 ("after-call.sqs.ReceiveMessage", self._after_receive, "paygate-meter-receive"))
        for event, handler, _ in hooks:
            if (event, handler) not in botocore.handlers.BUILTIN_HANDLERS:
                botocore.handlers.BUILTIN_HANDLERS.append((event, handler))
        boto3 = sys.modules.get("boto3")
        session = getattr(boto3, "DEFAULT_SESSION", None) if boto3 is not None else None
        if session is not None:
            for event, handler, unique_id in hooks:
                session.events.register(event, handler, unique_id=unique_id)
        # No thread until the first call: the local runtime forks warm workers from a process that
        # has made none (it refuses to fork one with threads), and each fork counts for itself.
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self.pid = os.getpid()
        self._lock, self._flusher_lock = threading.Lock(), threading.Lock()
        self._calls, self._sqs, self._flusher = {}, {}, None

    def _before_call(self, model: Any = None, params: Any = None, context: Any = None, **_: Any) -> None:
        try:
            service = model.service_model.service_name
            operation = model.name
            self.count(service, operation, (context or {}).get("paygate_meter_params") or {})
        except Exception:  # noqa: BLE001 - metering must never break a call
            pass

    def _after_receive(self, parsed: Any = None, context: Any = None, **_: Any) -> None:
        try:
            url = ((context or {}).get("paygate_meter_params") or {}).get("QueueUrl", "")
            received = len((parsed or {}).get("Messages") or [])
            self.count_received(queue_name(url), received)
        except Exception:  # noqa: BLE001
            pass

    # ------------------------------------------------------------------ counting

    def count(self, service: str, operation: str, params: dict[str, Any]) -> None:
        with self._lock:
            ops = self._calls.setdefault(service, {})
            ops[operation] = ops.get(operation, 0) + 1
            if service == "sqs":
                queue = self._queue(queue_name(str(params.get("QueueUrl", ""))) or str(params.get("QueueName", "")))
                queue["requests"] += 1
                if operation in _SQS_SENDS:
                    payloads = sqs_send_payload_bytes(operation, params)
                    queue["billed_requests"] += sum(billed_requests(size) for size in payloads)
                    queue["messages_sent"] += 1 if operation == "SendMessage" else len(params.get("Entries") or [])
                else:
                    queue["billed_requests"] += 1
        self._touch()

    def count_received(self, queue: str, messages: int) -> None:
        with self._lock:
            counts = self._queue(queue)
            counts["messages_received"] += messages
            if messages == 0:
                counts["empty_receives"] += 1
        self._touch()

    def _touch(self) -> None:
        if self._flusher is None and self.path is not None:
            with self._flusher_lock:
                if self._flusher is None:
                    self._flusher = Flusher(self.path, self.snapshot)
        if self._flusher is not None:
            self._flusher.touch()
        for listener in self.listeners:
            listener()

    def _queue(self, name: str) -> dict[str, int]:
        return self._sqs.setdefault(name, {"requests": 0, "billed_requests": 0, "messages_sent": 0,
                                           "messages_received": 0, "empty_receives": 0})

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "version": FILE_VERSION,
                "kind": "calls",
                "function": self.function_name,
                "pid": self.pid,
                "python": sys.executable,
                "python_version": ".".join(str(part) for part in sys.version_info[:3]),
                "sys_path": [p for p in sys.path if p],
                "updated": time.time(),
                "calls": {service: dict(ops) for service, ops in self._calls.items()},
                "sqs": {queue: dict(counts) for queue, counts in self._sqs.items()},
            }

    # ------------------------------------------------------------------ files

    @property
    def path(self) -> str | None:
        if self.directory is None:
            return None
        return os.path.join(self.directory, f"calls-{safe_name(self.function_name)}-{self.pid}.json")

    def flush(self) -> None:
        if self._flusher is not None:
            self._flusher.flush()


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class Flusher:
    """Writes ``snapshot()`` to ``path`` on a daemon thread: at most every ``interval`` seconds and
    within ``interval`` of a ``touch()``; the thread sleeps on an event while nothing changes."""

    def __init__(self, path: str, snapshot: Any, interval: float = FLUSH_INTERVAL):
        self.path = path
        self._snapshot = snapshot
        self._interval = interval
        self._dirty = threading.Event()
        self._write_lock = threading.Lock()
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name="paygate-meter", daemon=True)
        self._thread.start()
        atexit.register(self.flush)
        self.touch()  # an empty file says "this process is metered"

    def touch(self) -> None:
        self._dirty.set()

    def flush(self) -> None:
        with self._write_lock:
            self._dirty.clear()
            try:
                write_json_atomically(self.path, self._snapshot())
            except OSError:
                pass  # the state directory went away (the gateway is stopping)

    def _loop(self) -> None:
        while True:
            self._dirty.wait()  # no timeout: an idle process does not wake up at all
            self.flush()
            time.sleep(self._interval)


def _capture_params(params: Any = None, context: Any = None, **_: Any) -> None:
    """Keeps the caller's API parameters for ``before-call`` (which only sees the serialized request)."""
    if isinstance(context, dict) and isinstance(params, dict):
        context["paygate_meter_params"] = params


def write_json_atomically(path: str, data: dict[str, Any]) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".meter-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, separators=(",", ":"), sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

