"""Function logs to CloudWatch Logs, and their EMF lines to CloudWatch metrics, as the Lambda service does.

Each worker writes its function's stdout and stderr to ``<state-dir>/logs/<LogicalId>.log`` (the hot
path stays a plain file append). The ``LogShipper`` thread sleeps until an invocation ends, waits a
moment more so that one call carries many lines, then sends the new complete lines of each file to the
backend in use (moto or LocalStack): log group ``/aws/lambda/<function name>`` as on AWS, one stream per
day and run, and every line that is an Embedded Metric Format document becomes ``PutMetricData`` in its
namespace with its dimensions (what CloudWatch Logs does with EMF on AWS). An idle gateway ships
nothing and does not wake up. A run ships the lines written while it runs; what the files held before
stays in the files.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

log = logging.getLogger(__name__)

BATCH_DELAY = 0.5  # after an invocation ends, lines are gathered this long before one call sends them
MAX_EVENTS_PER_CALL = 10_000  # PutLogEvents: at most 10,000 events
MAX_BYTES_PER_CALL = 1_000_000  # ... and 1,048,576 bytes, counting 26 bytes per event
MAX_EVENT_BYTES = 256 * 1024 - 26  # one event at most 256 KiB: longer lines are cut, as the Lambda service does
MAX_METRICS_PER_CALL = 1000  # PutMetricData: at most 1,000 metrics per request
MAX_VALUES_PER_METRIC = 150  # ... and 150 distinct values in one datum's Values
MAX_DIMENSIONS = 30
# What CloudWatch accepts by time: PutLogEvents refuses events older than 14 days or more than 2 hours
# ahead, and a call whose events span more than 24 hours; PutMetricData refuses the whole request for
# one datapoint older than 2 weeks (or more than 2 hours ahead). A line carries its own time (EMF
# ``_aws.Timestamp``, a ``timestamp`` field), so a skewed clock or an old line is enough to meet them.
MAX_AGE_MS = 14 * 24 * 3600 * 1000
MAX_AHEAD_MS = 2 * 3600 * 1000
MAX_SPAN_MS = 24 * 3600 * 1000


def log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def log_stream(run_id: str, now: float | None = None) -> str:
    """Lambda's shape, ``YYYY/MM/DD/[$LATEST]<id>``: one stream per function, day and run."""
    return time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime(now)) + run_id


# ------------------------------------------------------------------------------------------ lines


def _epoch_ms(value: Any) -> int | None:
    """A line's own time: EMF's ``_aws.Timestamp`` (ms) or an RFC 3339 ``timestamp``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return int(value)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return int(parsed.timestamp() * 1000)
    return None


def too_old_or_new(stamp_ms: int, now_ms: int) -> str | None:
    """Why CloudWatch would refuse a line or datapoint of this time (``"old"``, ``"new"``), or None."""
    if stamp_ms < now_ms - MAX_AGE_MS:
        return "old"
    if stamp_ms > now_ms + MAX_AHEAD_MS:
        return "new"
    return None


def parse_line(text: str, received_ms: int) -> tuple[int, dict[str, Any] | None]:
    """A log line's timestamp (its own when it has one) and, when it is a JSON object, the object."""
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return received_ms, None
    try:
        document = json.loads(stripped)
    except ValueError:
        return received_ms, None
    if not isinstance(document, dict):
        return received_ms, None
    aws = document.get("_aws")
    stamp = _epoch_ms(aws.get("Timestamp")) if isinstance(aws, dict) else None
    if stamp is None:
        stamp = _epoch_ms(document.get("timestamp"))
    return (stamp if stamp is not None else received_ms), document


def emf_metrics(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The metric data an EMF document declares: (namespace, PutMetricData datum), one per metric and
    dimension set. Anything malformed is skipped, as CloudWatch skips it."""
    aws = document.get("_aws")
    if not isinstance(aws, dict) or not isinstance(aws.get("CloudWatchMetrics"), list):
        return
    stamp = _epoch_ms(aws.get("Timestamp"))
    for directive in aws["CloudWatchMetrics"]:
        if not isinstance(directive, dict) or not isinstance(directive.get("Namespace"), str):
            continue
        dimension_sets = directive.get("Dimensions") or [[]]
        for metric in directive.get("Metrics") or []:
            name = metric.get("Name") if isinstance(metric, dict) else None
            values = _values(document.get(name)) if isinstance(name, str) else []
            if not values:
                continue
            for keys in dimension_sets:
                if not isinstance(keys, list) or len(keys) > MAX_DIMENSIONS:
                    continue
                dims = [{"Name": k, "Value": str(document[k])} for k in keys
                        if isinstance(k, str) and isinstance(document.get(k), (str, int, float))]
                if len(dims) != len(keys):
                    continue
                datum: dict[str, Any] = {"MetricName": name, "Dimensions": dims}
                if stamp is not None:
                    datum["Timestamp"] = datetime.fromtimestamp(stamp / 1000, tz=timezone.utc)
                unit = metric.get("Unit")
                if isinstance(unit, str) and unit:
                    datum["Unit"] = unit
                counted: dict[float, int] = defaultdict(int)
                for value in values:
                    counted[value] += 1
                pairs = list(counted.items())
                for start in range(0, len(pairs), MAX_VALUES_PER_METRIC):
                    chunk = pairs[start:start + MAX_VALUES_PER_METRIC]
                    yield directive["Namespace"], {**datum, "Values": [v for v, _ in chunk],
                                                   "Counts": [float(c) for _, c in chunk]}


def _values(raw: Any) -> list[float]:
    items = raw if isinstance(raw, list) else [raw]
    return [float(v) for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]


# ------------------------------------------------------------------------------------------ files


@dataclass
class _Source:
    """One function's log file and how far it was shipped."""

    logical_id: str
    path: Path
    group: str
    offset: int = 0
    partial: bytes = b""
    stream_ready: bool = False

    def new_lines(self, max_bytes: int = 8 * MAX_BYTES_PER_CALL) -> list[str]:
        """The complete lines appended since the last call (a line still being written waits)."""
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self.offset:  # truncated or replaced: start again from its beginning
                    self.offset, self.partial = 0, b""
                fh.seek(self.offset)
                data = fh.read(max_bytes)
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self.partial + data
        complete, _, self.partial = data.rpartition(b"\n")
        if not complete and not _:
            return []
        return [line for line in complete.decode("utf-8", errors="replace").split("\n") if line.strip()]


@dataclass
class ShipperStats:
    log_events: int = 0
    log_calls: int = 0
    metric_data: int = 0
    metric_calls: int = 0
    errors: int = 0
    by_group: dict[str, int] = field(default_factory=dict)
    # Lines and datapoints CloudWatch would refuse for their time: skipped once, never retried.
    skipped_old: int = 0
    skipped_new: int = 0
    metric_data_skipped: int = 0


class LogShipper:
    """Ships function log files to CloudWatch Logs and EMF to CloudWatch metrics, in batches, off the
    hot path. ``notify(logical_id)`` after an invocation; ``stop()`` ships what is left."""

    def __init__(self, sources: dict[str, tuple[Path, str]], client: Callable[[str], Any],
                 *, run_id: str | None = None, delay: float = BATCH_DELAY, from_start: bool = False,
                 clock: Callable[[], float] = time.time):
        """``sources``: logical id -> (log file, function name); ``client(service)`` gives a boto3
        client of the backend. Lines already in the files are skipped unless ``from_start``.
        ``clock`` (epoch seconds) is what a line's age is measured against."""
        self._client = client
        self._clock = clock
        self._delay = delay
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.sources = {lid: _Source(lid, path, log_group(name)) for lid, (path, name) in sources.items()}
        if not from_start:
            for source in self.sources.values():
                try:
                    source.offset = source.path.stat().st_size
                except FileNotFoundError:
                    source.offset = 0
        self.stats = ShipperStats()
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._groups_made: set[str] = set()
        self._thread: threading.Thread | None = None
        self._logs: Any = None
        self._cloudwatch: Any = None
        self._shipping = threading.Lock()  # the thread and a final stop() never ship at once

    def start(self) -> LogShipper:
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self._thread.start()
        return self

    def notify(self, logical_id: str | None = None) -> None:
        """A function's log may have grown (an invocation ended): ship it soon. None: every file."""
        with self._lock:
            self._dirty.update([logical_id] if logical_id in self.sources else self.sources)
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Ship what the files gained, then end the thread."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.ship(list(self.sources))

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            if self._stopping.wait(self._delay):
                return  # stop() ships the rest
            self._wake.clear()
            with self._lock:
                dirty, self._dirty = list(self._dirty), set()
            try:
                self.ship(dirty)
            except Exception:  # noqa: BLE001 - the lines stay counted as errors; the next batch goes on
                log.exception("shipping function logs failed")

    # ------------------------------------------------------------------ shipping

    def ship(self, logical_ids: Iterable[str]) -> None:
        with self._shipping:
            metrics: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for lid in logical_ids:
                source = self.sources.get(lid)
                if source is None:
                    continue
                received = int(self._clock() * 1000)
                events = []
                refused = {"old": 0, "new": 0}
                for line in source.new_lines():
                    stamp, document = parse_line(line, received)
                    why = too_old_or_new(stamp, received)
                    if why is not None:  # CloudWatch would refuse it (and its EMF metrics with it)
                        refused[why] += 1
                        continue
                    events.append({"timestamp": stamp, "message": _cut(line)})
                    if document is not None:
                        for namespace, datum in emf_metrics(document):
                            metrics[namespace].append(datum)
                self._skipped(source.group, refused)
                if events:
                    self._put_logs(source, events)
            for namespace, data in metrics.items():
                self._put_metrics(namespace, data)

    def _skipped(self, group: str, refused: dict[str, int]) -> None:
        """Count lines CloudWatch refuses for their time, with a note in the runtime's log."""
        if not refused["old"] and not refused["new"]:
            return
        self.stats.skipped_old += refused["old"]
        self.stats.skipped_new += refused["new"]
        log.warning("%s: %d log lines not shipped, CloudWatch Logs refuses them: %d older than 14 days, "
                    "%d more than 2 hours ahead (%d and %d in all)", group, refused["old"] + refused["new"],
                    refused["old"], refused["new"], self.stats.skipped_old, self.stats.skipped_new)

    def _logs_client(self) -> Any:
        if self._logs is None:
            self._logs = self._client("logs")
        return self._logs

    def _put_logs(self, source: _Source, events: list[dict[str, Any]]) -> None:
        stream = log_stream(self.run_id)
        try:
            logs = self._logs_client()
            if not source.stream_ready:
                self._ensure_stream(logs, source.group, stream)
                source.stream_ready = True
            events.sort(key=lambda e: e["timestamp"])  # PutLogEvents wants them in time order
            for batch in _batches(events):
                answer = logs.put_log_events(logGroupName=source.group, logStreamName=stream, logEvents=batch)
                refused = _refused(answer.get("rejectedLogEventsInfo") or {}, len(batch))
                self._skipped(source.group, refused)  # aged past the limit on the way: not sent again
                shipped = len(batch) - refused["old"] - refused["new"]
                self.stats.log_calls += 1
                self.stats.log_events += shipped
                self.stats.by_group[source.group] = self.stats.by_group.get(source.group, 0) + shipped
        except Exception as exc:  # noqa: BLE001 - a backend that is stopping or lacks Logs
            source.stream_ready = False
            self.stats.errors += 1
            log.warning("could not ship %d log lines to %s: %s", len(events), source.group, exc)

    def _ensure_stream(self, logs: Any, group: str, stream: str) -> None:
        for call, kwargs in ((logs.create_log_group, {"logGroupName": group}),
                             (logs.create_log_stream, {"logGroupName": group, "logStreamName": stream})):
            try:
                call(**kwargs)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass

    def _put_metrics(self, namespace: str, data: list[dict[str, Any]]) -> None:
        try:
            now = int(self._clock() * 1000)
            kept = [d for d in data if "Timestamp" not in d
                    or too_old_or_new(int(d["Timestamp"].timestamp() * 1000), now) is None]
            if len(kept) < len(data):  # one such datapoint would fail the whole request
                self.stats.metric_data_skipped += len(data) - len(kept)
                log.warning("%s: %d metric data not put, CloudWatch refuses them (older than 2 weeks or more "
                            "than 2 hours ahead; %d in all)", namespace, len(data) - len(kept),
                            self.stats.metric_data_skipped)
                data = kept
            if self._cloudwatch is None:
                self._cloudwatch = self._client("cloudwatch")
            for start in range(0, len(data), MAX_METRICS_PER_CALL):
                chunk = data[start:start + MAX_METRICS_PER_CALL]
                self._cloudwatch.put_metric_data(Namespace=namespace, MetricData=chunk)
                self.stats.metric_calls += 1
                self.stats.metric_data += len(chunk)
        except Exception as exc:  # noqa: BLE001
            self.stats.errors += 1
            log.warning("could not put %d metric data in %s: %s", len(data), namespace, exc)


def _cut(line: str) -> str:
    encoded = line.encode("utf-8")
    if len(encoded) <= MAX_EVENT_BYTES:
        return line
    return encoded[:MAX_EVENT_BYTES].decode("utf-8", errors="ignore")


def _refused(info: dict[str, int], count: int) -> dict[str, int]:
    """How many of a call's ``count`` events PutLogEvents refused (its ``rejectedLogEventsInfo``)."""
    old = max(info.get("tooOldLogEventEndIndex", -1), info.get("expiredLogEventEndIndex", -1)) + 1
    new_from = info.get("tooNewLogEventStartIndex")
    return {"old": max(0, min(old, count)), "new": max(0, count - new_from) if new_from is not None else 0}


def _batches(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Events in time order, in calls within PutLogEvents' limits: count, bytes, and a 24-hour span."""
    batch: list[dict[str, Any]] = []
    size = 0
    for event in events:
        cost = len(event["message"].encode("utf-8")) + 26
        if batch and (len(batch) >= MAX_EVENTS_PER_CALL or size + cost > MAX_BYTES_PER_CALL
                      or event["timestamp"] - batch[0]["timestamp"] > MAX_SPAN_MS):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += cost
    if batch:
        yield batch
