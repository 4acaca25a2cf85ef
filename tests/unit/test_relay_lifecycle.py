"""The relay with the lifecycle's events: a cancel request and a refund ask for their commands, in the
payment's FIFO group; a refund's events reach the merchant as refund objects."""

from fakes import FakeDecoder, FakePayments, FakePublisher
from test_relay_and_delivery import NOW, complete, deliveries, new_payment

from paygate.domain import payment as d
from paygate.domain import refund as r
from paygate.schemas.messages import Command
from paygate.services.ports.records import Change, EventMeta
from paygate.services.ports.refunds import RefundRecord
from paygate.services.relay import relay


def test_a_cancel_request_asks_for_the_cancel_command_in_the_payments_group():
    repo, publisher = FakePayments(), FakePublisher()
    new_payment(repo)
    record = repo.get("pay_1")
    after, event = d.request_cancel(record.state, event_id="evt_c", now=NOW)
    repo.append(record, [event], after, EventMeta())
    relay(repo.changes, decoder=FakeDecoder(), publisher=publisher, commands_queue_url="cmd",
          webhooks_queue_url="hooks")
    commands = [(Command.from_json(m.body), m.group_id) for m in publisher.sent["cmd"]]
    assert [(c.type, c.expected_version, group) for c, group in commands] == [
        ("payment.process", 1, "pay_1"), ("payment.cancel", 2, "pay_1")]
    [delivery] = deliveries(publisher)
    assert [e["type"] for e in delivery.events] == ["payment.created", "payment.cancel_requested"]
    assert delivery.events[1]["data"]["object"]["cancel_requested"] is True


def test_a_refund_asks_for_its_command_in_its_payments_group_and_is_delivered_as_a_refund():
    repo, publisher = FakePayments(), FakePublisher()
    new_payment(repo)
    complete(repo)
    refund, created = r.open_refund(refund_id="re_1", event_id="evt_r1", payment=repo.payment("pay_1"), amount=200,
                                    now=NOW)
    done, succeeded = r.succeed(refund, event_id="evt_r2", now=NOW, provider_refund_id="pre_1")
    changes = [Change("1", 0, RefundRecord(refund, (created,), ("00-t-1-01",))),
               Change("2", 1, RefundRecord(done, (created, succeeded), ("00-t-1-01", None)))]
    relay(changes, decoder=FakeDecoder(), publisher=publisher, commands_queue_url="cmd", webhooks_queue_url="hooks")
    [message] = publisher.sent["cmd"]
    command = Command.from_json(message.body)
    assert (command.type, command.payment_id, command.refund_id, command.expected_version) == (
        "refund.process", "pay_1", "re_1", 1)
    assert message.group_id == "pay_1" and message.deduplication_id == "evt_r1:refund.process"
    [delivery] = deliveries(publisher)
    assert [(e["type"], e["data"]["object"]["status"], e["data"]["object"]["version"]) for e in delivery.events] == [
        ("refund.created", "PENDING", 1), ("refund.succeeded", "SUCCEEDED", 2)]
    assert delivery.events[0]["data"]["object"]["object"] == "refund"
