"""Provider callbacks: the signature check (pure) and what a callback turns into."""

from __future__ import annotations

import json

import pytest

from paygate.domain.callbacks import MalformedSignature, sign, signature_valid
from paygate.services.errors import AuthenticationFailed, InvalidRequest, NotFound
from paygate.services.triggered import callbacks

SECRET = "sandbox_secret"
BODY = json.dumps({"id": "evt_cb1", "type": "charge.succeeded", "created": 1,
                   "data": {"id": "ch_1", "reference": "pay_abc", "status": "succeeded"}}).encode()


class Published:
    def __init__(self) -> None:
        self.messages: list = []

    def publish(self, queue_url, messages) -> None:
        self.messages += [(queue_url, m) for m in messages]


def test_the_sandboxs_signature_verifies_and_nothing_else_does() -> None:
    """`sign` is what the sandbox provider signs its callbacks with (sandbox_provider.sign_callback)."""
    header = sign(SECRET, BODY, 1_000)
    assert header.startswith("t=1000,v1=") and len(header.split("v1=")[1]) == 64
    assert signature_valid(SECRET, BODY, header, now=1_000)
    assert signature_valid(SECRET, BODY, header, now=1_299)
    assert signature_valid(SECRET, BODY, header, now=1_300) and signature_valid(SECRET, BODY, header, now=700)
    assert not signature_valid(SECRET, BODY, header, now=1_301)  # too old: a replay later is refused
    assert not signature_valid(SECRET, BODY, header, now=699)  # from the future
    assert not signature_valid("another", BODY, header, now=1_000)
    assert not signature_valid(SECRET, BODY.replace(b"pay_abc", b"pay_xyz"), header, now=1_000)
    for bad in (None, "", "v1=abc", "t=1000", "t=x,v1=abc"):
        with pytest.raises(MalformedSignature):
            signature_valid(SECRET, BODY, bad, now=1_000)


def test_several_signatures_one_match_is_enough() -> None:
    """A secret rotation: the provider signs with the old and the new secret."""
    old, new = sign("old_secret", BODY, 1_000), sign(SECRET, BODY, 1_000)
    rotated = f"t=1000,v1={old.split('v1=')[1]},v1={new.split('v1=')[1]}"
    assert signature_valid(SECRET, BODY, rotated, now=1_000)
    assert signature_valid("old_secret", BODY, rotated, now=1_000)
    assert not signature_valid("a_third_secret", BODY, rotated, now=1_000)


def receive(body: bytes = BODY, signature: str | None = None, provider: str = "sandbox", now: int = 1_000):
    published = Published()
    header = sign(SECRET, body, now) if signature is None else signature
    received = callbacks.receive(provider, body=body, signature=header, secret=SECRET, now=now, publisher=published,
                                 commands_queue_url="q.fifo", traceparent=None, correlation_id="c1")
    return received, published.messages


def test_a_good_callback_becomes_one_settle_command_in_the_payments_group() -> None:
    received, messages = receive()
    assert received.payment_id == "pay_abc"
    [(queue, message)] = messages
    command = json.loads(message.body)
    assert (queue, message.group_id, command["type"], command["payment_id"]) == (
        "q.fifo", "pay_abc", "payment.settle", "pay_abc")
    assert message.deduplication_id == "evt_cb1:payment.settle"  # a repeat within 5 minutes is dropped by SQS


@pytest.mark.parametrize("kwargs, error, code", [
    ({"signature": "t=1000,v1=deadbeef"}, AuthenticationFailed, "signature_mismatch"),
    ({"signature": ""}, InvalidRequest, "signature_invalid"),
    ({"provider": "acme"}, NotFound, "provider_unknown"),
    ({"body": b"not json"}, InvalidRequest, "invalid_json"),
    ({"body": b'{"id": "evt_1", "type": "charge.succeeded", "data": {"reference": "ch_1"}}'}, InvalidRequest,
     "invalid_callback"),
])
def test_a_bad_callback_is_refused_and_sends_nothing(kwargs, error, code) -> None:
    published = Published()
    body = kwargs.get("body", BODY)
    signature = kwargs.get("signature", sign(SECRET, body, 1_000))
    with pytest.raises(error) as caught:
        callbacks.receive(kwargs.get("provider", "sandbox"), body=body, signature=signature, secret=SECRET, now=1_000,
                          publisher=published, commands_queue_url="q.fifo", traceparent=None, correlation_id=None)
    assert caught.value.code == code and published.messages == []


def test_a_callback_of_another_kind_is_acknowledged_and_ignored() -> None:
    body = json.dumps({"id": "evt_x", "type": "account.updated", "data": {}}).encode()
    received, messages = receive(body)
    assert received.payment_id is None and messages == []


@pytest.mark.parametrize("header", ["t=²³,v1=abc", "t=100,v1=é" + "0" * 63, "t=１００,v1=" + "0" * 64])
def test_a_header_with_non_ascii_digits_or_signature_is_malformed_never_a_crash(header: str) -> None:
    """str.isdigit() accepts "²" and compare_digest raises on non-ASCII text: either was a 500."""
    with pytest.raises(MalformedSignature):
        signature_valid(SECRET, BODY, header, now=100)
