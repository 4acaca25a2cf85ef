"""The relay (stream changes -> commands and webhook deliveries) and webhook delivery, with fakes."""

import json
import threading
import time

from fakes import (
    AllowAll,
    FakeDecoder,
    FakeDeliveryQueue,
    FakeEndpoints,
    FakeEventLog,
    FakePayments,
    FakePublisher,
    RecordingTransport,
)
from standardwebhooks import Webhook

from paygate.domain import payment as d
from paygate.domain.accounts import WebhookEndpoint
from paygate.domain.methods import CardMethod
from paygate.domain.money import Money
from paygate.schemas.messages import Command, WebhookDelivery
from paygate.services.ports.idempotency import IdempotencyRecord
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.records import EventMeta
from paygate.services.relay import relay
from paygate.services.webhooks.delivery import DeliveryPolicy, Received, deliver_batch, record_dead_letter

NOW = "2026-01-01T00:00:00.000Z"
SECRET = "whsec_" + "A" * 32
POLICY = DeliveryPolicy(schedule=(1, 2, 4), max_attempts=3, timeout=10.0)
T0 = 1_800_000_000


def new_payment(repo, pid="pay_1", merchant="m1"):
    payment, event = d.open_payment(payment_id=pid, event_id=f"evt_{pid}_1", merchant_id=merchant,
                                    money=Money.of(500, "EUR"), payment_method=CardMethod("t"),
                                    now=NOW)
    repo.create(PaymentRecord(payment, (event,), ("00-aaaa-bbbb-01",), "corr-1"),
                IdempotencyRecord(f"{merchant}#{pid}", "f", pid, 99), 0)
    return payment


def complete(repo, pid="pay_1"):
    record = repo.get(pid)
    started, e2 = d.start_processing(record.state, event_id=f"evt_{pid}_2", now=NOW)
    done, e3 = d.complete(started, event_id=f"evt_{pid}_3", now=NOW, charge_id="ch")
    repo.append(record, [e2, e3], done, EventMeta("00-aaaa-cccc-01"))


def run_relay(repo, publisher, changes=None):
    return relay(changes if changes is not None else repo.changes, decoder=FakeDecoder(), publisher=publisher,
                 commands_queue_url="cmd", webhooks_queue_url="hooks")


def deliveries(publisher):
    return [WebhookDelivery.from_json(m.body) for m in publisher.sent.get("hooks", [])]


# ----------------------------------------------------------------------------------------- relay


def test_a_created_payment_becomes_one_command_and_one_delivery_grouped_and_traced():
    repo, publisher = FakePayments(), FakePublisher()
    new_payment(repo)
    assert run_relay(repo, publisher) is None
    [command] = publisher.sent["cmd"]
    body = Command.from_json(command.body)
    assert (body.type, body.payment_id, body.expected_version) == ("payment.process", "pay_1", 1)
    assert command.group_id == "pay_1" and command.deduplication_id == "evt_pay_1_1:payment.process"
    assert command.attributes == {"payment_id": "pay_1", "traceparent": "00-aaaa-bbbb-01"}
    [hook] = publisher.sent["hooks"]
    assert hook.group_id is None and hook.deduplication_id is None  # a standard queue
    [delivery] = deliveries(publisher)
    assert delivery.endpoint_id is None and delivery.attempt == 1 and delivery.correlation_id == "corr-1"
    [event] = delivery.events
    assert event["type"] == "payment.created" and event["data"]["object"]["status"] == "NEW"


def test_a_write_with_two_events_is_one_delivery_in_sequence_and_asks_for_no_command():
    repo, publisher = FakePayments(), FakePublisher()
    new_payment(repo)
    complete(repo)
    assert run_relay(repo, publisher, repo.changes[1:]) is None
    assert "cmd" not in publisher.sent
    [delivery] = deliveries(publisher)
    assert [(e["type"], e["data"]["object"]["version"]) for e in delivery.events] == [
        ("payment.processing", 2), ("payment.completed", 3)]
    assert delivery.events[1]["data"]["object"]["status"] == "COMPLETED"


def test_one_payment_per_batch_is_one_delivery_and_ten_messages_go_per_request():
    repo, publisher = FakePayments(), FakePublisher()
    for n in range(12):
        new_payment(repo, f"pay_{n:02d}")
    complete(repo, "pay_00")  # the same payment again later in the batch
    assert run_relay(repo, publisher) is None
    assert len(publisher.sent["cmd"]) == 12 and len(publisher.sent["hooks"]) == 12
    assert publisher.requests == 4  # 10 + 2 commands, 10 + 2 deliveries
    first = deliveries(publisher)[0]
    assert [e["type"] for e in first.events] == ["payment.created", "payment.processing", "payment.completed"]


def test_the_relay_reads_nothing_and_three_events_of_a_payment_take_three_sends():
    # Given a payment created, then processed and completed in one write, relayed as the stream gives them
    repo, publisher = FakePayments(), FakePublisher()
    new_payment(repo)
    run_relay(repo, publisher, repo.changes[:1])
    complete(repo)
    run_relay(repo, publisher, repo.changes[1:])
    # Then: a command and a delivery for the first write, one delivery for the second
    assert publisher.requests == 3


def test_a_failed_send_names_the_first_change_not_fully_published():
    repo = FakePayments()
    new_payment(repo, "pay_a")
    complete(repo, "pay_a")
    new_payment(repo, "pay_b")
    assert run_relay(repo, FakePublisher(fail_on={"cmd"})) == repo.changes[0].position
    # Commands went out but deliveries did not: the retry starts at the first change with a delivery.
    assert run_relay(repo, FakePublisher(fail_on={"hooks"})) == repo.changes[0].position


# ----------------------------------------------------------------------------------------- delivery


def endpoint(eid="we_1", merchant="m1", url=None, events=("*",)):
    return WebhookEndpoint(id=eid, merchant_id=merchant, url=url or f"https://{eid}.example/hook", secret=SECRET,
                           enabled_events=tuple(events), created_at=NOW)


def event(n, etype="payment.created", pid="pay_1"):
    return {"id": f"evt_{pid}_{n}", "type": etype, "created_at": NOW,
            "data": {"object": {"id": pid, "object": "payment", "version": n}}}


def received(delivery, mid="m-1"):
    return Received(mid, f"rh-{mid}", delivery)


def deliver(batch, endpoints, transport, queue=None, time_left=60.0, now=T0, log=None):
    queue = queue if queue is not None else FakeDeliveryQueue()
    stay = deliver_batch(batch, endpoints=endpoints, transport=transport, guard=AllowAll(), queue=queue,
                         log=log if log is not None else FakeEventLog(), policy=POLICY, now=lambda: now,
                         time_left=lambda: time_left)
    return stay, queue


def test_the_body_is_the_documented_envelope_signed_with_the_event_id_as_webhook_id():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint())
    transport = RecordingTransport(200)
    stay, queue = deliver([received(WebhookDelivery("m1", (event(1),)))], endpoints, transport, now=int(time.time()))
    assert stay == [] and queue.scheduled == [] and queue.dead == []
    [(url, body, headers)] = transport.posts
    assert url == "https://we_1.example/hook" and headers["webhook-id"] == "evt_pay_1_1"
    assert Webhook(SECRET).verify(body, headers) == event(1)
    assert set(json.loads(body)) == {"id", "type", "created_at", "data"}


def test_the_first_attempt_goes_to_every_subscribed_endpoint_of_that_merchant_only():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint("we_all"))
    endpoints.add(endpoint("we_done", events=("payment.completed",)))
    endpoints.add(endpoint("we_other", merchant="m2"))
    transport = RecordingTransport(200)
    deliver([received(WebhookDelivery("m1", (event(1), event(3, "payment.completed"))))], endpoints, transport)
    sent = sorted((url.split("//")[1].split(".")[0], json.loads(body)["type"]) for url, body, _ in transport.posts)
    assert sent == [("we_all", "payment.completed"), ("we_all", "payment.created"), ("we_done", "payment.completed")]


def test_bug_events_behind_a_failing_delivery_keep_their_own_attempts():
    """The issue's first bug: with an endpoint answering 503, every event of a payment is tried
    max_attempts times on its own schedule, and is dead-lettered saying so."""
    endpoints = FakeEndpoints()
    endpoints.add(endpoint())
    transport = RecordingTransport(503)
    queue = FakeDeliveryQueue()
    pending = [received(WebhookDelivery("m1", (event(1),)), "a"),
               received(WebhookDelivery("m1", (event(2, "payment.processing"), event(3, "payment.completed"))), "b")]
    delays = []
    while pending:  # what the queue would hand back, each retry when its delay is over
        stay, _ = deliver(pending, endpoints, transport, queue)
        assert stay == []
        delays += [delay for _, delay in queue.scheduled]
        pending = [received(d, f"r{n}") for n, (d, _) in enumerate(queue.scheduled)]
        queue.scheduled = []
    tries = [json.loads(body)["id"] for _, body, _ in transport.posts]
    assert {eid: tries.count(eid) for eid in tries} == {"evt_pay_1_1": 3, "evt_pay_1_2": 3, "evt_pay_1_3": 3}
    assert sorted(delays) == [1, 1, 1, 2, 2, 2]  # the schedule, per event
    assert sorted((d.events[0]["id"], d.attempt, d.endpoint_id) for d in queue.dead) == [
        ("evt_pay_1_1", 3, "we_1"), ("evt_pay_1_2", 3, "we_1"), ("evt_pay_1_3", 3, "we_1")]


def test_batch_mates_of_a_failing_delivery_are_delivered_once_and_unaffected():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint("we_bad", merchant="m1"))
    endpoints.add(endpoint("we_good", merchant="m2"))
    transport = RecordingTransport(by_url={"https://we_bad.example/hook": 500, "https://we_good.example/hook": 200})
    batch = [received(WebhookDelivery("m1", (event(1),)), "bad"),
             received(WebhookDelivery("m2", (event(1, pid="pay_2"),)), "good")]
    stay, queue = deliver(batch, endpoints, transport)
    assert stay == []
    [(retry, delay)] = queue.scheduled
    assert (retry.endpoint_id, retry.attempt, delay) == ("we_bad", 2, 1)
    assert sum(1 for url, _, _ in transport.posts if "we_good" in url) == 1


def test_bug_a_slow_endpoint_never_holds_back_another_merchants_deliveries():
    """The issue's second bug: one merchant's endpoint hangs; another merchant's deliveries in the
    same batch go out while it hangs, not after it."""
    good_delivered = threading.Event()
    saw_good_first: list[bool] = []

    def slow(body):
        saw_good_first.append(good_delivered.wait(timeout=5))  # hangs until the other is delivered
        return 200

    def good(body):
        good_delivered.set()
        return 200

    endpoints = FakeEndpoints()
    endpoints.add(endpoint("we_slow", merchant="mA"))
    endpoints.add(endpoint("we_good", merchant="mB"))
    transport = RecordingTransport(by_url={"https://we_slow.example/hook": slow, "https://we_good.example/hook": good})
    batch = [received(WebhookDelivery("mA", (event(n, pid=f"pay_a{n}"),)), f"a{n}") for n in range(1, 4)]
    batch += [received(WebhookDelivery("mB", (event(1, pid="pay_b"),)), "b")]
    stay, _ = deliver(batch, endpoints, transport)
    assert stay == [] and saw_good_first == [True, True, True]


def test_no_post_is_started_without_time_to_finish_it_and_the_delivery_comes_again_at_once():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint())
    transport = RecordingTransport(200)
    stay, queue = deliver([received(WebhookDelivery("m1", (event(1),), attempt=2))], endpoints, transport,
                          time_left=5.0)
    assert transport.posts == [] and stay == []
    [(again, delay)] = queue.scheduled
    assert (again.attempt, again.endpoint_id, delay) == (2, "we_1", 0)


def test_a_retry_due_later_than_sqs_can_delay_is_held_until_it_is_due():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint())
    policy_long = DeliveryPolicy(schedule=(3600,), max_attempts=2, timeout=10.0)
    queue = FakeDeliveryQueue()
    deliver_batch([received(WebhookDelivery("m1", (event(1),)))], endpoints=endpoints,
                  transport=RecordingTransport(500), guard=AllowAll(), queue=queue, log=FakeEventLog(), policy=policy_long,
                  now=lambda: T0, time_left=lambda: 60.0)
    [(retry, delay)] = queue.scheduled
    assert delay == 900 and retry.not_before == T0 + 3600
    # Received before it is due: held for the rest, not attempted, left on the queue.
    transport = RecordingTransport(200)
    stay, queue = deliver([received(retry, "early")], endpoints, transport, now=T0 + 900)
    assert stay == ["early"] and queue.held == [("rh-early", 2700)] and transport.posts == []


def test_a_deleted_endpoint_drops_its_deliveries():
    transport = RecordingTransport(200)
    stay, queue = deliver([received(WebhookDelivery("m1", (event(1),), endpoint_id="we_gone", attempt=2))],
                          FakeEndpoints(), transport)
    assert stay == [] and transport.posts == [] and queue.scheduled == [] and queue.dead == []


def test_a_url_refused_at_delivery_is_a_failed_attempt_not_a_silent_drop():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint())

    class RefuseAll:
        def check(self, url):
            return "url resolves to a private, loopback or link-local address"

    queue, transport = FakeDeliveryQueue(), RecordingTransport(200)
    deliver_batch([received(WebhookDelivery("m1", (event(1),), endpoint_id="we_1", attempt=3))],
                  endpoints=endpoints, transport=transport, guard=RefuseAll(), queue=queue, log=FakeEventLog(), policy=POLICY,
                  now=lambda: T0, time_left=lambda: 60.0)
    assert transport.posts == [] and [d.attempt for d in queue.dead] == [3]


def test_retries_that_cannot_be_published_leave_their_message_on_the_queue():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint())
    stay, _ = deliver([received(WebhookDelivery("m1", (event(1),)), "x")], endpoints, RecordingTransport(500),
                      FakeDeliveryQueue(refuse=True))
    assert stay == ["x"]


def test_endpoints_are_read_once_per_merchant_in_a_batch():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint())
    deliver([received(WebhookDelivery("m1", (event(n, pid=f"p{n}"),)), f"m{n}") for n in range(5)], endpoints,
            RecordingTransport(200))
    assert endpoints.reads == 1


def test_a_dead_lettered_delivery_is_kept_with_the_attempts_made_and_its_event():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint())
    record_dead_letter(WebhookDelivery("m1", (event(1),), endpoint_id="we_1", attempt=8), endpoints=endpoints, now=NOW)
    [failure] = endpoints.failures("m1", "we_1", 10)
    assert (failure.event_id, failure.attempts, failure.object["id"]) == ("evt_pay_1_1", 8, "pay_1")


def test_a_delivery_the_queue_redrove_is_kept_for_each_subscribed_endpoint():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint("we_a"))
    endpoints.add(endpoint("we_b", events=("payment.completed",)))
    record_dead_letter(WebhookDelivery("m1", (event(1),)), endpoints=endpoints, now=NOW)
    assert len(endpoints.failures("m1", "we_a", 10)) == 1 and endpoints.failures("m1", "we_b", 10) == []


def test_a_dead_letter_for_a_deleted_endpoint_is_dropped():
    endpoints = FakeEndpoints()
    record_dead_letter(WebhookDelivery("m1", (event(1),), endpoint_id="we_gone", attempt=3), endpoints=endpoints,
                       now=NOW)
    assert endpoints.failed == {}


# ------------------------------------------------------------------------- the event log, the attempts


def test_every_event_is_kept_once_before_it_is_posted_whether_anyone_subscribes_or_not():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint(events=("payment.completed",)))
    log = FakeEventLog()
    seen_before_post = []

    def check(body):
        seen_before_post.append(log.event("m1", json.loads(body)["id"]) is not None)
        return 200

    deliver([received(WebhookDelivery("m1", (event(1), event(3, "payment.completed"))))], endpoints,
            RecordingTransport(check), log=log)
    assert sorted(log.events_by["m1"]) == ["evt_pay_1_1", "evt_pay_1_3"] and seen_before_post == [True]
    # A retry (addressed to one endpoint) is not an event again.
    deliver([received(WebhookDelivery("m1", (event(3, "payment.completed"),), endpoint_id="we_1", attempt=2))],
            endpoints, RecordingTransport(200), log=log)
    assert log.writes == 3  # events + attempts, then the retry's attempt only: no event written again


def test_events_that_cannot_be_kept_fail_the_batch_before_anything_is_posted():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint())
    transport = RecordingTransport(200)
    try:
        deliver([received(WebhookDelivery("m1", (event(1),)))], endpoints, transport, log=FakeEventLog(fail_events=True))
    except RuntimeError:
        pass
    else:
        raise AssertionError("the batch should fail")
    assert transport.posts == []


def test_each_attempt_is_recorded_with_its_status_code_or_error_and_when_the_next_is_due():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint())
    log, queue = FakeEventLog(), FakeDeliveryQueue()
    deliver([received(WebhookDelivery("m1", (event(1),)))], endpoints, RecordingTransport(503), queue, log=log)
    [(retry, _)] = queue.scheduled
    deliver([received(retry, "r1")], endpoints, RecordingTransport(200), log=log, now=T0 + 1)
    first, newest = sorted(log.attempts("we_1", limit=10, starting_after=None)[0], key=lambda a: a.attempt)
    assert (first.attempt, first.status_code, first.error, first.delivered) == (1, 503, None, False)
    assert first.next_attempt_at == "2027-01-15T08:00:01.000Z"  # T0 + the schedule's first delay (1 s)
    assert (newest.attempt, newest.status_code, newest.next_attempt_at, newest.delivered) == (2, 200, None, True)
    assert newest.event_id == first.event_id == "evt_pay_1_1" and newest.id.startswith("att_")


def test_an_attempt_without_an_answer_records_why_and_the_last_one_has_no_next():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint())
    log = FakeEventLog()

    class Refused:
        def check(self, url):
            return "private address"

    deliver_batch([received(WebhookDelivery("m1", (event(1),), endpoint_id="we_1", attempt=3))],
                  endpoints=endpoints, transport=RecordingTransport(200), guard=Refused(), queue=FakeDeliveryQueue(),
                  log=log, policy=POLICY, now=lambda: T0, time_left=lambda: 60.0)
    [[last], _] = log.attempts("we_1", limit=10, starting_after=None)
    assert (last.status_code, last.error, last.next_attempt_at) == (None, "url refused: private address", None)


def test_attempts_that_cannot_be_recorded_do_not_send_the_webhooks_again():
    endpoints = FakeEndpoints()
    endpoints.add(endpoint())
    stay, queue = deliver([received(WebhookDelivery("m1", (event(1),)), "x")], endpoints, RecordingTransport(200),
                          log=FakeEventLog(fail_attempts=True))
    assert stay == [] and queue.scheduled == []
