"""The template's CloudWatch alarms, evaluated locally as CloudWatch evaluates them on AWS.

moto stores alarms and answers SetAlarmState, but evaluates nothing; LocalStack evaluates only alarms on
one metric, once per period. So `paygate dev` evaluates every ``AWS::CloudWatch::Alarm`` of the template
itself, on a timer (``AlarmWatch``, every ``TICK_SECONDS``): it reads the alarms' metrics from the
backend's CloudWatch (one GetMetricData per period length), computes a metric-math expression when the
alarm has one, decides the state as CloudWatch does (``EvaluationPeriods``, ``DatapointsToAlarm``,
``ComparisonOperator``, ``TreatMissingData``), and sets it with SetAlarmState when it changed, with a
reason in CloudWatch's words. What the metrics are made of: the functions' EMF (the log shipper), the
AWS/Lambda and AWS/SQS metrics the runtime publishes as those services do (``awsmetrics.py``).

One difference from AWS, to see a state change in seconds rather than minutes: the periods are the
``Period`` seconds just before now (and the ones before them), not whole clock minutes, and the one
under way counts. A message in a DLQ makes its alarm ALARM at the next tick; the alarm is OK again
``EvaluationPeriods x Period`` seconds after the last breaching datapoint (CloudWatch: within a
minute or two of that).
"""

from __future__ import annotations

import ast
import json
import logging
import math
import operator
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

TICK_SECONDS = 5.0
ALARM_TYPE = "AWS::CloudWatch::Alarm"
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
_WORDS = {"GreaterThanOrEqualToThreshold": "greater than or equal to", "GreaterThanThreshold": "greater than",
          "LessThanThreshold": "less than", "LessThanOrEqualToThreshold": "less than or equal to"}
_INTS = ("Period", "EvaluationPeriods", "DatapointsToAlarm")


# ------------------------------------------------------------------------------ the definition


def put_request(props: dict[str, Any]) -> dict[str, Any]:
    """An ``AWS::CloudWatch::Alarm``'s resolved properties -> PutMetricAlarm's parameters (the same
    names; numbers as CloudWatch wants them)."""
    request = {k: v for k, v in props.items() if k != "Tags"}
    for key in _INTS:
        if key in request:
            request[key] = int(request[key])
    if "Threshold" in request:
        request["Threshold"] = float(request["Threshold"])
    if "ActionsEnabled" in request:
        request["ActionsEnabled"] = str(request["ActionsEnabled"]).lower() == "true"
    if "Metrics" in request:
        request["Metrics"] = [_query(q) for q in request["Metrics"]]
    return request


def _query(query: dict[str, Any]) -> dict[str, Any]:
    query = dict(query)
    if "ReturnData" in query:
        query["ReturnData"] = str(query["ReturnData"]).lower() == "true"
    if "Period" in query:
        query["Period"] = int(query["Period"])
    if "MetricStat" in query:
        query["MetricStat"] = {**query["MetricStat"], "Period": int(query["MetricStat"]["Period"])}
    return query


@dataclass(frozen=True)
class MetricStat:
    """One metric an alarm reads: ``id`` is its name in the alarm's expression."""

    id: str
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    period: int
    stat: str

    def query(self, query_id: str) -> dict[str, Any]:
        return {"Id": query_id, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": self.namespace, "MetricName": self.name,
                       "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions]},
            "Period": self.period, "Stat": self.stat}}


@dataclass(frozen=True)
class Alarm:
    name: str
    comparison: str
    threshold: float
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing: str  # missing | notBreaching | breaching | ignore
    period: int
    metrics: tuple[MetricStat, ...]
    expression: str | None  # None: the value is the one metric's

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> Alarm:
        """From PutMetricAlarm's parameters: one metric (MetricName...) or ``Metrics`` with one
        expression (or one metric) returning data."""
        if request.get("Metrics"):
            stats, returned = [], None
            for q in request["Metrics"]:
                if "MetricStat" in q:
                    s = q["MetricStat"]
                    stats.append(MetricStat(q["Id"], s["Metric"]["Namespace"], s["Metric"]["MetricName"],
                                            _dims(s["Metric"].get("Dimensions")), int(s["Period"]), s["Stat"]))
                if q.get("ReturnData", True):
                    returned = q
            if returned is None:
                raise ValueError(f"alarm {request['AlarmName']}: no query returns data")
            expression = returned.get("Expression")
            period = int(returned.get("Period") or min(s.period for s in stats))
            if expression is None:
                stats = [s for s in stats if s.id == returned["Id"]]
                expression = returned["Id"]
        else:
            stats = [MetricStat("m1", request["Namespace"], request["MetricName"], _dims(request.get("Dimensions")),
                                int(request["Period"]), request.get("Statistic") or request["ExtendedStatistic"])]
            expression, period = None, int(request["Period"])
        periods = int(request["EvaluationPeriods"])
        return cls(request["AlarmName"], request["ComparisonOperator"], float(request["Threshold"]), periods,
                   int(request.get("DatapointsToAlarm") or periods), request.get("TreatMissingData") or "missing",
                   period, tuple(stats), expression)


def _dims(dimensions: Iterable[dict[str, str]] | None) -> tuple[tuple[str, str], ...]:
    return tuple((d["Name"], str(d["Value"])) for d in dimensions or [])


# ------------------------------------------------------------------------------ metric math


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def compute(expression: str, values: dict[str, float | None]) -> float | None:
    """A metric-math expression of + - * /, numbers and query ids, at one time: None when a metric it
    needs has no datapoint then, or it divides by zero (CloudWatch leaves no datapoint either)."""
    def walk(node: ast.AST) -> float | None:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise ValueError(f"{expression!r}: no metric {node.id!r}")
            return values[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = walk(node.operand)
            return None if inner is None else -inner
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
                return None
            return _OPS[type(node.op)](left, right)
        raise ValueError(f"{expression!r}: only + - * /, numbers and metric ids are evaluated locally")

    return walk(ast.parse(expression, mode="eval"))


# ------------------------------------------------------------------------------ the decision


@dataclass(frozen=True)
class Decision:
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str
    values: tuple[float | None, ...]  # one per evaluation period, oldest first


def decide(alarm: Alarm, values: list[float | None], current: str | None = None) -> Decision:
    """The state for the datapoints of the last ``evaluation_periods`` periods (oldest first; None
    where a period has none), as CloudWatch decides it."""
    breach = COMPARISONS[alarm.comparison]
    present = [v for v in values if v is not None]
    missing = len(values) - len(present)
    breaching = sum(1 for v in present if breach(v, alarm.threshold))
    if alarm.treat_missing == "breaching":
        breaching += missing
    shown = ", ".join("–" if v is None else f"{v:g}" for v in values)
    words = _WORDS[alarm.comparison]
    if breaching >= alarm.datapoints_to_alarm:
        return Decision("ALARM", f"Threshold Crossed: {breaching} out of the last {len(values)} datapoints "
                        f"[{shown}] were {words} the threshold ({alarm.threshold:g}) (minimum "
                        f"{alarm.datapoints_to_alarm} datapoint(s) for OK -> ALARM transition).", tuple(values))
    if not present and alarm.treat_missing in ("missing", "ignore"):
        if alarm.treat_missing == "ignore" and current:
            return Decision(current, "no datapoints: the state is kept (TreatMissingData: ignore)", tuple(values))
        return Decision("INSUFFICIENT_DATA", f"Insufficient Data: {len(values)} datapoints were unknown.",
                        tuple(values))
    return Decision("OK", f"Threshold Crossed: {len(values) - breaching} out of the last {len(values)} datapoints "
                    f"[{shown}] were not {words} the threshold ({alarm.threshold:g}) (minimum "
                    f"{alarm.datapoints_to_alarm} datapoint(s) for ALARM -> OK transition).", tuple(values))


# ------------------------------------------------------------------------------ against a backend


class AlarmEvaluator:
    """Evaluates ``alarms`` against a backend's CloudWatch and sets the states that changed."""

    def __init__(self, alarms: list[Alarm], cloudwatch: Any):
        self.alarms, self.cloudwatch = alarms, cloudwatch
        self.changes = 0  # SetAlarmState calls made

    def evaluate(self, now: datetime) -> dict[str, Decision]:
        # Whole seconds (moto drops the fraction), and the second under way included: a datapoint put
        # just now counts.
        now = now.replace(microsecond=0) + timedelta(seconds=1)
        series = self._series(now)
        current = self._states()
        decisions: dict[str, Decision] = {}
        for alarm in self.alarms:
            values = [compute(alarm.expression, {m.id: series[(alarm.name, m.id)][i] for m in alarm.metrics})
                      if alarm.expression else series[(alarm.name, alarm.metrics[0].id)][i]
                      for i in range(alarm.evaluation_periods)]
            decision = decide(alarm, values, current.get(alarm.name))
            decisions[alarm.name] = decision
            if current.get(alarm.name) != decision.state:
                self.cloudwatch.set_alarm_state(
                    AlarmName=alarm.name, StateValue=decision.state, StateReason=decision.reason[:1023],
                    StateReasonData=json.dumps({"version": "1.0", "queryDate": now.isoformat(),
                                                "evaluatedDatapoints": [v for v in values if v is not None],
                                                "threshold": alarm.threshold}))
                self.changes += 1
                log.info("alarm %s: %s -> %s: %s", alarm.name, current.get(alarm.name), decision.state,
                         decision.reason)
        return decisions

    def _states(self) -> dict[str, str]:
        names = [a.name for a in self.alarms]
        states: dict[str, str] = {}
        for start in range(0, len(names), 100):
            answer = self.cloudwatch.describe_alarms(AlarmNames=names[start:start + 100])
            states.update({a["AlarmName"]: a["StateValue"] for a in answer.get("MetricAlarms", [])})
        return states

    def _series(self, now: datetime) -> dict[tuple[str, str], list[float | None]]:
        """(alarm, metric id) -> the metric's value in each of the alarm's evaluation periods, oldest
        first: one GetMetricData per period length, its periods ending now."""
        by_period: dict[int, list[tuple[Alarm, MetricStat]]] = {}
        for alarm in self.alarms:
            for metric in alarm.metrics:
                by_period.setdefault(metric.period, []).append((alarm, metric))
        out: dict[tuple[str, str], list[float | None]] = {}
        for period, members in by_period.items():
            count = max(a.evaluation_periods for a, _ in members)
            start = now - timedelta(seconds=period * count)
            queries = [m.query(f"q{i}") for i, (_, m) in enumerate(members)]
            results: dict[str, dict[int, float]] = {}
            for chunk in range(0, len(queries), 500):
                answer = self.cloudwatch.get_metric_data(MetricDataQueries=queries[chunk:chunk + 500],
                                                         StartTime=start, EndTime=now)
                for result in answer.get("MetricDataResults", []):
                    buckets = results.setdefault(result["Id"], {})
                    for at, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
                        index = int((at - start).total_seconds() // period)
                        if 0 <= index < count and not math.isnan(value):
                            buckets[index] = value
            for i, (alarm, metric) in enumerate(members):
                buckets = results.get(f"q{i}", {})
                out[(alarm.name, metric.id)] = [buckets.get(k) for k in range(count - alarm.evaluation_periods,
                                                                              count)]
        return out


class AlarmWatch:
    """What `paygate dev` runs on a timer: publish the AWS metrics (``publish(now)``), then evaluate the
    alarms. ``tick()`` does one round now (tests call it with their own clock); ``start()`` runs
    rounds every ``interval`` seconds in a thread until ``stop()``."""

    def __init__(self, evaluator: AlarmEvaluator | None, publish: Callable[[datetime], None], *,
                 interval: float = TICK_SECONDS, clock: Callable[[], float] = time.time,
                 data_version: Callable[[], int] | None = None):
        """``data_version()`` grows whenever metric data is put into the backend (by ``publish`` or by
        anyone else, the log shipper): a round evaluates only when it grew, when an alarm is not OK
        (time alone can end it) or one treats missing data as breaching. None: every round."""
        self.evaluator, self.publish, self.interval, self.clock = evaluator, publish, interval, clock
        self.data_version = data_version
        self._evaluated_at: int | None = None
        self.evaluations = 0
        self.ticks = 0
        self.errors = 0
        self.last: dict[str, Decision] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> dict[str, Decision]:
        with self._lock:
            now = datetime.fromtimestamp(self.clock(), timezone.utc)
            self.publish(now)
            if self.evaluator is not None and self._due(now):
                version = self.data_version() if self.data_version else None
                self.last = self.evaluator.evaluate(now)
                self._evaluated_at = version
                self.evaluations += 1
            self.ticks += 1
            return self.last

    def _due(self, now: datetime) -> bool:
        if self.data_version is None or self._evaluated_at is None:
            return True
        if self.data_version() != self._evaluated_at:
            return True
        assert self.evaluator is not None
        return (any(d.state != "OK" for d in self.last.values())
                or any(a.treat_missing == "breaching" for a in self.evaluator.alarms))

    def start(self) -> AlarmWatch:
        self._thread = threading.Thread(target=self._run, name="alarm-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - a backend that is stopping; the next round tries again
                self.errors += 1
                log.warning("alarm evaluation failed: %s", exc)


def watch(stack: Any, client: Callable[[str], Any], lambda_counts: Callable[[], dict[str, tuple[int, int]]], *,
          interval: float = TICK_SECONDS, clock: Callable[[], float] = time.time,
          depths: Callable[[str], tuple[int, int, int]] | None = None,
          other_data: Callable[[], int] | None = None) -> AlarmWatch:
    """The AlarmWatch of a provisioned ``Stack``: its queues' depths and its functions' counts published,
    its alarms evaluated, against the backend ``client(service)`` talks to. ``depths``: see AwsMetrics;
    ``other_data()``: how many metric data others (the log shipper) have put so far."""
    from paygate_local.observability.awsmetrics import AwsMetrics

    queues = {q.name: stack.get_att(q.logical_id, "QueueUrl") for q in stack.queues()}
    alarms = [Alarm.from_request(put_request(stack.resolve(stack.properties(lid))))
              for lid in stack.logical_ids(ALARM_TYPE)]
    metrics = AwsMetrics(queues, client, lambda_counts, depths)
    evaluator = AlarmEvaluator(alarms, client("cloudwatch")) if alarms else None

    def version() -> int:
        return metrics.put_calls + (other_data() if other_data else 0)

    return AlarmWatch(evaluator, metrics.publish, interval=interval, clock=clock, data_version=version)
