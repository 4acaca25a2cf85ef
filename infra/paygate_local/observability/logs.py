"""`paygate logs [FUNCTION] [--payment-id ID] [--follow]`: the functions' logs, read from CloudWatch Logs.

The same place a developer on AWS reads them (`aws logs tail`): the log groups ``/aws/lambda/<name>``
of the backend of a running `paygate dev` (its dev.json says where), filled by the runtime's log
shipper (shipper.py). ``--payment-id`` is a CloudWatch filter pattern on the quoted id, so it finds
every line that names the payment, in every function. ``--follow`` keeps reading, as ``tail -f``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

GROUP_PREFIX = "/aws/lambda/"
FOLLOW_INTERVAL = 1.0  # seconds between two reads with --follow
OVERLAP_MS = 5_000  # --follow reads again this far back (lines are shipped in batches, not in time order)


class LogsError(Exception):
    """Something the user must fix (an unknown function, no gateway): one line, non-zero exit."""


@dataclass(frozen=True)
class LogLine:
    group: str
    stream: str
    event_id: str
    timestamp: int
    message: str

    @property
    def function(self) -> str:
        return self.group[len(GROUP_PREFIX):] if self.group.startswith(GROUP_PREFIX) else self.group

    def fields(self) -> dict[str, Any] | None:
        try:
            document = json.loads(self.message)
        except ValueError:
            return None
        return document if isinstance(document, dict) else None


def function_groups(logs: Any) -> list[str]:
    groups: list[str] = []
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=GROUP_PREFIX):
        groups.extend(g["logGroupName"] for g in page.get("logGroups", []))
    return sorted(groups)


def pick_groups(groups: list[str], function: str | None, *, waiting: bool = False) -> list[str]:
    """All functions' groups, or the one of FUNCTION: its logical id (ApiFunction), its name
    (paygate-ApiFunction) or its group. ``waiting`` (--follow): no group yet is no error, the function
    may not have run."""
    if not function or (waiting and not groups):
        return groups
    wanted = [g for g in groups if g in (function, GROUP_PREFIX + function) or g.endswith("-" + function)]
    if not wanted:
        known = ", ".join(g[len(GROUP_PREFIX):] for g in groups) or "none yet (no function has run)"
        raise LogsError(f"no logs for function {function!r}; functions with logs: {known}")
    return wanted


def read(logs: Any, groups: list[str], *, start_ms: int | None = None, payment_id: str | None = None,
         limit: int | None = None) -> list[LogLine]:
    """The lines of ``groups`` (from ``start_ms``; only those naming ``payment_id``), oldest first."""
    pattern = f'"{payment_id}"' if payment_id else ""
    lines: list[LogLine] = []
    for group in groups:
        kwargs: dict[str, Any] = {"logGroupName": group, "filterPattern": pattern}
        if start_ms is not None:
            kwargs["startTime"] = start_ms
        for page in logs.get_paginator("filter_log_events").paginate(**kwargs):
            lines.extend(LogLine(group, e.get("logStreamName", ""), e.get("eventId", ""), e["timestamp"],
                                 e.get("message", "")) for e in page.get("events", [])
                         # the pattern again here: not every backend applies it (LocalStack returns all)
                         if not payment_id or payment_id in e.get("message", ""))
    lines.sort(key=lambda line: (line.timestamp, line.group))
    return lines[-limit:] if limit else lines


def follow(logs: Any, groups_of: Callable[[], list[str]], *, start_ms: int | None, payment_id: str | None,
           interval: float = FOLLOW_INTERVAL, stop: Callable[[], bool] = lambda: False) -> Iterator[LogLine]:
    """Every line as it arrives, once each, until ``stop()``."""
    seen: set[str] = set()
    since = start_ms
    while not stop():
        for line in read(logs, groups_of(), start_ms=since, payment_id=payment_id):
            if line.event_id in seen:
                continue
            seen.add(line.event_id)
            yield line
        newest = max((int(time.time() * 1000) - OVERLAP_MS, since or 0))
        since = newest
        time.sleep(interval)


def render(line: LogLine) -> str:
    """``time function LEVEL message`` (+ payment id and error when the line has them), for people."""
    at = datetime.fromtimestamp(line.timestamp / 1000, tz=timezone.utc).strftime("%H:%M:%S.%f")[:-3]
    fields = line.fields()
    if fields is None:
        return f"{at} {line.function} {line.message}"
    if "_aws" in fields:  # an EMF document: its metrics, briefly
        names = [m.get("Name") for d in fields["_aws"].get("CloudWatchMetrics", []) for m in d.get("Metrics", [])]
        shown = ", ".join(f"{n}={fields.get(n)}" for n in names if n)
        return f"{at} {line.function} METRIC {shown}"
    level = fields.get("level", "")
    message = fields.get("message", "")
    extra = [f"{key}={fields[key]}" for key in ("payment_id", "order_id", "error", "errorMessage") if key in fields]
    return " ".join(part for part in (at, line.function, str(level), str(message), *extra) if part)
