"""relay, processor, webhooks and deadletter against moto: each fed what the one before really wrote."""

from __future__ import annotations

import json

import boto3
import pytest
from lambda_harness import load_event, receive_all, sqs_event, stream_event
from receiver import Receiver
from standardwebhooks import Webhook

from paygate_local.sandbox import SandboxProvider


@pytest.fixture
def sandbox():
    with SandboxProvider(timeout_delay=0.5) as provider:
        yield provider


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def api_call(api, name, key, body=None, idem=None, **replace):
    event = load_event(name, **replace)
    event["headers"]["Authorization"] = f"Bearer {key}"
    if idem:
        event["headers"]["Idempotency-Key"] = idem
    if body is not None:
        event["body"] = json.dumps(body)
    response = api(event)
    return json.loads(response["body"])


class Pipeline:
    """Runs each stage by hand, in the order the local runtime would."""

    def __init__(self, aws, handler_of, sandbox):
        self.aws = aws
        provider = {"PROVIDER_URL": sandbox.url, "PROVIDER_TIMEOUT_SECONDS": "0.3"}
        # One process, one environment: every handler gets the sandbox's URL.
        self.api = handler_of("ApiFunction", **provider)
        self.relay = handler_of("RelayFunction", **provider)
        self.processor = handler_of("ProcessorFunction", **provider)
        self.webhooks = handler_of("WebhooksFunction", **provider)
        self.deadletter = handler_of("DeadLetterFunction", **provider)
        self.webhook_deadletter = handler_of("WebhookDeadLetterFunction", **provider)
        env = aws.env("ApiFunction")
        self.table = env["AGGREGATES_TABLE"]
        self.commands_url, self.webhooks_url = env["COMMANDS_QUEUE_URL"], env["WEBHOOKS_QUEUE_URL"]
        self.sqs = boto3.client("sqs")
        self.relayed = 0

    def arn(self, url):
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def relay_new(self):
        records = stream_event(self.table)["Records"][self.relayed:]
        self.relayed += len(records)
        assert records, "nothing new on the stream"
        return self.relay({"Records": records})

    def run(self, handler, url):
        """Like Lambda's SQS mapping: hand over a batch, then delete what did not fail."""
        messages = receive_all(url)
        if not messages:
            return messages, None
        result = handler(sqs_event(messages, self.arn(url)))
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return messages, result


@pytest.fixture
def pipe(aws, handler_of, sandbox):
    return Pipeline(aws, handler_of, sandbox)


def pay(pipe, merchant, token, idem="k1"):
    body = {"amount": 700, "currency": "eur", "payment_method": {"type": "card", "token": token}}
    return api_call(pipe.api, "api/create_payment.json", merchant["api_key"], body=body, idem=idem)


def get(pipe, merchant, payment_id):
    return api_call(pipe.api, "api/get_payment.json", merchant["api_key"], pay_REPLACE=payment_id)


def drive(pipe, steps=2):
    """relay -> processor, `steps` times (created -> start, processing -> charge), then relay the result."""
    for _ in range(steps):
        assert pipe.relay_new() == {"batchItemFailures": []}
        pipe.run(pipe.processor, pipe.commands_url)
    pipe.relay_new()


def test_relay_turns_the_created_event_into_one_command_and_one_webhook(pipe, merchant, receiver):
    endpoint = api_call(pipe.api, "api/create_webhook_endpoint.json", merchant["api_key"],
                        body={"url": receiver.url}, idem="ep")
    payment = pay(pipe, merchant, "tok_success")
    assert pipe.relay_new() == {"batchItemFailures": []}
    [command] = receive_all(pipe.commands_url)
    assert command["Attributes"]["MessageGroupId"] == payment["id"]
    assert json.loads(command["Body"])["type"] == "payment.start_processing"
    assert command["MessageAttributes"]["traceparent"]["StringValue"].startswith("00-")
    [hook] = receive_all(pipe.webhooks_url)
    assert hook["Attributes"]["MessageGroupId"] == f"{endpoint['id']}:{payment['id']}"


def test_success_reaches_completed_and_a_verifiable_webhook(pipe, merchant, receiver, sandbox):
    endpoint = api_call(pipe.api, "api/create_webhook_endpoint.json", merchant["api_key"],
                        body={"url": receiver.url, "enabled_events": ["payment.completed"]}, idem="ep")
    payment = pay(pipe, merchant, "tok_success")
    drive(pipe)
    assert get(pipe, merchant, payment["id"])["status"] == "COMPLETED"
    assert sandbox.charge_count(payment["id"]) == 1
    _, result = pipe.run(pipe.webhooks, pipe.webhooks_url)
    assert result == {"batchItemFailures": []}
    [(body, headers, _)] = receiver.received
    event = Webhook(endpoint["secret"]).verify(body, headers)
    assert event["type"] == "payment.completed" and event["data"]["object"]["id"] == payment["id"]
    events = api_call(pipe.api, "api/list_payment_events.json", merchant["api_key"], pay_REPLACE=payment["id"])
    assert [e["type"] for e in events["data"]] == ["payment.created", "payment.processing", "payment.completed"]
    # One trace per payment: every event item carries the same trace id.
    items = boto3.client("dynamodb").query(
        TableName=pipe.table, KeyConditionExpression="pk = :p AND begins_with(sk, :e)",
        ExpressionAttributeValues={":p": {"S": payment["id"]}, ":e": {"S": "EVENT#"}})["Items"]
    assert len({i["traceparent"]["S"].split("-")[1] for i in items}) == 1


@pytest.mark.parametrize("token,code", [("tok_decline", "card_declined"),
                                        ("tok_insufficient_funds", "insufficient_funds")])
def test_declines_end_failed_with_the_code(pipe, merchant, token, code):
    payment = pay(pipe, merchant, token)
    drive(pipe)
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "FAILED" and got["failure"]["code"] == code


def test_flaky_provider_is_retried_and_charges_once(pipe, merchant, sandbox):
    payment = pay(pipe, merchant, "tok_flaky")
    drive(pipe)
    assert get(pipe, merchant, payment["id"])["status"] == "COMPLETED"
    assert sandbox.charge_count(payment["id"]) == 1 and sandbox.request_count(payment["id"]) == 3


def test_a_provider_timeout_after_success_is_found_not_charged_twice(pipe, merchant, sandbox):
    payment = pay(pipe, merchant, "tok_timeout_after_success")
    drive(pipe)
    assert get(pipe, merchant, payment["id"])["status"] == "COMPLETED"
    assert sandbox.charge_count(payment["id"]) == 1


def test_a_provider_that_stays_down_pushes_the_command_back_then_fails_it(pipe, merchant, aws):
    payment = pay(pipe, merchant, "tok_provider_error")
    pipe.relay_new()
    pipe.run(pipe.processor, pipe.commands_url)   # start
    pipe.relay_new()
    messages, result = pipe.run(pipe.processor, pipe.commands_url)  # charge: fails, retried later
    assert result == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert receive_all(pipe.commands_url) == []  # invisible for the backoff
    assert get(pipe, merchant, payment["id"])["status"] == "PROCESSING"
    # On the last attempt the payment fails instead: replay the message as its final delivery.
    last = messages[0]
    last["Attributes"]["ApproximateReceiveCount"] = aws.env("ProcessorFunction")["COMMAND_MAX_ATTEMPTS"]
    assert pipe.processor(sqs_event([last], pipe.arn(pipe.commands_url))) == {"batchItemFailures": []}
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "FAILED" and got["failure"]["code"] == "provider_unavailable"


def test_a_dead_lettered_command_fails_its_payment(pipe, merchant):
    payment = pay(pipe, merchant, "tok_success")
    pipe.relay_new()
    [command] = receive_all(pipe.commands_url)
    dlq = pipe.sqs.get_queue_url(QueueName=pipe.commands_url.rsplit("/", 1)[1].replace(".fifo", "-dlq.fifo"))
    assert pipe.deadletter(sqs_event([command], pipe.arn(dlq["QueueUrl"]))) == {"batchItemFailures": []}
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "FAILED" and got["failure"]["code"] == "processing_error"


def test_a_failing_endpoint_is_retried_with_the_same_webhook_id(pipe, merchant):
    flaky = Receiver(statuses=(500, 200))
    try:
        api_call(pipe.api, "api/create_webhook_endpoint.json", merchant["api_key"],
                 body={"url": flaky.url, "enabled_events": ["payment.created"]}, idem="ep")
        pay(pipe, merchant, "tok_success")
        pipe.relay_new()
        messages, result = pipe.run(pipe.webhooks, pipe.webhooks_url)
        assert result == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
        # Its visibility was set to the first delay of the dev schedule (1 s): deliver it again now.
        again = messages[0]
        again["Attributes"]["ApproximateReceiveCount"] = "2"
        assert pipe.webhooks(sqs_event([again], pipe.arn(pipe.webhooks_url))) == {"batchItemFailures": []}
        assert [h["webhook-id"] for _, h, _ in flaky.received] == [messages and json.loads(messages[0]["Body"])["event_id"]] * 2
    finally:
        flaky.close()


def test_relay_reports_a_failed_record_for_retry(pipe, merchant, monkeypatch):
    pay(pipe, merchant, "tok_success")
    records = stream_event(pipe.table)["Records"]
    monkeypatch.setenv("COMMANDS_QUEUE_URL", pipe.commands_url + "-missing")
    from paygate.container import get_container
    from paygate.settings import get_settings
    get_settings.cache_clear(), get_container.cache_clear()
    event_records = [r for r in records if r["dynamodb"]["NewImage"].get("kind", {}).get("S") == "event"]
    result = pipe.relay({"Records": records})
    assert result["batchItemFailures"] == [{"itemIdentifier": event_records[0]["dynamodb"]["SequenceNumber"]}]


def test_a_webhook_that_is_never_acknowledged_ends_visible_to_the_merchant(pipe, merchant, aws):
    broken = Receiver(statuses=(500,))
    try:
        endpoint = api_call(pipe.api, "api/create_webhook_endpoint.json", merchant["api_key"],
                            body={"url": broken.url, "enabled_events": ["payment.created"]}, idem="ep")
        payment = pay(pipe, merchant, "tok_success")
        pipe.relay_new()
        [message] = receive_all(pipe.webhooks_url)
        # Its last attempt fails: the message is made visible at once, and SQS moves it to the DLQ.
        message["Attributes"]["ApproximateReceiveCount"] = aws.env("WebhooksFunction")["WEBHOOK_MAX_ATTEMPTS"]
        result = pipe.webhooks(sqs_event([message], pipe.arn(pipe.webhooks_url)))
        assert result == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
        dlq_url = pipe.sqs.get_queue_url(QueueName=pipe.webhooks_url.rsplit("/", 1)[1].replace(".fifo", "-dlq.fifo"))
        assert pipe.webhook_deadletter(sqs_event([message], pipe.arn(dlq_url["QueueUrl"]))) == {"batchItemFailures": []}
        failed = api_call(pipe.api, "api/list_failed_deliveries.json", merchant["api_key"], we_REPLACE=endpoint["id"])
        [entry] = failed["data"]
        assert entry["status"] == "failed" and entry["event"]["type"] == "payment.created"
        assert entry["event"]["data"]["object"]["id"] == payment["id"]
        assert entry["attempts"] == int(aws.env("WebhooksFunction")["WEBHOOK_MAX_ATTEMPTS"])
    finally:
        broken.close()
