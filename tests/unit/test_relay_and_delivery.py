import json

from fakes import AllowAll, FakeEndpoints, FakePublisher, RecordingTransport
from standardwebhooks import Webhook

from paygate.domain.accounts import WebhookEndpoint
from paygate.domain.payment import EventType, PaymentEvent
from paygate.schemas.messages import Command, WebhookDelivery
from paygate.services.delivery import deliver, record_dead_letter
from paygate.services.endpoints import new_secret
from paygate.services.outcomes import Done, RetryLater
from paygate.services.ports import EventMeta, StoredEvent
from paygate.services.relay import relay_batch

NOW = "2026-01-01T00:00:00.000Z"


def stored(event_type, sequence, merchant="m"):
    event = PaymentEvent(f"evt_{sequence}", event_type, "pay_1", sequence, NOW, {})
    return StoredEvent(event, merchant, {"id": "pay_1", "status": "X"}, EventMeta("00-" + "a" * 32 + "-" + "b" * 16 + "-01", "req-1"))


def endpoint(eid, events=("*",), merchant="m", url="http://127.0.0.1:9/h"):
    return WebhookEndpoint(eid, merchant, url, new_secret(), tuple(events), NOW)


def test_created_event_becomes_a_start_command_grouped_by_payment_and_deduplicated_by_event():
    publisher, endpoints = FakePublisher(), FakeEndpoints()
    assert relay_batch([stored(EventType.CREATED, 1)], endpoints=endpoints, publisher=publisher,
                       commands_queue_url="cq", webhooks_queue_url="wq") is None
    [msg] = publisher.sent["cq"]
    cmd = Command.model_validate(msg.body)
    assert (cmd.type, cmd.expected_version, msg.group_id, msg.deduplication_id) == \
        ("payment.start_processing", 1, "pay_1", "evt_1")
    assert msg.attributes["traceparent"].startswith("00-") and cmd.correlation_id == "req-1"


def test_terminal_events_ask_for_no_command():
    publisher = FakePublisher()
    relay_batch([stored(EventType.COMPLETED, 3)], endpoints=FakeEndpoints(), publisher=publisher,
                commands_queue_url="cq", webhooks_queue_url="wq")
    assert "cq" not in publisher.sent


def test_one_webhook_message_per_subscribed_endpoint_of_that_merchant_only():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint("we_all"))
    endpoints.add(endpoint("we_completed", ["payment.completed"]))
    endpoints.add(endpoint("we_failed", ["payment.failed"]))
    endpoints.add(endpoint("we_other", merchant="other"))
    publisher = FakePublisher()
    relay_batch([stored(EventType.COMPLETED, 3)], endpoints=endpoints, publisher=publisher,
                commands_queue_url="cq", webhooks_queue_url="wq")
    sent = {m.body["endpoint_id"]: m for m in publisher.sent["wq"]}
    assert set(sent) == {"we_all", "we_completed"}
    assert sent["we_all"].group_id == "we_all:pay_1"
    assert sent["we_all"].deduplication_id == "evt_3:we_all"


class CountingEndpoints(FakeEndpoints):
    def __init__(self):
        super().__init__()
        self.lookups = 0

    def list(self, merchant_id):
        self.lookups += 1
        return super().list(merchant_id)


class FailingPublisher(FakePublisher):
    """Refuses the n-th call (1-based) and every call after it."""

    def __init__(self, fail_from):
        super().__init__()
        self.calls, self.fail_from = 0, fail_from

    def publish(self, queue_url, messages):
        self.calls += 1
        if self.calls >= self.fail_from:
            raise RuntimeError("SQS unavailable")
        super().publish(queue_url, messages)


def many(n):
    events = []
    for i in range(n):
        s = stored(EventType.CREATED, 1)
        events.append(StoredEvent(PaymentEvent(f"evt_{i}", EventType.CREATED, f"pay_{i}", 1, NOW, {}),
                                  s.merchant_id, s.snapshot, s.meta))
    return events


def test_a_batch_looks_up_endpoints_once_per_merchant_and_sends_ten_per_call_in_order():
    endpoints, publisher = CountingEndpoints(), FakePublisher()
    endpoints.add(endpoint("we_all"))
    assert relay_batch(many(25), endpoints=endpoints, publisher=publisher,
                       commands_queue_url="cq", webhooks_queue_url="wq") is None
    assert endpoints.lookups == 1
    assert [m.body["payment_id"] for m in publisher.sent["cq"]] == [f"pay_{i}" for i in range(25)]
    assert len(publisher.sent["wq"]) == 25


def test_a_failed_send_names_the_first_event_not_fully_published():
    publisher = FailingPublisher(fail_from=2)   # the first ten commands go out, the rest do not
    assert relay_batch(many(25), endpoints=FakeEndpoints(), publisher=publisher,
                       commands_queue_url="cq", webhooks_queue_url="wq") == 10
    assert len(publisher.sent["cq"]) == 10


def test_a_failed_webhook_send_retries_from_its_event_even_after_commands_went_out():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint("we_all"))
    publisher = FailingPublisher(fail_from=4)   # 3 command calls succeed, the first webhook call fails
    assert relay_batch(many(25), endpoints=endpoints, publisher=publisher,
                       commands_queue_url="cq", webhooks_queue_url="wq") == 0


def delivery(endpoint_id="we_1"):
    return WebhookDelivery(event_id="evt_3", event_type="payment.completed", created_at=NOW, merchant_id="m",
                           endpoint_id=endpoint_id, object={"id": "pay_1", "status": "COMPLETED"})


def run_delivery(endpoints, transport, attempt=1, max_attempts=8):
    import time
    return deliver(delivery(), attempt=attempt, max_attempts=max_attempts, schedule=(5, 300, 1800),
                   endpoints=endpoints, transport=transport, guard=AllowAll(), timeout=10, now=int(time.time()))


def test_a_delivery_is_signed_verifiably_with_the_event_id_as_webhook_id():
    endpoints, transport = FakeEndpoints(), RecordingTransport(200)
    endpoints.add(endpoint("we_1"))
    assert run_delivery(endpoints, transport) == Done("delivered")
    [(url, body, headers)] = transport.posts
    payload = Webhook(endpoints.get("m", "we_1").secret).verify(body, headers)
    assert headers["webhook-id"] == "evt_3" == payload["id"]
    assert payload["type"] == "payment.completed" and payload["data"]["object"]["id"] == "pay_1"


def test_a_failed_delivery_is_retried_on_the_schedule_with_the_same_webhook_id():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint("we_1"))
    transport = RecordingTransport(500, None, 200)
    assert run_delivery(endpoints, transport, attempt=1) == RetryLater(5, "HTTP 500")
    assert isinstance(run_delivery(endpoints, transport, attempt=2), RetryLater)
    assert run_delivery(endpoints, transport, attempt=3) == Done("delivered")
    assert {h["webhook-id"] for _, _, h in transport.posts} == {"evt_3"}


def test_when_the_schedule_is_spent_the_message_goes_to_the_dead_letter_queue_at_once():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint("we_1"))
    outcome = run_delivery(endpoints, RecordingTransport(503), attempt=4, max_attempts=4)
    assert isinstance(outcome, RetryLater) and outcome.seconds == 0


def test_a_deleted_endpoint_drops_its_deliveries():
    assert run_delivery(FakeEndpoints(), RecordingTransport(200)) == Done("endpoint deleted")


def test_the_body_is_the_documented_envelope():
    endpoints, transport = FakeEndpoints(), RecordingTransport(204)
    endpoints.add(endpoint("we_1"))
    run_delivery(endpoints, transport)
    body = json.loads(transport.posts[0][1])
    assert set(body) == {"id", "type", "created_at", "data"} and set(body["data"]) == {"object"}


def test_a_dead_lettered_delivery_is_kept_for_the_merchant_with_its_event():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint("we_1"))
    assert record_dead_letter(delivery(), endpoints=endpoints, attempts=8, now=NOW) == Done("recorded")
    [failure] = endpoints.failures("m", "we_1", 10)
    assert (failure.event_id, failure.event_type, failure.attempts) == ("evt_3", "payment.completed", 8)
    assert failure.object["id"] == "pay_1"


def test_a_dead_letter_for_a_deleted_endpoint_is_dropped():
    assert record_dead_letter(delivery(), endpoints=FakeEndpoints(), attempts=8, now=NOW) == \
        Done("endpoint deleted")


def test_a_url_refused_at_delivery_is_a_failed_attempt_not_a_silent_drop():
    class Refuse:
        def check(self, url):
            return "resolves to a private address"
    endpoints, transport = FakeEndpoints(), RecordingTransport(200)
    endpoints.add(endpoint("we_1"))
    import time
    outcome = deliver(delivery(), attempt=1, max_attempts=8, schedule=(5, 300), endpoints=endpoints,
                      transport=transport, guard=Refuse(), timeout=10, now=int(time.time()))
    assert isinstance(outcome, RetryLater) and "refused" in outcome.reason and transport.posts == []
