"""Idempotent creation: the key goes in the creating write; a loser replays what the winner made."""

import pytest
from fakes import FakeEndpoints, FakePayments

from paygate.domain.accounts import Merchant
from paygate.domain.idempotency import fingerprint, valid_key
from paygate.schemas.requests import CreatePayment, CreateWebhookEndpoint
from paygate.services import payments
from paygate.services.errors import IdempotencyKeyReused, InvalidRequest, NotFound
from paygate.services.idempotency import idempotent_request, require_key
from paygate.services.webhooks import endpoints

# Idempotency expiry: also run 90 days ahead (tests/conftest.py).
pytestmark = pytest.mark.clock_sensitive

MERCHANT = Merchant("m", "acme", "2026-01-01T00:00:00.000Z")
BODY = {"amount": 700, "currency": "eur", "payment_method": {"type": "card", "token": "tok_success"}}


def test_fingerprint_ignores_key_order_and_spacing():
    assert fingerprint("POST", "/v1/payments", {"a": 1, "b": {"c": 2}}) == \
        fingerprint("post", "/v1/payments", {"b": {"c": 2}, "a": 1})


@pytest.mark.parametrize("other", [
    ("POST", "/v1/payments", {"a": 2}), ("POST", "/v1/refunds", {"a": 1}), ("PUT", "/v1/payments", {"a": 1}),
])
def test_fingerprint_changes_with_any_part_of_the_request(other):
    assert fingerprint("POST", "/v1/payments", {"a": 1}) != fingerprint(*other)


@pytest.mark.parametrize("key,ok", [("k", True), ("x" * 255, True), ("", False), ("x" * 256, False),
                                    (None, False), ("bad\nkey", False)])
def test_keys_are_1_to_255_printable_characters(key, ok):
    assert valid_key(key) is ok


def test_a_missing_key_is_an_invalid_request_naming_the_header():
    with pytest.raises(InvalidRequest) as caught:
        require_key(None)
    assert caught.value.param == "Idempotency-Key" and caught.value.code == "idempotency_key_missing"


def pay(repo, body=BODY, key="k1", merchant=MERCHANT, now=1000):
    request = idempotent_request(merchant_id=merchant.id, key=key, method="POST", path="/v1/payments", body=body,
                                 now=now)
    b = CreatePayment.model_validate(body)
    new = payments.NewPayment(b.amount, b.currency, b.payment_method.typed(), b.description, dict(b.metadata),
                              b.customer_id, b.destination.typed() if b.destination else None)
    return payments.create_payment(repo, merchant=merchant, request=request, new=new, correlation_id=None)


def test_same_key_same_request_replays_the_first_answer_and_creates_once():
    repo = FakePayments()
    first = pay(repo)
    again = pay(repo)
    assert not first.replayed and again.replayed
    assert again.payment == first.payment and len(repo.records) == 1


def test_a_replay_answers_the_payment_as_it_was_created_not_as_it_is_now():
    from paygate.domain import payment as d
    from paygate.services.ports.records import EventMeta

    repo = FakePayments()
    first = pay(repo)
    started, event = d.start_processing(first.payment, event_id="evt_2", now="2026-01-01T00:00:01.000Z")
    repo.append(repo.get(first.payment.id), [event], started, EventMeta())
    assert pay(repo).payment.status == "NEW"


def test_same_key_different_request_is_refused_and_writes_nothing():
    repo = FakePayments()
    pay(repo)
    with pytest.raises(IdempotencyKeyReused):
        pay(repo, body={**BODY, "amount": 701})
    assert len(repo.records) == 1


def test_keys_are_scoped_to_the_merchant():
    repo = FakePayments()
    pay(repo)
    other = pay(repo, merchant=Merchant("m2", "other", "2026-01-01T00:00:00.000Z"))
    assert not other.replayed and len(repo.records) == 2


def test_an_expired_key_is_free_again():
    repo = FakePayments()
    first = pay(repo, now=1000)
    later = pay(repo, now=1000 + 24 * 3600 + 1)
    assert not later.replayed and later.payment.id != first.payment.id


def test_an_endpoint_creation_replays_the_endpoint_and_says_so_once_it_is_deleted():
    class Open:
        def check(self, url):
            return None

    repo = FakeEndpoints()
    body = {"url": "https://example.com/hook"}

    def create():
        request = idempotent_request(merchant_id="m", key="e1", method="POST", path="/v1/webhook_endpoints",
                                     body=body, now=1000)
        return endpoints.create_endpoint(repo, Open(), merchant=MERCHANT, request=request,
                                         body=CreateWebhookEndpoint.model_validate(body))

    first = create()
    again = create()
    assert again.replayed and again.endpoint == first.endpoint
    repo.delete("m", first.endpoint.id)
    with pytest.raises(NotFound):
        create()
