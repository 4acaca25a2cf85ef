"""`paygate dashboard`: the template's CloudWatch dashboard, drawn in the terminal from the local CloudWatch.

There is one definition of the panels: the ``AWS::CloudWatch::Dashboard`` in template.yaml. On AWS it is
the CloudWatch dashboard; `paygate dev` puts the same body into its backend's CloudWatch (provision.py);
this module reads it back from there and evaluates each widget against that backend, and
``grafana_dashboard`` turns it into the Grafana dashboard docker compose provisions.

How each kind of line is evaluated locally (moto and LocalStack answer less than CloudWatch):
- a metric with Sum/Average/Minimum/Maximum/SampleCount: GetMetricStatistics, one point a minute;
- a percentile (``p50``, ``p99``): neither moto nor LocalStack computes them, so from the samples
  themselves, the EMF documents in the functions' CloudWatch Logs (as Logs Insights would);
- ``AWS/SQS`` queue metrics: no emulator publishes them, so the queue's attributes, read now;
- ``SEARCH('{Namespace,Dim1,Dim2} MetricName="X"', 'Stat', period)``: ListMetrics for the metrics
  with exactly those dimensions, then each one as above (one line per dimension set).

Above the panels, the stack's alarms and their state (DescribeAlarms), as `paygate dev` evaluates them
(alarms.py): what pages an operator on AWS.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from paygate_local.observability.logs import function_groups, read

SQS_DEPTH = {
    "ApproximateNumberOfMessagesVisible": "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible": "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed": "ApproximateNumberOfMessagesDelayed",
}
SIMPLE_STATS = ("Sum", "Average", "Minimum", "Maximum", "SampleCount")
_SEARCH = re.compile(r"""SEARCH\(\s*'\{([^}]*)\}\s+MetricName="([^"]+)"'\s*,\s*'(\w+)'\s*,\s*(\d+)\s*\)""")
_SPARKS = " ▁▂▃▄▅▆▇█"


class DashboardError(Exception):
    """Something the user must fix (no gateway, no dashboard): one line, non-zero exit."""


@dataclass(frozen=True)
class MetricLine:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    period: int
    label: str


@dataclass
class LineValue:
    label: str
    stat: str
    value: float | None  # over the window (a Sum's total, a percentile of every sample, a depth now)
    series: list[float] = field(default_factory=list)  # one point a period, oldest first
    source: str = "cloudwatch"  # cloudwatch | logs | sqs

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "stat": self.stat, "value": self.value, "series": self.series,
                "source": self.source}


@dataclass
class PanelValue:
    title: str
    lines: list[LineValue]

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "lines": [line.as_json() for line in self.lines]}


@dataclass
class AlarmState:
    name: str
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str
    since: str | None  # when it entered that state (ISO 8601)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "reason": self.reason, "since": self.since}


def alarm_states(cloudwatch: Any, prefix: str | None = None) -> list[AlarmState]:
    """The metric alarms of the backend's CloudWatch (those whose name starts with ``prefix``), ALARM first."""
    kwargs = {"AlarmNamePrefix": prefix} if prefix else {}
    found = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(**kwargs):
        for alarm in page.get("MetricAlarms", []):
            since = alarm.get("StateUpdatedTimestamp")
            found.append(AlarmState(alarm["AlarmName"], alarm.get("StateValue", "INSUFFICIENT_DATA"),
                                    alarm.get("StateReason", ""), since.isoformat() if since else None))
    order = {"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}
    return sorted(found, key=lambda a: (order.get(a.state, 1), a.name))


# ----------------------------------------------------------------------------- reading the definition


def widget_lines(widget: dict[str, Any]) -> list[MetricLine | str]:
    """A metric widget's lines: MetricLine for each metric array, the expression text for each
    expression. The CloudWatch shorthand "." (same as the line above) is expanded."""
    props = widget.get("properties") or {}
    default_stat, default_period = props.get("stat", "Average"), int(props.get("period", 300))
    lines: list[MetricLine | str] = []
    previous: list[Any] = []
    for entry in props.get("metrics") or []:
        options = entry[-1] if entry and isinstance(entry[-1], dict) else {}
        parts = list(entry[:-1] if options else entry)
        if not parts and "expression" in options:
            lines.append(options["expression"])
            continue
        parts = [previous[i] if p == "." and i < len(previous) else p for i, p in enumerate(parts)]
        previous = parts
        namespace, name, dims = parts[0], parts[1], parts[2:]
        dimensions = tuple(zip(dims[0::2], dims[1::2], strict=False))  # an odd trailing name is ignored
        stat = options.get("stat", default_stat)
        label = options.get("label") or " ".join([name, *[v for _, v in dimensions]])
        lines.append(MetricLine(namespace, name, dimensions, stat, int(options.get("period", default_period)), label))
    return lines


def metric_widgets(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in body.get("widgets") or [] if w.get("type") == "metric"]


def load(cloudwatch: Any, name: str | None) -> tuple[str, dict[str, Any]]:
    """The dashboard ``name`` of the backend's CloudWatch, or its only one."""
    if not name:
        names = [d["DashboardName"] for d in cloudwatch.list_dashboards().get("DashboardEntries", [])]
        if len(names) != 1:
            raise DashboardError(f"the backend has {'no dashboard' if not names else 'dashboards ' + ', '.join(names)}"
                                 f"{': is paygate dev running?' if not names else '; pick one with --name'}")
        name = names[0]
    from botocore.exceptions import ClientError

    try:
        body = cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"]
    except ClientError as exc:  # ResourceNotFound on AWS and moto, InvalidParameterValue on LocalStack
        if exc.response.get("Error", {}).get("Code") not in ("ResourceNotFound", "InvalidParameterValue"):
            raise
        raise DashboardError(f"no dashboard {name!r} in the backend's CloudWatch") from None
    return name, json.loads(body)


# ----------------------------------------------------------------------------- evaluating it


class Evaluator:
    """Evaluates lines against one backend over the last ``minutes``."""

    def __init__(self, cloudwatch: Any, logs: Any, sqs: Any, *, minutes: int = 60,
                 now: datetime | None = None) -> None:
        self.cloudwatch, self.logs, self.sqs = cloudwatch, logs, sqs
        self.end = (now or datetime.now(timezone.utc)) + timedelta(minutes=1)
        self.start = self.end - timedelta(minutes=minutes + 1)
        self._documents: list[dict[str, Any]] | None = None

    def panel(self, widget: dict[str, Any]) -> PanelValue:
        values: list[LineValue] = []
        for line in widget_lines(widget):
            values.extend(self.search(line) if isinstance(line, str) else [self.metric(line)])
        return PanelValue((widget.get("properties") or {}).get("title", ""), values)

    def metric(self, line: MetricLine) -> LineValue:
        if line.namespace == "AWS/SQS" and line.name in SQS_DEPTH:
            return self._queue_depth(line)
        if line.stat not in SIMPLE_STATS:
            return self._percentile(line)
        points = self.cloudwatch.get_metric_statistics(
            Namespace=line.namespace, MetricName=line.name, StartTime=self.start, EndTime=self.end,
            Period=line.period, Statistics=[line.stat],
            Dimensions=[{"Name": k, "Value": v} for k, v in line.dimensions])["Datapoints"]
        by_time = _bucket({p["Timestamp"]: p[line.stat] for p in points}, self.start, self.end, line.period)
        present = [p[line.stat] for p in points]
        return LineValue(line.label, line.stat, _combine(line.stat, present), by_time)

    def search(self, expression: str) -> list[LineValue]:
        match = _SEARCH.search(expression)
        if not match:
            return [LineValue(expression, "expression", None, source="unsupported")]
        names = [n.strip() for n in match.group(1).split(",")]
        namespace, dimension_names = names[0], set(names[1:])
        metric_name, stat, period = match.group(2), match.group(3), int(match.group(4))
        found: dict[tuple[tuple[str, str], ...], None] = {}
        for page in self.cloudwatch.get_paginator("list_metrics").paginate(Namespace=namespace, MetricName=metric_name):
            for metric in page.get("Metrics", []):
                dims = tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
                if {k for k, _ in dims} == dimension_names:
                    found[dims] = None  # moto lists a metric once per datum: keep one
        return [self.metric(MetricLine(namespace, metric_name, dims, stat, period, " ".join(v for _, v in dims)))
                for dims in sorted(found)]

    def _queue_depth(self, line: MetricLine) -> LineValue:
        queue = dict(line.dimensions).get("QueueName", "")
        try:
            url = self.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            attribute = SQS_DEPTH[line.name]
            depth = float(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[attribute])
                          ["Attributes"][attribute])
        except self.sqs.exceptions.QueueDoesNotExist:
            depth = None
        return LineValue(line.label, "now", depth, [], "sqs")

    def _percentile(self, line: MetricLine) -> LineValue:
        match = re.fullmatch(r"p(\d+(?:\.\d+)?)", line.stat)
        if not match:
            return LineValue(line.label, line.stat, None, source="unsupported")
        rank = float(match.group(1))
        samples: list[tuple[int, float]] = []
        for document in self._emf_documents():
            if _emits(document, line):
                value = document[line.name]
                for v in value if isinstance(value, list) else [value]:
                    samples.append((int(document["_aws"]["Timestamp"]), float(v)))
        buckets: dict[datetime, list[float]] = {}
        for ms, v in samples:
            at = datetime.fromtimestamp(ms / 1000, timezone.utc)
            buckets.setdefault(_floor(at, self.start, line.period), []).append(v)
        series = _bucket({t: percentile(vs, rank) for t, vs in buckets.items()}, self.start, self.end, line.period)
        return LineValue(line.label, line.stat, percentile([v for _, v in samples], rank) if samples else None,
                         series, "logs")

    def _emf_documents(self) -> list[dict[str, Any]]:
        if self._documents is None:
            start_ms = int(self.start.timestamp() * 1000)
            self._documents = []
            for line in read(self.logs, function_groups(self.logs), start_ms=start_ms):
                if '"_aws"' not in line.message:
                    continue
                document = line.fields()
                if document and isinstance(document.get("_aws"), dict) and "Timestamp" in document["_aws"]:
                    self._documents.append(document)
        return self._documents


def _emits(document: dict[str, Any], line: MetricLine) -> bool:
    """Whether an EMF document carries ``line``'s metric, in its namespace, with its dimensions."""
    if line.name not in document or any(document.get(k) != v for k, v in line.dimensions):
        return False
    wanted = {k for k, _ in line.dimensions}
    for directive in document["_aws"].get("CloudWatchMetrics") or []:
        if directive.get("Namespace") != line.namespace:
            continue
        if not any(m.get("Name") == line.name for m in directive.get("Metrics") or []):
            continue
        if any(set(dims) == wanted for dims in directive.get("Dimensions") or []):
            return True
    return False


def percentile(values: Iterable[float], rank: float) -> float:
    """The nearest-rank percentile (CloudWatch's definition for a small sample)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def _combine(stat: str, values: list[float]) -> float | None:
    if not values:
        return None
    if stat in ("Sum", "SampleCount"):
        return sum(values)
    if stat == "Maximum":
        return max(values)
    if stat == "Minimum":
        return min(values)
    return sum(values) / len(values)


def _floor(at: datetime, start: datetime, period: int) -> datetime:
    steps = int((at - start).total_seconds() // period)
    return start + timedelta(seconds=steps * period)


def _bucket(points: dict[datetime, float], start: datetime, end: datetime, period: int) -> list[float]:
    """Points (by any timestamp) into one value a period from ``start`` to ``end``; 0 where none."""
    count = max(1, int((end - start).total_seconds() // period))
    series = [0.0] * count
    for at, value in points.items():
        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        index = int((at - start).total_seconds() // period)
        if 0 <= index < count:
            series[index] += value
    return series


def evaluate(body: dict[str, Any], evaluator: Evaluator) -> list[PanelValue]:
    return [evaluator.panel(widget) for widget in metric_widgets(body)]


# ----------------------------------------------------------------------------- drawing it


def sparkline(series: list[float], width: int = 30) -> str:
    if not series:
        return ""
    series = series[-width:]
    top = max(series)
    if top <= 0:
        return _SPARKS[0] * len(series)
    return "".join(_SPARKS[0] if v <= 0 else _SPARKS[max(1, math.ceil(v / top * (len(_SPARKS) - 1)))]
                   for v in series)


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"


_STATE_STYLE = {"ALARM": "bold red", "OK": "green", "INSUFFICIENT_DATA": "yellow"}


def render(name: str, panels: list[PanelValue], minutes: int, alarms: list[AlarmState] | None = None) -> Any:
    """The alarms, then the panels as rich renderables, two to a row, as the CloudWatch console lays them out."""
    from rich.columns import Columns
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    boxes = []
    for panel in panels:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_column(style="dim")
        table.add_column(style="cyan")
        for line in panel.lines or [LineValue("no data", "", None)]:
            table.add_row(line.label or "–", _number(line.value), line.stat, sparkline(line.series))
        boxes.append(Panel(table, title=panel.title, title_align="left", width=62))
    header = Text.assemble((name, "bold"), f"  last {minutes} min, one point a minute · "
                           "percentiles from the EMF samples in CloudWatch Logs · queue depths now")
    if not alarms:
        return Group(header, Columns(boxes))
    table = Table.grid(padding=(0, 1))
    for column in ("bold", None, "dim"):
        table.add_column(style=column)
    for alarm in alarms:
        table.add_row(Text(alarm.state, style=_STATE_STYLE.get(alarm.state, "")), alarm.name,
                      (alarm.since or "")[:19].replace("T", " "))
    firing = sum(1 for a in alarms if a.state == "ALARM")
    title = f"Alarms: {firing} in ALARM of {len(alarms)}" if firing else f"Alarms: all {len(alarms)} OK or no data"
    return Group(header, Panel(table, title=title, title_align="left", width=124), Columns(boxes))


# ----------------------------------------------------------------------------- the same panels in Grafana


GRAFANA_DATASOURCE = {"type": "cloudwatch", "uid": "localstack-cloudwatch"}


def grafana_dashboard(body: dict[str, Any], *, title: str = "paygate") -> dict[str, Any]:
    """The CloudWatch dashboard body as a Grafana dashboard on the CloudWatch data source (one
    timeseries panel a widget, one query a line, the same grid)."""
    panels = []
    for number, widget in enumerate(metric_widgets(body), start=1):
        props = widget.get("properties") or {}
        targets = []
        for index, line in enumerate(widget_lines(widget)):
            ref = chr(ord("A") + index)
            if isinstance(line, str):
                targets.append({"refId": ref, "datasource": GRAFANA_DATASOURCE, "queryMode": "Metrics",
                                "metricQueryType": 0, "metricEditorMode": 1, "expression": line,
                                "region": "default", "id": "", "label": ""})
                continue
            targets.append({"refId": ref, "datasource": GRAFANA_DATASOURCE, "queryMode": "Metrics",
                            "metricQueryType": 0, "metricEditorMode": 0, "region": "default",
                            "namespace": line.namespace, "metricName": line.name,
                            "dimensions": {k: v for k, v in line.dimensions}, "matchExact": True,
                            "statistic": line.stat, "period": str(line.period), "label": line.label, "id": ""})
        panels.append({
            "id": number, "type": "timeseries", "title": props.get("title", ""),
            "datasource": GRAFANA_DATASOURCE,
            "gridPos": {"x": widget.get("x", 0), "y": widget.get("y", 0), "w": widget.get("width", 6),
                        "h": widget.get("height", 6)},
            "fieldConfig": {"defaults": {"unit": "ms" if "(ms)" in props.get("title", "") else "short"},
                            "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "none"}},
            "targets": targets,
        })
    return {"uid": "paygate", "title": title, "tags": ["paygate"], "timezone": "browser", "editable": True,
            "schemaVersion": 39, "version": 1, "refresh": "10s", "time": {"from": "now-1h", "to": "now"},
            "panels": panels}
