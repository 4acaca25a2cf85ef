"""What a user of `paygate dev` sees in the backend's CloudWatch, as on AWS: every function's log lines in
`/aws/lambda/<function name>`, and the EMF metrics of DESIGN in namespace `paygate` (dimension `service`),
with the right sums, through plain boto3 against `aws_endpoint_url`; `paygate logs` reads them back.

The payments of this module are the only ones its gateway sees (module-scoped `paygate dev`), so the
sums are exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from polling import wait_for

from paygate_local.devfile import GatewayInfo

ROOT = Path(__file__).resolve().parents[2]
BACKEND = os.environ.get("PAYGATE_E2E_BACKEND", "moto")
NAMESPACE = "paygate"

pytestmark = pytest.mark.not_on_ministack(
    "the local runtime ships its functions' logs and EMF to CloudWatch; functions inside MiniStack log "
    "where MiniStack puts them and their EMF is not turned into metrics")


def client(info: GatewayInfo, service: str) -> Any:
    return boto3.client(service, endpoint_url=info.aws_endpoint_url, region_name=info.region,
                        aws_access_key_id="test", aws_secret_access_key="test")


def metric_sum(cloudwatch: Any, name: str, dimensions: dict[str, str], statistic: str = "Sum") -> float:
    now = datetime.now(timezone.utc)
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5), Period=3600,
        Statistics=[statistic])["Datapoints"]
    return sum(p[statistic] for p in points)


@pytest.fixture(scope="module")
def run(dev, info, sandbox_client) -> dict[str, Any]:
    """Two payments approved, one declined, a webhook endpoint that receives their events, and one bad
    request (an unknown token: Errors with ErrorType invalid_token)."""
    from receiver import Receiver

    receiver = Receiver()
    try:
        sandbox_client.post("/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["payment.completed",
                                                                                             "payment.failed"]})
        paid = [sandbox_client.pay("tok_success"), sandbox_client.pay("tok_success")]
        declined = sandbox_client.pay("tok_decline")
        bad = sandbox_client.post("/v1/payments", {"amount": 100, "currency": "USD",
                                                   "payment_method": {"type": "card", "token": "tok_nope"}})
        assert bad.status_code == 400, bad.text
        for payment in paid:
            sandbox_client.wait_status(payment["id"], {"COMPLETED"}, timeout=60)
        sandbox_client.wait_status(declined["id"], {"FAILED"}, timeout=60)
        receiver.wait_for(3, timeout=60)
    finally:
        receiver.close()
    return {"paid": paid, "declined": declined}


def test_the_metrics_of_design_are_in_cloudwatch_with_the_right_sums(info, run):
    cloudwatch = client(info, "cloudwatch")
    expected = [("PaymentsCreated", {"service": "api"}, 3), ("PaymentsCompleted", {"service": "processor"}, 2),
                ("PaymentsFailed", {"service": "processor"}, 1), ("WebhooksDelivered", {"service": "webhooks"}, 3),
                ("Errors", {"service": "api", "ErrorType": "invalid_token"}, 1)]

    def sums() -> list[float]:
        return [metric_sum(cloudwatch, name, dims) for name, dims, _ in expected]

    wanted = [want for _, _, want in expected]
    wait_for(lambda: sums() == wanted, timeout=30, interval=0.5, what=f"metric sums {wanted}")
    assert sums() == wanted
    # ProcessingTime: one sample per finished payment, in milliseconds.
    assert metric_sum(cloudwatch, "ProcessingTime", {"service": "processor"}, "SampleCount") == 3
    assert metric_sum(cloudwatch, "ProcessingTime", {"service": "processor"}, "Minimum") > 0
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]}
    assert {"PaymentsCreated", "PaymentsCompleted", "PaymentsFailed", "ProcessingTime", "WebhooksDelivered",
            "Errors"} <= names


def test_filter_log_events_finds_a_payments_lines_in_its_functions_log_groups(info, run):
    logs = client(info, "logs")
    payment_id = run["declined"]["id"]
    groups = {g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]}
    assert {"/aws/lambda/paygate-ApiFunction", "/aws/lambda/paygate-ProcessorFunction"} <= groups

    def lines(group: str) -> list[dict[str, Any]]:
        events = logs.filter_log_events(logGroupName=group, filterPattern=f'"{payment_id}"')["events"]
        return [json.loads(e["message"]) for e in events]

    wait_for(lambda: lines("/aws/lambda/paygate-ProcessorFunction"), timeout=30, interval=0.5,
             what="the payment's lines in the processor's log group")
    api = lines("/aws/lambda/paygate-ApiFunction")
    assert any(line.get("payment_id") == payment_id and line.get("service") == "api" for line in api), api
    processor = lines("/aws/lambda/paygate-ProcessorFunction")
    assert any(line.get("payment_id") == payment_id and line.get("message") == "payment finished"
               for line in processor), processor
    if BACKEND == "moto":  # LocalStack's Logs ignores a quoted-term pattern and returns every line
        assert all(line.get("payment_id") == payment_id for line in processor), processor
    streams = logs.describe_log_streams(logGroupName="/aws/lambda/paygate-ApiFunction")["logStreams"]
    assert streams and all("[$LATEST]" in s["logStreamName"] for s in streams)


def paygate_logs(dev, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paygate_local.cli", "logs", *args, "--state-dir", str(dev.state_dir)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_paygate_logs_filters_by_payment_and_function(dev, run):
    payment_id = run["paid"][0]["id"]
    done = wait_for(lambda: (r := paygate_logs(dev, "--payment-id", payment_id)).returncode == 0
                    and "paygate-ProcessorFunction" in r.stdout and r, timeout=30, interval=0.5,
                    what="paygate logs --payment-id to show the processor's line")
    lines = done.stdout.splitlines()
    assert lines and all(payment_id in line for line in lines), done.stdout
    assert any("paygate-ApiFunction" in line and "payment accepted" in line for line in lines), done.stdout
    raw = paygate_logs(dev, "ProcessorFunction", "--payment-id", payment_id, "--json")
    assert raw.returncode == 0, raw.stderr
    documents = [json.loads(line) for line in raw.stdout.splitlines()]
    assert documents and {d["function_name"] for d in documents} == {"paygate-ProcessorFunction"}
    unknown = paygate_logs(dev, "NoSuchFunction")
    assert unknown.returncode == 1 and "no logs for function 'NoSuchFunction'" in unknown.stderr
    assert unknown.stderr.count("\n") == 1


def paygate_dashboard(dev, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paygate_local.cli", "dashboard", *args, "--state-dir",
                           str(dev.state_dir)], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_paygate_dashboard_shows_the_templates_panels_filled_by_the_run(dev, run, tmp_path):
    """The template's dashboard, read back from the backend's CloudWatch, every panel evaluated there:
    the run's counts, its processing time percentiles (from the EMF samples), its deliveries and its
    error, and the queues empty once it is over."""
    def panels() -> dict[str, dict[str, Any]]:
        done = paygate_dashboard(dev, "--json")
        assert done.returncode == 0, done.stderr
        shown = json.loads(done.stdout)
        assert shown["dashboard"] == "paygate-payments"
        return {p["title"]: {line["label"]: line for line in p["lines"]} for p in shown["panels"]}

    def filled() -> dict[str, dict[str, Any]] | None:
        got = panels()
        payments, webhooks = got["Payments"], got["Webhooks"]
        ready = (payments["created"]["value"] == 3 and payments["completed"]["value"] == 2
                 and payments["failed"]["value"] == 1 and webhooks["delivered"]["value"] == 3
                 and got["Processing time (ms)"]["p99"]["value"] is not None)
        return got if ready else None

    got = wait_for(filled, timeout=30, interval=0.5, what="the dashboard's panels to show the run")
    assert set(got) == {"Payments", "Processing time (ms)", "Provider retries", "Webhooks", "Errors by type",
                        "Queue depth", "DLQ depth", "Providers: attempts and failures"}
    assert sum(got["Payments"]["created"]["series"]) == 3  # one point a minute, adding up to the total
    p50, p99 = got["Processing time (ms)"]["p50"], got["Processing time (ms)"]["p99"]
    assert p50["source"] == "logs" and 0 < p50["value"] <= p99["value"]
    assert got["Errors by type"]["invalid_token api"]["value"] == 1
    for title in ("Queue depth", "DLQ depth"):
        assert got[title] and all(line["source"] == "sqs" and line["value"] is not None for line in got[title].values())
    assert got["DLQ depth"]["commands"]["value"] == 0

    picture = tmp_path / "dashboard.svg"
    drawn = paygate_dashboard(dev, "--svg", str(picture))
    assert drawn.returncode == 0, drawn.stderr
    assert "Payments" in drawn.stdout and "Processing time (ms)" in drawn.stdout and "DLQ depth" in drawn.stdout
    assert picture.read_text().startswith("<svg")
    unknown = paygate_dashboard(dev, "--name", "nope")
    assert unknown.returncode == 1 and "no dashboard 'nope'" in unknown.stderr


def test_a_dead_lettered_record_pages_and_paygate_dashboard_shows_the_alarm(dev, info):
    """The template's alarms are in the backend, evaluated by paygate dev: a message in the relay's DLQ
    turns its alarm ALARM within a round or two, and `paygate dashboard` shows it first."""
    sqs, cloudwatch = client(info, "sqs"), client(info, "cloudwatch")
    stack = "paygate"  # paygate dev's
    name = f"{stack}-relay-dlq-depth"
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{stack}-")["MetricAlarms"]
    assert len(alarms) == 13 and all(a["AlarmActions"] for a in alarms)
    url = sqs.get_queue_url(QueueName=f"{stack}-relay-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"record": "not published"}))
    try:
        wait_for(lambda: cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "ALARM",
                 timeout=30, interval=0.5, what=f"{name} in ALARM")
        done = paygate_dashboard(dev, "--json")
        assert done.returncode == 0, done.stderr
        shown = json.loads(done.stdout)["alarms"]
        assert shown[0]["name"] == name and shown[0]["state"] == "ALARM", shown
        assert "Threshold Crossed" in shown[0]["reason"]
        drawn = paygate_dashboard(dev)
        assert "Alarms: 1 in ALARM of 13" in drawn.stdout and name in drawn.stdout, drawn.stdout
    finally:
        sqs.purge_queue(QueueUrl=url)


def test_paygate_logs_follow_prints_new_lines_as_they_come(dev, sandbox_client):
    process = subprocess.Popen([sys.executable, "-m", "paygate_local.cli", "logs", "ApiFunction", "--follow",
                                "--since", "1", "--state-dir", str(dev.state_dir)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        printed = _reader(process)
        # The first payment shows the follower is reading; the second is made while it follows.
        for _ in range(2):
            payment_id = sandbox_client.pay("tok_success")["id"]
            wait_for(lambda pid=payment_id: any(pid in line for line in printed()), timeout=30, interval=0.2,
                     what=f"paygate logs --follow to print {payment_id}'s line")
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=10)


def _reader(process: subprocess.Popen):
    """Lines printed so far, read without blocking."""
    import os
    import select

    seen: list[str] = []
    buffer = [""]

    def read() -> list[str]:
        while select.select([process.stdout], [], [], 0)[0]:
            chunk = os.read(process.stdout.fileno(), 65536).decode()
            if not chunk:
                break
            buffer[0] += chunk
            *complete, buffer[0] = buffer[0].split("\n")
            seen.extend(complete)
        return seen

    return read
