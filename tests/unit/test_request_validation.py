"""The edge refuses bad input with the documented 400 shape and a `param`; never a 5xx."""

import json

import pytest

from paygate import edge
from paygate.edge import BodyTooLarge
from paygate.schemas.errors import Error
from paygate.schemas.events import to_json
from paygate.schemas.requests import CreatePayment, CreateWebhookEndpoint
from paygate.services.errors import InvalidRequest

GOOD = {"amount": 1000, "currency": "usd", "payment_method": {"type": "card", "token": "tok_success"}}


def with_(**changes):
    body = json.loads(json.dumps(GOOD))
    body.update(changes)
    return body


def test_a_good_request_parses_and_the_currency_is_upper_cased():
    request = edge.validate(CreatePayment, GOOD)
    assert (request.amount, request.currency, request.payment_method.token) == (1000, "USD", "tok_success")


@pytest.mark.parametrize("body,param,code", [
    (with_(amount=10.5), "amount", "parameter_invalid"),
    (with_(amount=1000.0), "amount", "parameter_invalid"),
    (with_(amount="1000"), "amount", "parameter_invalid"),
    (with_(amount=True), "amount", "parameter_invalid"),
    (with_(amount=0), "amount", "parameter_invalid"),
    (with_(amount=100_000_000), "amount", "parameter_invalid"),
    (with_(currency="ZZZ"), "currency", "parameter_invalid"),
    (with_(currency=840), "currency", "parameter_invalid"),
    (with_(extra=1), "extra", "parameter_unknown"),
    (with_(payment_method={"type": "card"}), "payment_method.token", "parameter_missing"),
    (with_(payment_method={"type": "card", "token": "t", "cvc": "1"}), "payment_method.cvc", "parameter_unknown"),
    (with_(payment_method={"type": "bitcoin"}), "payment_method", "parameter_invalid"),
    (with_(metadata={"k": 1}), "metadata.k", "parameter_invalid"),
    ({"currency": "USD", "payment_method": {"type": "card", "token": "t"}}, "amount", "parameter_missing"),
])
def test_invalid_payments_are_400_with_the_offending_param(body, param, code):
    with pytest.raises(InvalidRequest) as caught:
        edge.validate(CreatePayment, body)
    error = to_json(Error.of(caught.value))["error"]
    assert edge.status_of(caught.value) == 400
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert error["message"]


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,2]", b'"text"', b"NaN", b'{"amount": NaN}', b"\xff\xfe",
                                 b'{"amount": 100, "amount": 5}', '{"amount": 100}'.encode("utf-16"),
                                 '{"amount": 100}'.encode("utf-16-le"), '{"amount": 100}'.encode("utf-32")])
def test_malformed_bodies_are_400_invalid_json(raw):
    with pytest.raises(InvalidRequest) as caught:
        edge.parse_json_object(raw)
    assert caught.value.code == "invalid_json"


def test_a_body_over_the_limit_is_413():
    with pytest.raises(BodyTooLarge) as caught:
        edge.raw_body("x" * 101, False, 100)
    assert edge.status_of(caught.value) == 413


def test_webhook_endpoints_validate_event_types_and_default_to_all():
    assert edge.validate(CreateWebhookEndpoint, {"url": "https://x.test/h"}).enabled_events == ["*"]
    with pytest.raises(InvalidRequest) as caught:
        edge.validate(CreateWebhookEndpoint, {"url": "https://x.test/h", "enabled_events": ["payment.exploded"]})
    assert caught.value.param == "enabled_events"


def test_each_named_error_has_the_documented_status():
    from paygate.services import errors

    assert [edge.status_of(e("x")) for e in (errors.InvalidRequest, errors.AuthenticationFailed, errors.NotFound,
                                               errors.InvalidState, errors.IdempotencyKeyInUse,
                                               errors.IdempotencyKeyReused)] == [400, 401, 404, 409, 409, 422]


def test_a_param_echoing_what_the_caller_sent_is_cut() -> None:
    """An unknown field of 10,000 characters is named in `param`, but not all of it."""
    with pytest.raises(InvalidRequest) as caught:
        edge.validate(CreatePayment, {"amount": 100, "currency": "USD",
                                      "payment_method": {"type": "card", "token": "tok_success"}, "k" * 10_000: 1})
    param = to_json(Error.of(caught.value))["error"]["param"]
    assert param.startswith("kkk") and len(param) <= 103


@pytest.mark.parametrize("field, value, param", [
    ("description", "a\u0000b", "description"),
    ("metadata", {"order": "a\u0000"}, "metadata.order"),
    ("payment_method", {"type": "card", "token": "tok_success\u0000"}, "payment_method.token"),
])
def test_nul_and_control_characters_are_refused(field, value, param):
    body = {"amount": 100, "currency": "USD", "payment_method": {"type": "card", "token": "tok_success"}, field: value}
    with pytest.raises(InvalidRequest) as caught:
        edge.validate(CreatePayment, body)
    assert caught.value.param == param
