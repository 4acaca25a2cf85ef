"""The dashboard: one definition (template.yaml's AWS::CloudWatch::Dashboard) with the panels of DESIGN,
the same panels in docker compose's Grafana, and `paygate dashboard`'s evaluation of them against a
CloudWatch that computes less than AWS's (moto here, in-process)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from paygate_local.cli import main
from paygate_local.cli.dashboard import grafana_dashboard_of
from paygate_local.observability import dashboard as dash
from paygate_local.template import Stack

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
GRAFANA = ROOT / "localstack" / "grafana"


@pytest.fixture(scope="module")
def stack() -> Stack:
    return Stack.from_file(TEMPLATE, stack_name="paygate", region="us-east-1")


@pytest.fixture(scope="module")
def body(stack: Stack) -> dict:
    (logical_id,) = stack.logical_ids("AWS::CloudWatch::Dashboard")
    return json.loads(stack.resolve(stack.properties(logical_id))["DashboardBody"])


def lines_by_title(body: dict) -> dict[str, list]:
    return {w["properties"]["title"]: dash.widget_lines(w) for w in dash.metric_widgets(body)}


def test_the_template_dashboard_has_the_panels_of_design(body: dict):
    panels = lines_by_title(body)
    metrics = {(line.name, line.stat) for lines in panels.values() for line in lines
               if isinstance(line, dash.MetricLine) and line.namespace == "paygate"}
    for name in ("PaymentsCreated", "PaymentsCompleted", "PaymentsFailed", "ProviderRetries", "WebhooksDelivered",
                 "WebhookFailures"):
        assert (name, "Sum") in metrics, name
    assert {("ProcessingTime", "p50"), ("ProcessingTime", "p99")} <= metrics
    (errors,) = panels["Errors by type"]
    assert isinstance(errors, str) and dash._SEARCH.search(errors).groups() == (
        "paygate,ErrorType,service", "Errors", "Sum", "60")


def test_the_queue_panels_name_every_queue_of_the_stack(body: dict, stack: Stack):
    panels = lines_by_title(body)
    queues = {q.name for q in stack.queues()}
    depth = {dict(line.dimensions)["QueueName"] for line in panels["Queue depth"]}
    dlq_depth = {dict(line.dimensions)["QueueName"] for line in panels["DLQ depth"]}
    assert depth | dlq_depth == queues
    assert dlq_depth == {q for q in queues if "-dlq" in q}


def test_every_paygate_line_names_a_service_of_the_template(body: dict, stack: Stack):
    services = {stack.resolve(stack.properties(f)).get("Environment", {}).get("Variables", {}).get(
        "POWERTOOLS_SERVICE_NAME") for f in stack.logical_ids("AWS::Lambda::Function")}
    for lines in lines_by_title(body).values():
        for line in lines:
            if isinstance(line, dash.MetricLine) and line.namespace == "paygate":
                assert dict(line.dimensions)["service"] in services, line


def test_grafana_provisions_the_template_dashboard_unchanged():
    """One definition: the provisioned JSON is what `paygate dashboard --grafana` makes of the template."""
    provisioned = json.loads((GRAFANA / "dashboards" / "paygate.json").read_text())
    assert provisioned == grafana_dashboard_of(TEMPLATE), (
        "regenerate: .venv/bin/paygate dashboard --grafana > localstack/grafana/dashboards/paygate.json")
    assert [p["title"] for p in provisioned["panels"]] == ["Payments", "Processing time (ms)", "Provider retries",
                                                            "Webhooks", "Errors by type", "Queue depth", "DLQ depth",
                                                            "Providers: attempts and failures"]


def test_grafanas_data_source_is_localstacks_cloudwatch_and_compose_mounts_it():
    (source,) = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "cloudwatch.yaml").read_text())["datasources"]
    assert source["type"] == "cloudwatch" and source["jsonData"]["endpoint"] == "http://localstack:4566"
    provisioned = json.loads((GRAFANA / "dashboards" / "paygate.json").read_text())
    assert {t["datasource"]["uid"] for p in provisioned["panels"] for t in p["targets"]} == {source["uid"]}
    (provider,) = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "paygate.yaml").read_text())["providers"]
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    grafana, jaeger = services["grafana"], services["jaeger"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./localstack/grafana/provisioning"
    assert mounts[provider["options"]["path"]] == "./localstack/grafana/dashboards"
    assert all(str(p).startswith("127.0.0.1:") for s in (grafana, jaeger) for p in s["ports"])
    assert services["deployer"]["environment"]["PAYGATE_OTLP_ENDPOINT"] == "http://jaeger:4318"


# ----------------------------------------------------------------------------- evaluation against moto


def emf(metric: str, value, service: str, at: datetime, **dims: str) -> str:
    dimensions = [["service", *dims]]
    return json.dumps({"_aws": {"Timestamp": int(at.timestamp() * 1000), "CloudWatchMetrics": [
        {"Namespace": "paygate", "Dimensions": dimensions, "Metrics": [{"Name": metric, "Unit": "Milliseconds"}]}]},
        "service": service, metric: value, **dims})


@pytest.fixture
def aws():
    with mock_aws():
        yield {name: boto3.client(name, region_name="us-east-1") for name in ("cloudwatch", "logs", "sqs")}


def test_each_kind_of_line_is_evaluated(aws, body: dict):
    now = datetime.now(timezone.utc)
    cloudwatch, logs, sqs = aws["cloudwatch"], aws["logs"], aws["sqs"]
    cloudwatch.put_dashboard(DashboardName="paygate-payments", DashboardBody=json.dumps(body))
    for service, count in (("api", 4), ("processor", 0)):
        for _ in range(count):
            cloudwatch.put_metric_data(Namespace="paygate", MetricData=[
                {"MetricName": "PaymentsCreated", "Value": 1, "Dimensions": [{"Name": "service", "Value": service}]}])
    for error_type, count in (("invalid_token", 2), ("validation_error", 1)):
        cloudwatch.put_metric_data(Namespace="paygate", MetricData=[
            {"MetricName": "Errors", "Values": [1], "Counts": [count],
             "Dimensions": [{"Name": "service", "Value": "api"}, {"Name": "ErrorType", "Value": error_type}]}])
    logs.create_log_group(logGroupName="/aws/lambda/paygate-ProcessorFunction")
    logs.create_log_stream(logGroupName="/aws/lambda/paygate-ProcessorFunction", logStreamName="s")
    samples = [emf("ProcessingTime", v, "processor", now) for v in range(1, 101)]
    samples += [emf("ProcessingTime", 5000, "callbacks", now),  # another service: not this line's
                json.dumps({"message": "not EMF", "ProcessingTime": 9999}), "plain text"]
    logs.put_log_events(logGroupName="/aws/lambda/paygate-ProcessorFunction", logStreamName="s", logEvents=[
        {"timestamp": int(now.timestamp() * 1000), "message": m} for m in samples])
    commands = sqs.create_queue(QueueName="paygate-commands.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sqs.send_message(QueueUrl=commands, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="d")

    name, loaded = dash.load(cloudwatch, None)
    assert name == "paygate-payments"
    panels = {p.title: {line.label: line for line in p.lines}
              for p in dash.evaluate(loaded, dash.Evaluator(cloudwatch, logs, sqs, minutes=30, now=now))}
    created = panels["Payments"]["created"]
    assert created.value == 4 and sum(created.series) == 4 and len(created.series) == 31
    assert panels["Payments"]["completed"].value is None
    assert panels["Processing time (ms)"]["p50"].value == 50 and panels["Processing time (ms)"]["p99"].value == 99
    assert panels["Processing time (ms)"]["p99"].source == "logs"
    assert {k: v.value for k, v in panels["Errors by type"].items()} == {"invalid_token api": 2,
                                                                        "validation_error api": 1}
    assert panels["Queue depth"]["commands"].value == 1 and panels["Queue depth"]["commands"].source == "sqs"
    assert panels["Queue depth"]["webhooks"].value is None  # no such queue in this backend


def test_no_dashboard_is_one_line_of_error(aws):
    with pytest.raises(dash.DashboardError, match="no dashboard"):
        dash.load(aws["cloudwatch"], None)
    with pytest.raises(dash.DashboardError, match="no dashboard 'x'"):
        dash.load(aws["cloudwatch"], "x")


def test_percentile_and_sparkline():
    assert dash.percentile([3, 1, 2], 50) == 2 and dash.percentile([5], 99) == 5
    assert dash.sparkline([0, 1, 2, 4]) == " ▂▄█" and dash.sparkline([0, 0]) == "  " and dash.sparkline([]) == ""


def test_paygate_dashboard_without_a_gateway_says_so(tmp_path, capsys):
    assert main(["dashboard", "--state-dir", str(tmp_path)]) == 2
    assert "dev.json not found" in capsys.readouterr().err
