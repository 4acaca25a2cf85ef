"""The local runtime's log shipper (infra/paygate_local/cloudwatch.py) against moto's CloudWatch and Logs:
what Lambda and CloudWatch Logs do with a function's output on AWS."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from paygate_local.cloudwatch import LogShipper, _batches, emf_metrics, parse_line

REGION = "us-east-1"


def emf(namespace: str = "paygate", **metrics: object) -> dict:
    return {"_aws": {"Timestamp": 1_795_000_000_000, "CloudWatchMetrics": [{
        "Namespace": namespace, "Dimensions": [["service"]],
        "Metrics": [{"Name": name, "Unit": "Count"} for name in metrics]}]},
        "service": "processor", **metrics}


def test_an_emf_document_becomes_one_datum_per_metric_and_dimension_set():
    document = emf(PaymentsCompleted=[1.0, 1.0], ProcessingTime=[12.0, 30.0, 12.0])
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
    assert timing["Timestamp"] == datetime.fromtimestamp(1_795_000_000, tz=timezone.utc)


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
    assert parse_line(json.dumps(emf(A=1)), 7)[0] == 1_795_000_000_000
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
        StartTime=datetime(2026, 11, 1, tzinfo=timezone.utc), EndTime=datetime.now(timezone.utc) + timedelta(days=1),
        Period=86400 * 60, Statistics=["Sum"])["Datapoints"]
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
