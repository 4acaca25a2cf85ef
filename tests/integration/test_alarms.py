"""The template's alarms under `paygate dev` (moto in this process, the real template and functions):
provisioned into the backend with their topic, evaluated against the local CloudWatch metrics, and driven
into ALARM and back: a message in a DLQ, a payment left PROCESSING past the reconciliation threshold, a
function that keeps failing. The evaluation runs on a clock the test moves (``alarms.tick()``), so a
period passes at once; one test lets the runtime's own timer do it and measures how long it takes."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from polling import wait_for

from paygate_local.merchants import create_merchant
from paygate_local.observability.alarms import TICK_SECONDS
from paygate_local.runtime import LocalRuntime
from sandbox_provider import SandboxProvider

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
STACK = "alarms"
FUNCTIONS = ("ApiFunction", "RelayFunction", "ProcessorFunction", "CallbacksFunction", "ReconcileFunction",
             "DeadLetterFunction", "WebhooksFunction", "WebhookDeadLetterFunction")


class Clock:
    """The alarms' clock: real time plus what the test moved it by."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    clock = Clock()
    with SandboxProvider() as sandbox:
        # Reconciliation looks at every PROCESSING payment at once (threshold 0 s).
        overrides = {"Mode": "dev", "ProviderUrl": sandbox.url, "ReconcileAfterSeconds": 0}
        with LocalRuntime(TEMPLATE, tmp_path_factory.mktemp("alarms"), parameter_overrides=overrides, api_port=0,
                          stack_name=STACK, prewarm=False, alarm_interval=None, alarm_clock=clock) as runtime:
            merchant = create_merchant("alarms", merchants_table=runtime.env_for("ApiFunction")["MERCHANTS_TABLE"],
                                       endpoint=runtime.aws_endpoint_url, region=runtime.region)
            yield runtime, clock, merchant


@pytest.fixture(autouse=True)
def real_time(request):
    """Each test starts at the real time (what the functions stamp their EMF with)."""
    if "gateway" in request.fixturenames:
        request.getfixturevalue("gateway")[1].offset = 0.0


def states(runtime: LocalRuntime) -> dict[str, str]:
    alarms = runtime.backend.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{STACK}-")["MetricAlarms"]
    return {a["AlarmName"]: a["StateValue"] for a in alarms}


def test_every_alarm_of_the_template_is_in_the_backend_and_tells_its_topic(gateway):
    runtime, _, _ = gateway
    alarms = runtime.backend.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{STACK}-")["MetricAlarms"]
    names = {a["AlarmName"] for a in alarms}
    assert names == {f"{STACK}-{n}" for n in ("commands-dlq-depth", "webhooks-dlq-depth", "relay-dlq-depth",
                                               "payments-stuck-processing", "provider-breaker-opened")} | {f"{STACK}-{f}-errors" for f in FUNCTIONS}
    (topic,) = [t["TopicArn"] for t in runtime.backend.client("sns").list_topics()["Topics"]]
    assert topic.endswith(f":{STACK}-alarms")
    assert all(a["AlarmActions"] == [topic] and a["OKActions"] == [topic] for a in alarms)


def test_the_hardening_reaches_the_backend_where_it_can(gateway):
    """PITR on every table, SQS-managed encryption on every queue, a retention on every log group."""
    runtime, _, _ = gateway
    dynamodb, sqs, logs = (runtime.backend.client(s) for s in ("dynamodb", "sqs", "logs"))
    for table in runtime.stack.tables():
        described = dynamodb.describe_continuous_backups(TableName=table.name)["ContinuousBackupsDescription"]
        assert described["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED", table.name
    for queue in runtime.stack.queues():
        url = runtime.stack.get_att(queue.logical_id, "QueueUrl")
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["SqsManagedSseEnabled"] == "true", queue.name
    groups = {g["logGroupName"]: g.get("retentionInDays") for g in logs.describe_log_groups()["logGroups"]}
    expected = {f"/aws/lambda/{STACK}-{f}" for f in FUNCTIONS} | {f"/aws/apigateway/{STACK}-access"}
    assert expected <= set(groups) and all(groups[g] == 365 for g in expected)


def test_a_message_in_the_relay_dlq_turns_its_alarm_on_and_off(gateway):
    runtime, clock, _ = gateway
    sqs = runtime.backend.client("sqs")
    url = runtime.stack.get_att("RelayDLQ", "QueueUrl")
    assert runtime.alarms.tick()[f"{STACK}-relay-dlq-depth"].state == "OK"
    # Given a record the relay could not publish
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"record": "lost"}))
    # When the alarms are evaluated: ALARM at once, the depth in the reason
    decision = runtime.alarms.tick()[f"{STACK}-relay-dlq-depth"]
    assert decision.state == "ALARM" and decision.values == (1.0,)
    assert states(runtime)[f"{STACK}-relay-dlq-depth"] == "ALARM"
    # Then deleted (replayed by an operator): OK once a period has passed without one
    message = sqs.receive_message(QueueUrl=url)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    clock.offset += 30
    assert runtime.alarms.tick()[f"{STACK}-relay-dlq-depth"].state == "ALARM"  # the minute still holds the 1
    clock.offset += 31
    decision = runtime.alarms.tick()[f"{STACK}-relay-dlq-depth"]
    assert decision.state == "OK" and decision.values == (0.0,)
    assert states(runtime)[f"{STACK}-relay-dlq-depth"] == "OK"


def test_a_payment_left_processing_turns_the_stuck_payments_alarm_on_until_it_ends(gateway):
    runtime, clock, merchant = gateway
    api = httpx.Client(base_url=runtime.api_url, headers={"Authorization": f"Bearer {merchant['api_key']}"},
                       timeout=30)
    name = f"{STACK}-payments-stuck-processing"
    assert runtime.alarms.tick()[name].state == "OK"
    # Given a payment pending at the provider (PROCESSING until voided)
    payment = api.post("/v1/payments", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
        "amount": 1000, "currency": "USD", "payment_method": {"type": "card", "token": "tok_pending"}}).json()
    wait_for(lambda: api.get(f"/v1/payments/{payment['id']}").json()["status"] == "PROCESSING", 30,
             "the payment PROCESSING")
    # When reconciliation runs (its schedule's event) and finds it past the threshold
    result = runtime.invoke("ReconcileFunction", json.loads((ROOT / "events/reconcile/scheduled.json").read_text()))
    assert result.ok and result.payload["checked"] >= 1
    # Then its PaymentsReconciled reaches CloudWatch and the alarm goes off
    decision = wait_for(lambda: (d := runtime.alarms.tick()[name]).state == "ALARM" and d, 15,
                        "the stuck-payments alarm in ALARM")
    assert max(v for v in decision.values if v is not None) >= 1
    # When the payment ends (voided: CANCELED) and reconciliation finds none any more
    assert api.post(f"/v1/payments/{payment['id']}/cancel").status_code == 202
    wait_for(lambda: api.get(f"/v1/payments/{payment['id']}").json()["status"] == "CANCELED", 30,
             "the payment CANCELED")
    assert runtime.invoke("ReconcileFunction", json.loads((ROOT / "events/reconcile/scheduled.json").read_text())).payload == {"checked": 0}
    # Then the alarm is OK once its two periods have passed
    clock.offset += 121
    assert runtime.alarms.tick()[name].state == "OK"


def test_a_consumer_failing_on_a_dead_lettered_command_for_five_minutes_pages(gateway):
    """The commands DLQ's consumer settles a message in moments; one it holds (in flight) through five
    minutes is one it keeps failing on."""
    runtime, clock, _ = gateway
    sqs = runtime.backend.client("sqs")
    url = runtime.stack.get_att("CommandsDLQ", "QueueUrl")
    name = f"{STACK}-commands-dlq-depth"
    clock.offset = 1800  # on its own half hour: no earlier depth in its five minutes
    # Given a dead-lettered command DeadLetterFunction fails on (not a command at all): it holds it in flight
    sqs.send_message(QueueUrl=url, MessageBody="not a command", MessageGroupId="g",
                     MessageDeduplicationId=uuid.uuid4().hex)
    wait_for(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
             ["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1", 15, "the message in flight")
    try:
        states_seen = []
        for _ in range(5):
            states_seen.append(runtime.alarms.tick()[name].state)
            clock.offset += 60
        assert states_seen == ["OK", "OK", "OK", "OK", "ALARM"]
    finally:
        sqs.purge_queue(QueueUrl=url)


def test_a_function_failing_in_three_minutes_of_five_turns_its_error_alarm_on(gateway):
    runtime, clock, _ = gateway
    name = f"{STACK}-ApiFunction-errors"
    clock.offset = 3600  # an hour on: the other tests' invocations are out of its five minutes
    assert runtime.alarms.tick()[name].state == "OK"
    for minute in range(3):
        # An event API Gateway never sends: the handler raises (Lambda's Errors), once a minute
        assert not runtime.invoke("ApiFunction", {"not": "an API Gateway event"}).ok
        state = runtime.alarms.tick()[name].state
        assert state == ("ALARM" if minute == 2 else "OK"), minute
        clock.offset += 60
    # Five minutes without invocations: OK (no datapoint is not a breach)
    clock.offset += 240
    assert runtime.alarms.tick()[name].state == "OK"


def test_the_runtime_evaluates_on_its_own_timer(tmp_path):
    """No test clock: a message in the relay DLQ turns its alarm ALARM at the next round (every TICK_SECONDS)."""
    with LocalRuntime(TEMPLATE, tmp_path, parameter_overrides={"Mode": "dev"}, api_port=0, stack_name="timer",
                      prewarm=False) as runtime:
        cloudwatch = runtime.backend.client("cloudwatch")
        wait_for(lambda: runtime.alarms.ticks >= 1, TICK_SECONDS * 3, "a first round")
        rounds_before = runtime.alarms.ticks
        runtime.backend.client("sqs").send_message(QueueUrl=runtime.stack.get_att("RelayDLQ", "QueueUrl"),
                                                   MessageBody="{}")
        rounds = wait_for(lambda: cloudwatch.describe_alarms(AlarmNames=["timer-relay-dlq-depth"])["MetricAlarms"][0]
                          ["StateValue"] == "ALARM" and runtime.alarms.ticks, TICK_SECONDS * 3,
                          "the relay DLQ alarm in ALARM")
        # Counted in rounds, not seconds (a loaded machine makes a round slower, not later): the round
        # under way when the message came may have read the depth before it, the next one sees it.
        assert rounds - rounds_before <= 2, (rounds_before, rounds)
        assert runtime.alarms.errors == 0


DEPTH_ALARM = {"AlarmName": "depth", "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
               "Dimensions": [{"Name": "QueueName", "Value": "q"}], "Statistic": "Maximum", "Period": 60,
               "EvaluationPeriods": 2, "DatapointsToAlarm": 1, "Threshold": 1.0,
               "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}


@pytest.mark.clock_sensitive
def test_the_evaluator_reads_the_periods_ending_at_its_now(monkeypatch):
    """AlarmEvaluator against moto's CloudWatch in this process, its ``now`` relative to the clock (also 90
    days ahead): a datapoint counts in the period it falls in, one older than the alarm's periods does
    not, and the state is set in CloudWatch only when it changes."""
    import boto3
    from moto import mock_aws

    from paygate_local.observability.alarms import Alarm, AlarmEvaluator

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        cloudwatch.put_metric_alarm(**DEPTH_ALARM)
        evaluator = AlarmEvaluator([Alarm.from_request(DEPTH_ALARM)], cloudwatch)
        now = datetime.now(timezone.utc).replace(microsecond=0)

        def put(value: float, seconds_ago: int) -> None:
            cloudwatch.put_metric_data(Namespace="AWS/SQS", MetricData=[{
                "MetricName": DEPTH_ALARM["MetricName"], "Dimensions": DEPTH_ALARM["Dimensions"],
                "Timestamp": now - timedelta(seconds=seconds_ago), "Value": value}])

        def state() -> str:
            return cloudwatch.describe_alarms(AlarmNames=["depth"])["MetricAlarms"][0]["StateValue"]

        put(5.0, 150)  # before the alarm's two periods: not counted
        put(0.0, 90)
        decision = evaluator.evaluate(now)["depth"]
        assert (decision.state, decision.values) == ("OK", (0.0, None)) and state() == "OK"
        changes = evaluator.changes  # moto makes an alarm OK, AWS INSUFFICIENT_DATA: 0 or 1 so far
        put(2.0, 30)
        decision = evaluator.evaluate(now)["depth"]
        assert (decision.state, decision.values) == ("ALARM", (0.0, 2.0)) and state() == "ALARM"
        assert "1 out of the last 2 datapoints [0, 2]" in decision.reason
        assert evaluator.changes == changes + 1
        assert evaluator.evaluate(now)["depth"].state == "ALARM" and evaluator.changes == changes + 1  # not set again
        # Two periods on, the 2 is out of them: OK
        decision = evaluator.evaluate(now + timedelta(seconds=121))["depth"]
        assert (decision.state, decision.values) == ("OK", (None, None)) and state() == "OK"
