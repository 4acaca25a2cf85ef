"""How the local runtime decides an alarm's state (observability/alarms.py), without a backend: the
metric math it computes, CloudWatch's rules for M out of N datapoints and missing data, and the alarm
read from a template's properties."""

from __future__ import annotations

import pytest

from paygate_local.observability.alarms import Alarm, compute, decide, put_request


def alarm(**overrides) -> Alarm:
    fields = dict(name="a", comparison="GreaterThanOrEqualToThreshold", threshold=1.0, evaluation_periods=3,
                  datapoints_to_alarm=2, treat_missing="notBreaching", period=60, metrics=(), expression=None)
    return Alarm(**{**fields, **overrides})


def test_metric_math_of_ids_and_numbers():
    assert compute("visible + inflight", {"visible": 2.0, "inflight": 1.0}) == 3.0
    assert compute("100 * errors / invocations", {"errors": 1.0, "invocations": 4.0}) == 25.0
    assert compute("-(a - b) * 2", {"a": 1.0, "b": 3.0}) == 4.0


def test_metric_math_without_a_datapoint_or_by_zero_has_no_value():
    assert compute("100 * errors / invocations", {"errors": 0.0, "invocations": 0.0}) is None
    assert compute("visible + inflight", {"visible": None, "inflight": 1.0}) is None


def test_metric_math_beyond_arithmetic_is_refused_clearly():
    with pytest.raises(ValueError, match="only"):
        compute("SUM(METRICS())", {})
    with pytest.raises(ValueError, match="no metric 'x'"):
        compute("x + 1", {"y": 1.0})


def test_m_out_of_n_datapoints():
    a = alarm()
    assert decide(a, [0.0, 1.0, 2.0]).state == "ALARM"
    assert decide(a, [0.0, 0.0, 5.0]).state == "OK"
    assert "2 out of the last 3 datapoints [0, 1, 2]" in decide(a, [0.0, 1.0, 2.0]).reason


@pytest.mark.parametrize("treat, expected", [("notBreaching", "OK"), ("breaching", "ALARM"),
                                             ("missing", "INSUFFICIENT_DATA"), ("ignore", "ALARM")])
def test_no_datapoint_at_all_follows_treat_missing_data(treat, expected):
    # "ignore" keeps the state it had (ALARM here)
    assert decide(alarm(treat_missing=treat), [None, None, None], current="ALARM").state == expected


def test_missing_datapoints_count_as_breaching_only_when_told():
    assert decide(alarm(treat_missing="breaching"), [None, 5.0, None]).state == "ALARM"
    assert decide(alarm(treat_missing="notBreaching"), [None, 5.0, None]).state == "OK"
    assert decide(alarm(treat_missing="missing"), [None, 5.0, 5.0]).state == "ALARM"


def test_the_comparisons():
    for comparison, value, state in (("GreaterThanThreshold", 1.0, "OK"), ("LessThanThreshold", 0.0, "ALARM"),
                                     ("LessThanOrEqualToThreshold", 1.0, "ALARM")):
        assert decide(alarm(comparison=comparison, evaluation_periods=1, datapoints_to_alarm=1),
                      [value]).state == state, comparison


def test_an_alarm_with_metric_math_from_its_template_properties():
    """As `stack.resolve` hands them over: numbers of parameters as strings, booleans as written."""
    props = {"AlarmName": "x-errors", "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": "5",
             "EvaluationPeriods": 5, "DatapointsToAlarm": 3, "TreatMissingData": "notBreaching",
             "AlarmActions": ["arn:aws:sns:us-east-1:1:t"], "Tags": [{"Key": "k", "Value": "v"}],
             "Metrics": [
                 {"Id": "errors", "ReturnData": False, "MetricStat": {"Metric": {
                     "Namespace": "AWS/Lambda", "MetricName": "Errors",
                     "Dimensions": [{"Name": "FunctionName", "Value": "f"}]}, "Period": 60, "Stat": "Sum"}},
                 {"Id": "invocations", "ReturnData": "false", "MetricStat": {"Metric": {
                     "Namespace": "AWS/Lambda", "MetricName": "Invocations",
                     "Dimensions": [{"Name": "FunctionName", "Value": "f"}]}, "Period": "60", "Stat": "Sum"}},
                 {"Id": "rate", "Expression": "100 * errors / invocations", "Label": "rate"}]}
    request = put_request(props)
    assert request["Threshold"] == 5.0 and "Tags" not in request
    assert request["Metrics"][1]["ReturnData"] is False and request["Metrics"][1]["MetricStat"]["Period"] == 60
    a = Alarm.from_request(request)
    assert (a.expression, a.period, a.evaluation_periods, a.datapoints_to_alarm) == (
        "100 * errors / invocations", 60, 5, 3)
    assert [(m.id, m.name, m.dimensions, m.stat) for m in a.metrics] == [
        ("errors", "Errors", (("FunctionName", "f"),), "Sum"),
        ("invocations", "Invocations", (("FunctionName", "f"),), "Sum")]


def test_an_alarm_on_one_metric():
    a = Alarm.from_request(put_request({
        "AlarmName": "stuck", "Namespace": "paygate", "MetricName": "PaymentsReconciled",
        "Dimensions": [{"Name": "service", "Value": "reconcile"}], "Statistic": "Maximum", "Period": 60,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 1, "EvaluationPeriods": 2,
        "DatapointsToAlarm": 1}))
    assert a.expression is None and a.treat_missing == "missing"
    assert [(m.namespace, m.name, m.stat, m.period) for m in a.metrics] == [
        ("paygate", "PaymentsReconciled", "Maximum", 60)]
