"""relay, processor, webhooks and the dead-letter consumers against moto: each fed what the one before
really wrote (the table's stream, the queues), as the runtime would hand it over."""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from lambda_harness import load_event, make_merchant, receive_all, sqs_event, stream_event
from receiver import Receiver
from standardwebhooks import Webhook

from sandbox_provider import SandboxProvider

# Time-dependent (reconciliation threshold, event retention, key expiry): also run 90 days ahead.
pytestmark = pytest.mark.clock_sensitive

# No waiting between webhook attempts here: each retry is visible at once.
FAST_RETRIES = {"WEBHOOK_RETRY_SCHEDULE": "0,0,0,0,0,0,0"}


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
        env = {"PROVIDER_URL": sandbox.url, "PROVIDER_TIMEOUT_SECONDS": "0.3", **FAST_RETRIES}
        # One process, one environment: every handler gets the sandbox's URL.
        self.api = handler_of("ApiFunction", **env)
        self.relay = handler_of("RelayFunction", **env)
        self.processor = handler_of("ProcessorFunction", **env)
        self.webhooks = handler_of("WebhooksFunction", **env)
        self.deadletter = handler_of("DeadLetterFunction", **env)
        self.webhook_deadletter = handler_of("WebhookDeadLetterFunction", **env)
        env = aws.env("ApiFunction")
        self.table = env["AGGREGATES_TABLE"]
        self.commands_url, self.webhooks_url = env["COMMANDS_QUEUE_URL"], env["WEBHOOKS_QUEUE_URL"]
        self.webhooks_dlq_url = env["WEBHOOKS_DLQ_URL"]
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

    def settle_webhooks(self, rounds=20):
        """Deliver, retry and dead-letter until the webhooks queues are empty."""
        for _ in range(rounds):
            delivered, _ = self.run(self.webhooks, self.webhooks_url)
            dead, _ = self.run(self.webhook_deadletter, self.webhooks_dlq_url)
            if not delivered and not dead:
                return
        raise AssertionError("the webhooks queue never emptied")


@pytest.fixture
def pipe(aws, handler_of, sandbox):
    return Pipeline(aws, handler_of, sandbox)


def pay(pipe, merchant, token, idem="k1"):
    body = {"amount": 700, "currency": "eur", "payment_method": {"type": "card", "token": token}}
    return api_call(pipe.api, "api/create_payment.json", merchant["api_key"], body=body, idem=idem)


def get(pipe, merchant, payment_id):
    return api_call(pipe.api, "api/get_payment.json", merchant["api_key"], pay_REPLACE=payment_id)


def endpoint(pipe, merchant, url, events=None, idem="ep"):
    body = {"url": url, **({"enabled_events": events} if events else {})}
    return api_call(pipe.api, "api/create_webhook_endpoint.json", merchant["api_key"], body=body, idem=idem)


def drive(pipe):
    """relay -> processor -> relay: one command charges the payment."""
    assert pipe.relay_new() == {"batchItemFailures": []}
    pipe.run(pipe.processor, pipe.commands_url)
    assert pipe.relay_new() == {"batchItemFailures": []}


def test_relay_turns_the_created_event_into_one_command_and_one_webhook_delivery(pipe, merchant, receiver):
    endpoint(pipe, merchant, receiver.url)
    payment = pay(pipe, merchant, "tok_success")
    assert pipe.relay_new() == {"batchItemFailures": []}
    [command] = receive_all(pipe.commands_url)
    assert command["Attributes"]["MessageGroupId"] == payment["id"]
    assert json.loads(command["Body"])["type"] == "payment.process"
    assert command["MessageAttributes"]["traceparent"]["StringValue"].startswith("00-")
    [hook] = receive_all(pipe.webhooks_url)
    body = json.loads(hook["Body"])
    assert "MessageGroupId" not in hook["Attributes"] and body["endpoint_id"] is None and body["attempt"] == 1
    assert [e["type"] for e in body["events"]] == ["payment.created"]


def test_success_is_one_command_one_write_and_verifiable_webhooks_in_one_trace(pipe, merchant, receiver, sandbox):
    ep = endpoint(pipe, merchant, receiver.url)
    payment = pay(pipe, merchant, "tok_success")
    drive(pipe)
    assert get(pipe, merchant, payment["id"])["status"] == "COMPLETED"
    assert sandbox.charge_count(payment["id"]) == 1
    pipe.settle_webhooks()
    events = [Webhook(ep["secret"]).verify(body, headers) for body, headers, _ in receiver.received]
    assert sorted((e["type"], e["data"]["object"]["version"]) for e in events) == [
        ("payment.completed", 3), ("payment.created", 1), ("payment.processing", 2)]
    history = api_call(pipe.api, "api/list_payment_events.json", merchant["api_key"], pay_REPLACE=payment["id"])
    assert [e["type"] for e in history["data"]] == ["payment.created", "payment.processing", "payment.completed"]
    # One item, and one trace for the whole payment: every event's traceparent has the same trace id.
    [item] = boto3.client("dynamodb").query(
        TableName=pipe.table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": payment["id"]}}
    )["Items"]
    traces = [e["M"]["tp"]["S"].split("-")[1] for e in item["events"]["L"]]
    assert len(traces) == 3 and len(set(traces)) == 1


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
    messages, result = pipe.run(pipe.processor, pipe.commands_url)
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


def test_a_malformed_command_is_dropped_not_retried(pipe):
    pipe.sqs.send_message(QueueUrl=pipe.commands_url, MessageBody='{"type": "payment.explode"}',
                          MessageGroupId="g", MessageDeduplicationId="d")
    messages, result = pipe.run(pipe.processor, pipe.commands_url)
    assert len(messages) == 1 and result == {"batchItemFailures": []}


def test_a_failing_endpoint_is_retried_with_the_same_webhook_id_and_its_own_attempt(pipe, merchant):
    flaky = Receiver(statuses=(500, 200))
    try:
        endpoint(pipe, merchant, flaky.url, ["payment.created"])
        pay(pipe, merchant, "tok_success")
        pipe.relay_new()
        messages, result = pipe.run(pipe.webhooks, pipe.webhooks_url)
        assert result == {"batchItemFailures": []}  # the first message is done: its retry is a message of its own
        [retry] = receive_all(pipe.webhooks_url)
        body = json.loads(retry["Body"])
        assert body["attempt"] == 2 and body["endpoint_id"] is not None
        assert pipe.webhooks(sqs_event([retry], pipe.arn(pipe.webhooks_url))) == {"batchItemFailures": []}
        first_id = json.loads(messages[0]["Body"])["events"][0]["id"]
        assert [h["webhook-id"] for _, h, _ in flaky.received] == [first_id] * 2
    finally:
        flaky.close()


def test_relay_reports_a_failed_record_for_retry(pipe, merchant, monkeypatch):
    pay(pipe, merchant, "tok_success")
    records = stream_event(pipe.table)["Records"]
    monkeypatch.setenv("COMMANDS_QUEUE_URL", pipe.commands_url + "-missing")
    from paygate.container import get_container
    from paygate.settings import get_settings
    get_settings.cache_clear(), get_container.cache_clear()
    result = pipe.relay({"Records": records})
    assert result["batchItemFailures"] == [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]


def test_bug_every_event_behind_a_failing_endpoint_gets_all_its_attempts_and_is_shown(pipe, merchant, aws):
    """The issue's first bug, on real queues: an endpoint answering 503, one payment. Each of its
    three events is tried WebhookMaxAttempts times, then listed with that many attempts."""
    broken = Receiver(statuses=(503,))
    try:
        ep = endpoint(pipe, merchant, broken.url)
        payment = pay(pipe, merchant, "tok_success")
        drive(pipe)
        pipe.settle_webhooks()
        max_attempts = int(aws.env("WebhooksFunction")["WEBHOOK_MAX_ATTEMPTS"])
        tries = [h["webhook-id"] for _, h, _ in broken.received]
        assert len(set(tries)) == 3 and all(tries.count(t) == max_attempts for t in tries)
        failed = api_call(pipe.api, "api/list_failed_deliveries.json", merchant["api_key"], we_REPLACE=ep["id"])
        assert sorted((f["event"]["type"], f["attempts"]) for f in failed["data"]) == [
            ("payment.completed", max_attempts), ("payment.created", max_attempts),
            ("payment.processing", max_attempts)]
        assert {f["event"]["data"]["object"]["id"] for f in failed["data"]} == {payment["id"]}
    finally:
        broken.close()


def test_bug_a_slow_endpoint_does_not_hold_back_another_merchants_webhooks(pipe, merchant, aws):
    """The issue's second bug, on real queues: merchant A's endpoint hangs; merchant B's webhooks,
    handed to the same invocation, arrive while A's still hang."""

    released = threading.Event()
    slow = Receiver(hold=released)
    fast = Receiver()
    try:
        endpoint(pipe, merchant, slow.url)
        other = make_merchant(aws, "merchant-b")
        endpoint(pipe, other, fast.url, idem="ep-b")
        for n in range(3):
            pay(pipe, merchant, "tok_success", idem=f"a{n}")
        paid_b = pay(pipe, other, "tok_success", idem="b")
        pipe.relay_new()
        outcome: dict = {}
        runner = threading.Thread(target=lambda: outcome.update(result=pipe.run(pipe.webhooks, pipe.webhooks_url)))
        runner.start()
        try:
            fast.wait_for(1, timeout=20)  # while A's three deliveries are still held open
            assert slow.held >= 1
        finally:
            released.set()
            runner.join(30)
        [(body, _, _)] = fast.received
        assert json.loads(body)["data"]["object"]["id"] == paid_b["id"]
    finally:
        released.set()
        slow.close()
        fast.close()


def test_the_sample_events_drive_their_functions(pipe, sandbox, receiver):
    """events/<function>/*.json (what `sam local invoke` takes) run through their functions as they are."""
    from paygate.adapters.dynamodb.endpoints import EndpointsTable
    from paygate.adapters.dynamodb.idempotency import IdempotencyKeys
    from paygate.domain.accounts import WebhookEndpoint
    from paygate.services.ports.idempotency import IdempotencyRecord

    ddb = boto3.client("dynamodb")
    env = pipe.aws.env("ApiFunction")
    endpoints = EndpointsTable(ddb, env["MERCHANTS_TABLE"], IdempotencyKeys(ddb, env["IDEMPOTENCY_TABLE"]))
    endpoints.create(WebhookEndpoint("we_REPLACE", "mer_REPLACE", receiver.url, "whsec_" + "B" * 32, ("*",),
                                     "2026-11-22T04:00:00.000Z"), IdempotencyRecord("mer_REPLACE#s", "f", "we", 9), 0)
    created, completed = load_event("relay/payment_created.json"), load_event("relay/payment_completed.json")
    # The relay: a new payment asks for its command and a delivery; the completing write for one delivery.
    assert pipe.relay(created) == pipe.relay(completed) == {"batchItemFailures": []}
    assert [json.loads(m["Body"])["type"] for m in receive_all(pipe.commands_url)] == ["payment.process"]
    assert [[e["type"] for e in json.loads(m["Body"])["events"]] for m in receive_all(pipe.webhooks_url)] == [
        ["payment.created"], ["payment.processing", "payment.completed"]]
    # The processor charges the sample's payment (as the created record's image put it in the table).
    ddb.put_item(TableName=pipe.table, Item=created["Records"][0]["dynamodb"]["NewImage"])
    assert pipe.processor(load_event("processor/process_payment.json")) == {"batchItemFailures": []}
    assert sandbox.charge_count("pay_REPLACE") == 1
    # A dead command for a payment already settled changes nothing.
    assert pipe.deadletter(load_event("deadletter/dead_command.json")) == {"batchItemFailures": []}
    # The webhooks function delivers the sample's two events; the dead letter is kept with its 8 attempts.
    assert pipe.webhooks(load_event("webhooks/payment_completed.json")) == {"batchItemFailures": []}
    assert [e["type"] for e, _, _ in receiver.events()] == ["payment.processing", "payment.completed"]
    assert pipe.webhook_deadletter(load_event("webhook_deadletter/payment_completed.json")) == {
        "batchItemFailures": []}
    [failure] = endpoints.failures("mer_REPLACE", "we_REPLACE", 10)
    assert (failure.event_type, failure.attempts) == ("payment.completed", 8)


def test_reconciliation_rechecks_only_the_payments_left_processing(pipe, merchant, handler_of):
    """The in-progress index holds a payment pending at the provider, not one that completed; the
    scheduled run (events/reconcile/scheduled.json) puts one settle command in for it, which leaves it
    PROCESSING as long as the provider cannot confirm an outcome."""
    pending = pay(pipe, merchant, "tok_pending", idem="p1")
    done = pay(pipe, merchant, "tok_success", idem="p2")
    drive(pipe)
    assert get(pipe, merchant, pending["id"])["status"] == "PROCESSING"
    assert get(pipe, merchant, done["id"])["status"] == "COMPLETED"
    reconcile = handler_of("ReconcileFunction", RECONCILE_AFTER_SECONDS="0")
    assert reconcile(load_event("reconcile/scheduled.json")) == {"checked": 1}
    waiting = pipe.sqs.get_queue_attributes(QueueUrl=pipe.commands_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert waiting["Attributes"]["ApproximateNumberOfMessages"] == "1"
    pipe.run(pipe.processor, pipe.commands_url)
    assert get(pipe, merchant, pending["id"])["status"] == "PROCESSING"
    assert handler_of("ReconcileFunction", RECONCILE_AFTER_SECONDS="3600")(
        load_event("reconcile/scheduled.json")) == {"checked": 0}  # not yet past the threshold



def api_query(pipe, merchant, name, query=None, **replace):
    event = load_event(name, **replace)
    event["headers"]["Authorization"] = f"Bearer {merchant['api_key']}"
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    response = pipe.api(event)
    return response["statusCode"], json.loads(response["body"])


def test_events_and_every_delivery_attempt_are_kept_read_back_and_redelivered(pipe, merchant, handler_of, aws):
    flaky = Receiver(statuses=(500, 200))
    try:
        ep = endpoint(pipe, merchant, flaky.url, ["payment.completed"])
        payment = pay(pipe, merchant, "tok_success")
        drive(pipe)
        pipe.settle_webhooks()
        # Every event, newest first, exactly as it was sent (subscribed to or not).
        status, listed = api_query(pipe, merchant, "api/list_events.json")
        assert status == 200 and [e["type"] for e in listed["data"]] == [
            "payment.completed", "payment.processing", "payment.created"]
        sent = json.loads(flaky.received[-1][0])
        assert listed["data"][0] == sent and listed["has_more"] is False
        _, completed = api_query(pipe, merchant, "api/list_events.json", {"type": "payment.completed"})
        assert [e["id"] for e in completed["data"]] == [sent["id"]]
        _, first_page = api_query(pipe, merchant, "api/list_events.json", {"limit": "2"})
        _, second_page = api_query(pipe, merchant, "api/list_events.json",
                                   {"limit": "2", "starting_after": first_page["data"][-1]["id"]})
        assert first_page["has_more"] and not second_page["has_more"]
        assert first_page["data"] + second_page["data"] == listed["data"]
        status, one = api_query(pipe, merchant, "api/get_event.json", evt_REPLACE=sent["id"])
        assert status == 200 and one == sent and one["data"]["object"]["id"] == payment["id"]
        # Every attempt: the 500 with when the next one was due, then the 200.
        status, deliveries = api_query(pipe, merchant, "api/list_deliveries.json", we_REPLACE=ep["id"])
        assert status == 200
        attempts = sorted(deliveries["data"], key=lambda a: a["attempt"])
        assert [(a["attempt"], a["status_code"], a["delivered"]) for a in attempts] == [(1, 500, False), (2, 200, True)]
        assert attempts[0]["next_attempt_at"] >= attempts[0]["at"] and attempts[1]["next_attempt_at"] is None
        assert {a["event_id"] for a in attempts} == {sent["id"]}
        # Redelivered: the same body and webhook-id, a new attempt recorded.
        response = pipe.api(load_event("api/redeliver.json", evt_REPLACE=sent["id"], we_REPLACE=ep["id"],
                                       sk_test_REPLACE_WITH_A_KEY=merchant["api_key"]))
        assert response["statusCode"] == 202 and json.loads(response["body"]) == sent
        pipe.settle_webhooks()
        body, headers, _ = flaky.received[-1]
        assert json.loads(body) == sent and headers["webhook-id"] == sent["id"] and len(flaky.received) == 3
        assert Webhook(ep["secret"]).verify(body, headers) == sent
        _, deliveries = api_query(pipe, merchant, "api/list_deliveries.json", we_REPLACE=ep["id"])
        assert len(deliveries["data"]) == 3
    finally:
        flaky.close()


def test_events_are_listed_for_30_days_then_no_more(pipe, merchant):
    """Retention is measured from when each event was written, against the clock of the moment."""
    from datetime import datetime, timedelta, timezone

    import time_machine

    payment = pay(pipe, merchant, "tok_success")
    drive(pipe)
    pipe.settle_webhooks()
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(days=29, hours=23), tick=True):
        status, listed = api_query(pipe, merchant, "api/list_events.json")
        assert status == 200 and {e["data"]["object"]["id"] for e in listed["data"]} == {payment["id"]}
        assert len(listed["data"]) == 3
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(days=30, minutes=1), tick=True):
        status, listed = api_query(pipe, merchant, "api/list_events.json")
        assert (status, listed["data"]) == (200, [])


def test_events_and_deliveries_refuse_what_is_not_the_merchants(pipe, merchant, aws):
    ep = endpoint(pipe, merchant, "https://hooks.example/one", ["payment.completed"])
    pay(pipe, merchant, "tok_success")
    pipe.relay_new()
    pipe.settle_webhooks()
    _, listed = api_query(pipe, merchant, "api/list_events.json")
    [created] = listed["data"]

    def redeliver(event_id, endpoint_id=ep["id"], key=merchant["api_key"]):
        response = pipe.api(load_event("api/redeliver.json", evt_REPLACE=event_id, we_REPLACE=endpoint_id,
                                       sk_test_REPLACE_WITH_A_KEY=key))
        return response["statusCode"], json.loads(response["body"])["error"]

    assert redeliver("evt_nope") == (404, {"type": "invalid_request_error", "code": "resource_missing",
                                           "message": "no such event: 'evt_nope'", "param": "event_id"})
    status, error = redeliver(created["id"])  # the endpoint does not receive payment.created
    assert (status, error["code"], error["param"]) == (400, "event_not_enabled", "event_id")
    assert redeliver(created["id"], "we_nope")[0] == 404
    assert api_query(pipe, merchant, "api/list_events.json", {"type": "payment.nope"})[0] == 400
    assert api_query(pipe, merchant, "api/list_events.json", {"starting_after": "evt_nope"})[0] == 400
    assert api_query(pipe, merchant, "api/list_events.json", {"colour": "red"})[0] == 400
    assert api_query(pipe, merchant, "api/get_event.json", evt_REPLACE="evt_nope")[0] == 404
    assert api_query(pipe, merchant, "api/list_deliveries.json", we_REPLACE="we_nope")[0] == 404
    # Another merchant sees none of it.
    other = make_merchant(aws, "other")
    assert api_query(pipe, other, "api/list_events.json")[1]["data"] == []
    assert api_query(pipe, other, "api/get_event.json", evt_REPLACE=created["id"])[0] == 404
    assert api_query(pipe, other, "api/list_deliveries.json", we_REPLACE=ep["id"])[0] == 404
    assert redeliver(created["id"], key=other["api_key"])[0] == 404
