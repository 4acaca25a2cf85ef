"""The local runtime's log shipper (infra/paygate_local/observability/shipper.py) against moto's CloudWatch and Logs:
what Lambda and CloudWatch Logs do with a function's output on AWS."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from paygate_local.observability.shipper import (
    MAX_AGE_MS,
    MAX_AHEAD_MS,
    LogShipper,
    _batches,
    _refused,
    emf_metrics,
    parse_line,
    too_old_or_new,
)

# Every test here runs twice: today, and with the clock moved 90 days ahead (tests/conftest.py).
pytestmark = pytest.mark.clock_sensitive

REGION = "us-east-1"
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS


def now_ms() -> int:
    return int(time.time() * 1000)


def emf(namespace: str = "paygate", *, at_ms: int | None = None, **metrics: object) -> dict:
    """An EMF document of now (or ``at_ms``): a line's own time is what CloudWatch judges it by."""
    stamp = now_ms() - 60_000 if at_ms is None else at_ms
    return {"_aws": {"Timestamp": stamp, "CloudWatchMetrics": [{
        "Namespace": namespace, "Dimensions": [["service"]],
        "Metrics": [{"Name": name, "Unit": "Count"} for name in metrics]}]},
        "service": "processor", **metrics}


def test_an_emf_document_becomes_one_datum_per_metric_and_dimension_set():
    stamp = now_ms()
    document = emf(PaymentsCompleted=[1.0, 1.0], ProcessingTime=[12.0, 30.0, 12.0], at_ms=stamp)
    document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [["service"], []]
    data = list(emf_metrics(document))
    assert [(ns, d["MetricName"], d["Dimensions"]) for ns, d in data] == [
        ("paygate", "PaymentsCompleted", [{"Name": "service", "Value": "processor"}]),
        ("paygate", "PaymentsCompleted", []),
        ("paygate", "ProcessingTime", [{"Name": "service", "Value": "processor"}]),
        ("paygate", "ProcessingTime", []),
    ]
    timing = data[2][1]
    assert timing["Values"] == [12.0, 30.0] and timing["Counts"] == [2.0, 1.0]  # repeated values counted
    assert timing["Timestamp"] == datetime.fromtimestamp(stamp / 1000, tz=timezone.utc)


@pytest.mark.parametrize("broken", [
    {"_aws": {"CloudWatchMetrics": "no"}},
    {"_aws": {"CloudWatchMetrics": [{"Namespace": "paygate", "Dimensions": [["service"]],
                                     "Metrics": [{"Name": "X"}]}]}, "X": "not a number", "service": "api"},
    {"_aws": {"CloudWatchMetrics": [{"Namespace": "paygate", "Dimensions": [["missing"]],
                                     "Metrics": [{"Name": "X"}]}]}, "X": 1},
    {"level": "INFO", "message": "not EMF"},
])
def test_what_is_not_valid_emf_makes_no_metric(broken):
    assert list(emf_metrics(broken)) == []


def test_a_line_keeps_its_own_time_or_gets_the_time_it_was_read():
    assert parse_line('{"timestamp": "2026-11-24T10:00:00.500+00:00"}', 7)[0] == 1_795_514_400_500
    assert parse_line(json.dumps(emf(A=1, at_ms=1_795_000_000_000)), 7)[0] == 1_795_000_000_000
    assert parse_line("Traceback (most recent call last):", 7) == (7, None)
    assert parse_line("[1, 2]", 7) == (7, None)


def test_batches_respect_put_log_events_limits():
    events = [{"timestamp": 1, "message": "x" * 100_000} for _ in range(25)]
    batches = list(_batches(events))
    assert sum(len(b) for b in batches) == 25
    assert all(sum(len(e["message"]) + 26 for e in b) <= 1_000_000 for b in batches)
    assert len(list(_batches([{"timestamp": 1, "message": "x"}] * 25_000))) == 3


@pytest.fixture
def aws():
    with mock_aws():
        yield lambda service: boto3.client(service, region_name=REGION)


def test_lines_written_while_it_runs_reach_the_log_group_and_emf_reaches_metrics(tmp_path: Path, aws):
    log_file = tmp_path / "ProcessorFunction.log"
    log_file.write_text('{"message": "before the start: stays in the file"}\n')
    shipper = LogShipper({"ProcessorFunction": (log_file, "paygate-ProcessorFunction")}, aws, delay=0).start()
    with log_file.open("a") as out:
        out.write('{"level": "INFO", "message": "payment finished", "payment_id": "pay_1"}\n')
        out.write(json.dumps(emf(PaymentsCompleted=[1.0])) + "\n")
        out.write('{"message": "half a li')  # still being written: waits for its newline
    shipper.notify("ProcessorFunction")
    shipper.stop()
    logs = aws("logs")
    group = "/aws/lambda/paygate-ProcessorFunction"
    messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    # In time order (the EMF line's own timestamp is older here), as PutLogEvents wants them.
    assert len(messages) == 2 and "PaymentsCompleted" in messages[0]
    assert messages[1] == '{"level": "INFO", "message": "payment finished", "payment_id": "pay_1"}'
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    assert stream.endswith(f"[$LATEST]{shipper.run_id}")
    cloudwatch = aws("cloudwatch")
    points = cloudwatch.get_metric_statistics(
        Namespace="paygate", MetricName="PaymentsCompleted", Dimensions=[{"Name": "service", "Value": "processor"}],
        StartTime=datetime.now(timezone.utc) - timedelta(days=1), EndTime=datetime.now(timezone.utc) + timedelta(days=1),
        Period=86400 * 2, Statistics=["Sum"])["Datapoints"]
    assert sum(p["Sum"] for p in points) == 1
    # The rest of the half line arrives: shipped whole, once.
    shipper2_lines_before = len(messages)
    with log_file.open("a") as out:
        out.write('ne"}\n')
    shipper.ship(["ProcessorFunction"])
    messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    assert len(messages) == shipper2_lines_before + 1 and messages[-1] == '{"message": "half a line"}'
    assert shipper.stats.errors == 0


def test_a_backend_without_logs_loses_no_invocation(tmp_path: Path):
    """Shipping failing (the backend stopping) is logged and counted; nothing raises into the runtime."""
    def broken(service: str):
        raise ConnectionError("backend gone")

    log_file = tmp_path / "ApiFunction.log"
    shipper = LogShipper({"ApiFunction": (log_file, "paygate-ApiFunction")}, broken, delay=0, from_start=True)
    log_file.write_text('{"message": "x"}\n')
    shipper.ship(["ApiFunction"])
    assert shipper.stats.errors == 1


# ---- what CloudWatch refuses for its time -----------------------------------------------------------------


def test_the_limits_are_cloudwatchs_to_the_millisecond():
    now = 1_900_000_000_000  # any instant: the rule is relative to the clock it is given
    assert too_old_or_new(now - MAX_AGE_MS, now) is None  # exactly 14 days old: accepted
    assert too_old_or_new(now - MAX_AGE_MS - 1, now) == "old"
    assert too_old_or_new(now + MAX_AHEAD_MS, now) is None  # exactly 2 hours ahead: accepted
    assert too_old_or_new(now + MAX_AHEAD_MS + 1, now) == "new"
    assert MAX_AGE_MS == 14 * DAY_MS and MAX_AHEAD_MS == 2 * HOUR_MS


def test_a_batch_never_spans_more_than_24_hours():
    start = 1_900_000_000_000
    events = [{"timestamp": start + offset, "message": "x"} for offset in (0, DAY_MS, DAY_MS + 1, DAY_MS + 2)]
    assert [[e["timestamp"] - start for e in b] for b in _batches(events)] == [[0, DAY_MS], [DAY_MS + 1, DAY_MS + 2]]


def test_what_put_log_events_says_it_refused_is_counted():
    assert _refused({}, 5) == {"old": 0, "new": 0}
    assert _refused({"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 4}, 5) == {"old": 2, "new": 1}
    assert _refused({"expiredLogEventEndIndex": 2, "tooOldLogEventEndIndex": 0}, 5) == {"old": 3, "new": 0}


def test_lines_too_old_or_too_new_are_skipped_and_counted_the_rest_shipped(tmp_path: Path, aws, caplog):
    """A skewed clock or an old line: skipped with a counted note in the runtime's log, never retried,
    and every other line and metric shipped (one refused datapoint would fail the whole PutMetricData)."""
    log_file = tmp_path / "ProcessorFunction.log"
    shipper = LogShipper({"ProcessorFunction": (log_file, "paygate-ProcessorFunction")}, aws, delay=0,
                         from_start=True)
    now = now_ms()
    lines = {
        "15 days old": now - 15 * DAY_MS, "13 days old": now - 13 * DAY_MS, "3 hours ahead": now + 3 * HOUR_MS,
        "1 hour ahead": now + HOUR_MS, "now": now, "19 hours old": now - 19 * HOUR_MS,
    }
    with log_file.open("w") as out:
        for name, stamp in lines.items():
            out.write(json.dumps({"timestamp": _iso(stamp), "message": name}) + "\n")
        out.write(json.dumps(emf(PaymentsCompleted=1.0, at_ms=now - 15 * DAY_MS)) + "\n")  # its metric too old
        out.write(json.dumps(emf(PaymentsFailed=1.0, at_ms=now)) + "\n")
    with caplog.at_level(logging.WARNING, logger="paygate_local"):
        shipper.ship(["ProcessorFunction"])
    group = "/aws/lambda/paygate-ProcessorFunction"
    logs = aws("logs")
    shipped = [json.loads(e["message"]) for e in logs.filter_log_events(logGroupName=group)["events"]]
    assert sorted(e.get("message", "emf") for e in shipped) == [
        "1 hour ahead", "13 days old", "19 hours old", "emf", "now"]
    assert (shipper.stats.skipped_old, shipper.stats.skipped_new, shipper.stats.errors) == (2, 1, 0)
    assert shipper.stats.log_calls == 2  # 13 days old alone, then the rest within 24 hours
    notes = [r.getMessage() for r in caplog.records if "not shipped" in r.getMessage()]
    assert notes == [f"{group}: 3 log lines not shipped, CloudWatch Logs refuses them: 2 older than 14 days, "
                     "1 more than 2 hours ahead (2 and 1 in all)"]
    cloudwatch = aws("cloudwatch")
    assert [m["MetricName"] for m in cloudwatch.list_metrics(Namespace="paygate")["Metrics"]] == ["PaymentsFailed"]
    # Never retried: the next run ships only what is new.
    shipper.ship(["ProcessorFunction"])
    assert (shipper.stats.skipped_old, shipper.stats.skipped_new, shipper.stats.log_calls) == (2, 1, 2)


def test_a_datapoint_refused_for_its_age_does_not_take_the_others_with_it(caplog):
    """PutMetricData on AWS fails the whole request for one datapoint older than two weeks: the shipper
    leaves such datapoints out and puts the rest (a client that refuses as AWS does shows it)."""
    now = now_ms()

    class AwsLikeCloudWatch:
        put: list[dict] = []

        def put_metric_data(self, Namespace: str, MetricData: list[dict]) -> None:
            for datum in MetricData:
                if too_old_or_new(int(datum["Timestamp"].timestamp() * 1000), now_ms()):
                    raise ValueError("InvalidParameterValue: timestamp out of range")
            self.put += MetricData

    cloudwatch = AwsLikeCloudWatch()
    shipper = LogShipper({}, lambda service: cloudwatch)
    data = [d for stamp in (now - 15 * DAY_MS, now, now + 3 * HOUR_MS)
            for _, d in emf_metrics(emf(PaymentsCompleted=1.0, at_ms=stamp))]
    with caplog.at_level(logging.WARNING, logger="paygate_local"):
        shipper._put_metrics("paygate", data)
    assert len(cloudwatch.put) == 1 and shipper.stats.metric_data_skipped == 2 and shipper.stats.errors == 0
    assert any("2 metric data not put" in r.getMessage() for r in caplog.records)


def _iso(stamp_ms: int) -> str:
    return datetime.fromtimestamp(stamp_ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")
