"""The meter files of a running gateway: read them, take differences, turn them into figures per payment.

A gateway run with metering writes into ``<state-dir>/meter/`` (formats in the runtime's
paygate_local.observability.counters, and bench.meters.meter_hook and bench.meters.capacity):
``runtime.json`` (invocations, API requests, the pollers' SQS requests), ``calls-<function>-<pid>.json``
per worker process and ``capacity-<pid>.json``. ``read_meter_dir`` sums them into one snapshot; ``diff`` of two snapshots is
what happened in between; ``usage`` divides it by the payments made.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Lambda adds START, END and REPORT lines to every invocation's log (about this many bytes in all).
PLATFORM_LOG_BYTES_PER_INVOCATION = 330
# Logs that are the local runtime's own, not a function's (not shipped to CloudWatch on AWS).
RUNTIME_LOGS = {"runtime.log", "api.log"}


def _add(into: dict[str, Any], other: dict[str, Any]) -> None:
    """Add ``other``'s numbers into ``into``, recursively (what is not a number is kept as is)."""
    for key, value in other.items():
        if isinstance(value, dict):
            _add(into.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            into[key] = into.get(key, 0) + value
        else:
            into.setdefault(key, value)


def empty_snapshot() -> dict[str, Any]:
    return {"runtime": None, "workers": {}, "capacity": {}, "interpreters": {}}


def read_meter_dir(path: Path) -> dict[str, Any]:
    """Every meter file under ``path`` summed into one snapshot.

    ``{"runtime": {...} | None, "workers": {function name: {"calls": {...}, "sqs": {...}}},
       "capacity": {table: {index: {operation: {...}}}}, "interpreters": {function name: {...}}}``
    """
    snapshot = empty_snapshot()
    if not path.is_dir():
        return snapshot
    for file in sorted(path.glob("*.json")):
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError):
            continue  # being replaced right now: os.replace makes that rare, and the next read sees it
        kind = data.get("kind")
        if kind == "runtime":
            snapshot["runtime"] = {k: v for k, v in data.items() if k in ("lambda", "api", "event_sources")}
        elif kind == "calls":
            worker = snapshot["workers"].setdefault(data.get("function", "?"), {})
            _add(worker, {"calls": data.get("calls") or {}, "sqs": data.get("sqs") or {}})
            snapshot["interpreters"][data.get("function", "?")] = {
                "python": data.get("python"), "python_version": data.get("python_version"),
                "sys_path": data.get("sys_path") or []}
        elif kind == "capacity":
            _add(snapshot["capacity"], data.get("tables") or {})
    return snapshot


def diff(after: Any, before: Any) -> Any:
    """``after - before`` for every number in two snapshots of the same shape (missing counts as 0)."""
    if isinstance(after, dict):
        before = before if isinstance(before, dict) else {}
        return {key: diff(value, before.get(key)) for key, value in after.items()}
    if isinstance(after, (int, float)) and not isinstance(after, bool):
        base = before if isinstance(before, (int, float)) and not isinstance(before, bool) else 0
        return after - base
    return after


def activity(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The counters that only move when the gateway works (not those an idle poller moves)."""
    runtime = snapshot.get("runtime") or {}
    sources = runtime.get("event_sources") or {}
    return {
        "workers": snapshot.get("workers"),
        "capacity": snapshot.get("capacity"),
        "lambda": {lid: entry.get("invocations") for lid, entry in (runtime.get("lambda") or {}).items()},
        "api": runtime.get("api"),
        "sqs": {queue: {"received": counts.get("messages_received"),
                        "ops": {op: n for op, n in (counts.get("operations") or {}).items() if op != "ReceiveMessage"}}
                for queue, counts in (sources.get("sqs") or {}).items()},
        "calls": {op: n for op, n in ((sources.get("calls") or {}).get("sqs") or {}).items() if op != "ReceiveMessage"},
    }


def settle(read: Callable[[], dict[str, Any]], *, quiet: float = 1.0, timeout: float = 20.0,
           interval: float = 0.1) -> tuple[dict[str, Any], bool]:
    """Read until the working counters have not moved for ``quiet`` seconds (or ``timeout``).

    Returns the last snapshot and whether it settled. ``quiet`` must exceed the meters' 200 ms flush.
    """
    deadline = time.monotonic() + timeout
    last = read()
    changed_at = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(interval)
        current = read()
        if activity(current) != activity(last):
            changed_at = time.monotonic()
        last = current
        if time.monotonic() - changed_at >= quiet:
            return last, True
    return last, False


def log_bytes(logs_dir: Path | None) -> int:
    """Bytes in the functions' log files (what CloudWatch Logs would ingest, the platform lines aside)."""
    if logs_dir is None or not logs_dir.is_dir():
        return 0
    return sum(f.stat().st_size for f in logs_dir.glob("*.log") if f.name not in RUNTIME_LOGS)


# ------------------------------------------------------------------------------------------------------
# Per payment


@dataclass
class Usage:
    """What one payment cost, on average over a run (``metered`` False: no meter files were written)."""

    payments: int
    metered: bool = False
    runtime_metered: bool = False
    aws_calls: dict[str, dict[str, float]] = field(default_factory=dict)  # service -> operation -> calls
    capacity: list[dict[str, Any]] = field(default_factory=list)  # rows: table, index, operation, requests, wru, rru
    wru: float = 0.0
    rru: float = 0.0
    sqs_send_requests: float = 0.0  # billed send requests made by the functions
    sqs_messages_sent: float = 0.0
    sqs_requests: dict[str, float] = field(default_factory=lambda: {"fifo": 0.0, "standard": 0.0})
    sqs_event_source_requests: float = 0.0  # the pollers' requests that carried or settled messages
    sqs_empty_receives: float = 0.0
    invocations: dict[str, float] = field(default_factory=dict)  # logical id -> invocations
    records_per_invocation: dict[str, float] = field(default_factory=dict)
    mean_duration_ms: dict[str, float] = field(default_factory=dict)
    memory_mb: dict[str, float] = field(default_factory=dict)
    gb_seconds: float | None = None  # measured: what the local workers took
    gb_seconds_priced: float | None = None  # when set, what the price uses instead (see scaled_gb_seconds)
    api_requests: float | None = None
    log_bytes: float | None = None
    transfer_out_bytes: float | None = None

    @property
    def total_calls(self) -> float:
        return sum(n for ops in self.aws_calls.values() for n in ops.values())

    @property
    def total_invocations(self) -> float:
        return sum(self.invocations.values())

    def quantities(self) -> dict[str, float | None]:
        """The billed quantities per payment, as the cost model takes them."""
        return {
            "api_requests": self.api_requests,
            "lambda_requests": self.total_invocations if self.runtime_metered else None,
            "lambda_gb_seconds": self.gb_seconds if self.gb_seconds_priced is None else self.gb_seconds_priced,
            "dynamodb_wru": self.wru if self.metered else None,
            "dynamodb_rru": self.rru if self.metered else None,
            "sqs_fifo_requests": self.sqs_requests["fifo"] if self.metered else None,
            "sqs_standard_requests": self.sqs_requests["standard"] if self.metered else None,
            "log_gb": None if self.log_bytes is None else self.log_bytes / 1024 ** 3,
            "transfer_out_gb": None if self.transfer_out_bytes is None else self.transfer_out_bytes / 1024 ** 3,
        }


def _queue_kind(queue: str) -> str:
    return "fifo" if queue.endswith(".fifo") else "standard"


def usage(delta: dict[str, Any], payments: int, *, log_bytes_delta: int | None = None,
          transfer_out_bytes: int | None = None, default_memory_mb: int = 512) -> Usage:
    """Per-payment figures from the difference of two snapshots, over ``payments`` payments."""
    n = max(payments, 1)
    result = Usage(payments=payments)
    workers = delta.get("workers") or {}
    runtime = delta.get("runtime")
    result.metered = bool(workers) or bool(delta.get("capacity"))
    result.runtime_metered = runtime is not None

    for worker in workers.values():
        for service, ops in (worker.get("calls") or {}).items():
            for op, count in ops.items():
                if count:
                    per = result.aws_calls.setdefault(service, {})
                    per[op] = per.get(op, 0) + count / n
        for queue, counts in (worker.get("sqs") or {}).items():
            result.sqs_requests[_queue_kind(queue)] += counts.get("billed_requests", 0) / n
            result.sqs_messages_sent += counts.get("messages_sent", 0) / n
        result.sqs_send_requests += sum(ops for op, ops in (worker.get("calls") or {}).get("sqs", {}).items()
                                        if op in ("SendMessage", "SendMessageBatch")) / n

    for table, indexes in sorted((delta.get("capacity") or {}).items()):
        for index, ops in sorted(indexes.items()):
            for op, counters in sorted(ops.items()):
                wru, rru = counters.get("wru", 0) / n, counters.get("rru", 0) / n
                requests = counters.get("requests", 0) / n
                if wru or rru or requests:
                    result.capacity.append({"table": table, "index": index, "operation": op,
                                            "requests": requests, "wru": wru, "rru": rru})
                result.wru += wru
                result.rru += rru

    if runtime is not None:
        gb_seconds = 0.0
        for logical_id, entry in (runtime.get("lambda") or {}).items():
            invocations = entry.get("invocations", 0)
            if not invocations:
                continue
            result.invocations[logical_id] = invocations / n
            result.records_per_invocation[logical_id] = entry.get("records", 0) / invocations
            result.mean_duration_ms[logical_id] = entry.get("duration_ms", 0.0) / invocations
            memory = entry.get("memory_mb") or default_memory_mb
            result.memory_mb[logical_id] = memory
            gb_seconds += entry.get("billed_ms", 0) / 1000 * memory / 1024
        result.gb_seconds = gb_seconds / n
        result.api_requests = (runtime.get("api") or {}).get("requests", 0) / n
        for queue, counts in ((runtime.get("event_sources") or {}).get("sqs") or {}).items():
            empty = counts.get("empty_receives", 0)
            carried = counts.get("billed_requests", counts.get("requests", 0)) - empty
            result.sqs_requests[_queue_kind(queue)] += carried / n
            result.sqs_event_source_requests += carried / n
            result.sqs_empty_receives += empty / n
        if log_bytes_delta is not None:
            platform = PLATFORM_LOG_BYTES_PER_INVOCATION * sum(
                entry.get("invocations", 0) for entry in (runtime.get("lambda") or {}).values())
            result.log_bytes = (log_bytes_delta + platform) / n
    if transfer_out_bytes is not None:
        result.transfer_out_bytes = transfer_out_bytes / n
    return result


def scaled_gb_seconds(reference: Usage, target: Usage) -> float | None:
    """GB-s per payment of ``target`` (a run at load) with ``reference``'s durations (one at a time).

    On this 2-core machine an invocation at load mostly waits for a core, which it would not do on
    Lambda. So each function is priced at the duration per record it took one payment at a time,
    times the records its invocations carried at load (its duration per invocation when it takes no
    records, as the API); batching then saves requests and receives, not compute.
    """
    if not (reference.runtime_metered and target.runtime_metered):
        return None
    gb_seconds = 0.0
    for fn, invocations in target.invocations.items():
        memory_gb = target.memory_mb.get(fn, 512) / 1024
        if fn not in reference.invocations:
            ms = target.mean_duration_ms[fn]
        elif reference.records_per_invocation.get(fn):
            per_record = reference.mean_duration_ms[fn] / reference.records_per_invocation[fn]
            ms = per_record * target.records_per_invocation.get(fn, 0)
        else:
            ms = reference.mean_duration_ms[fn]
        gb_seconds += invocations * ms / 1000 * memory_gb
    return gb_seconds
