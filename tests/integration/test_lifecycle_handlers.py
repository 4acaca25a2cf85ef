"""Cancel, void and refunds against moto: the API, relay, processor and dead-letter handlers fed what
the one before really wrote, with the real sandbox provider."""

from __future__ import annotations

import json
import threading

import boto3
import invariants
import pytest
from lambda_harness import load_event, receive_all, sqs_event
from test_pipeline_handlers import Pipeline, drive, get, pay, receiver, sandbox  # noqa: F401 - fixtures

from paygate.domain.accounts import Merchant
from paygate.services import refunds as refund_service
from paygate.services.errors import InvalidRequest
from paygate.services.idempotency import idempotent_request


@pytest.fixture
def pipe(aws, handler_of, sandbox):  # noqa: F811
    return Pipeline(aws, handler_of, sandbox)


def call(pipe, merchant, method, path, body=None, idem=None):
    """Any route through the API handler: (status, body, headers)."""
    event = load_event("api/get_payment.json")
    event.update(httpMethod=method, path=path, resource=path, pathParameters=None)
    event["headers"]["Authorization"] = f"Bearer {merchant['api_key']}"
    if idem:
        event["headers"]["Idempotency-Key"] = idem
    event["body"] = json.dumps(body) if body is not None else None
    response = pipe.api(event)
    headers = {**(response.get("headers") or {}),
               **{k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items() if v}}
    return response["statusCode"], json.loads(response["body"]), headers


def run_commands(pipe, rounds=6):
    """relay and processor until nothing is left to do."""
    for _ in range(rounds):
        try:
            pipe.relay_new()
        except AssertionError:
            pass
        messages, _ = pipe.run(pipe.processor, pipe.commands_url)
        if not messages:
            return


def check_invariants(pipe):
    assert invariants.check(invariants.scan(boto3.client("dynamodb"), pipe.table))


def completed(pipe, merchant, amount=1000, idem="pay1"):
    body = {"amount": amount, "currency": "usd", "payment_method": {"type": "card", "token": "tok_success"}}
    status, payment, _ = call(pipe, merchant, "POST", "/v1/payments", body, idem=idem)
    assert status == 202
    drive(pipe)
    assert get(pipe, merchant, payment["id"])["status"] == "COMPLETED"
    return payment


# ------------------------------------------------------------------------------------ cancel


def test_a_new_payment_is_canceled_and_never_charged(pipe, merchant, sandbox):  # noqa: F811
    payment = pay(pipe, merchant, "tok_success")
    status, body, _ = call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/cancel")
    assert status == 202 and body["status"] == "NEW" and body["cancel_requested"] is True
    pipe.relay_new()
    messages = receive_all(pipe.commands_url)
    assert [json.loads(m["Body"])["type"] for m in messages] == ["payment.process", "payment.cancel"]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {payment["id"]}
    assert pipe.processor(sqs_event(messages, pipe.arn(pipe.commands_url))) == {"batchItemFailures": []}
    run_commands(pipe)
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "CANCELED" and sandbox.charges_for(payment["id"]) == []
    history = call(pipe, merchant, "GET", f"/v1/payments/{payment['id']}/events")[1]["data"]
    assert [e["type"] for e in history] == ["payment.created", "payment.cancel_requested", "payment.canceled"]
    check_invariants(pipe)


def test_a_pending_charge_is_voided_then_canceled(pipe, merchant, sandbox):  # noqa: F811
    payment = pay(pipe, merchant, "tok_pending")
    drive(pipe)
    assert get(pipe, merchant, payment["id"])["status"] == "PROCESSING"
    assert call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/cancel")[0] == 202
    run_commands(pipe)
    assert get(pipe, merchant, payment["id"])["status"] == "CANCELED"
    assert [c["status"] for c in sandbox.charges_for(payment["id"])] == ["voided"]
    assert sandbox.charge_count(payment["id"]) == 0


def test_a_charge_taken_before_the_cancel_ends_completed_not_lost(pipe, merchant, sandbox):  # noqa: F811
    # Given the processor charged (its write then lost to the cancel): the charge is at the provider
    payment = pay(pipe, merchant, "tok_success")
    from paygate.adapters.http import SandboxProvider as Connector
    Connector(sandbox.url, 5).charge(reference=payment["id"], amount=700, currency="EUR", token="tok_success",
                                     idempotency_key=payment["id"])
    # When the cancel is requested and the commands run
    assert call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/cancel")[0] == 202
    run_commands(pipe)
    # Then the payment is COMPLETED with its one charge: the cancel did not lose it
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "COMPLETED" and sandbox.charge_count(payment["id"]) == 1
    check_invariants(pipe)


def test_a_terminal_payment_cannot_be_canceled_and_a_key_replays_the_first_answer(pipe, merchant):
    payment = pay(pipe, merchant, "tok_pending")
    drive(pipe)
    first = call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/cancel", idem="c1")
    run_commands(pipe)
    again = call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/cancel", idem="c1")
    assert again[0] == 202 and again[1] == first[1] and again[2].get("Idempotent-Replayed") == "true"
    status, body, _ = call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/cancel")
    assert status == 409 and body["error"]["code"] == "invalid_state"
    other = call(pipe, merchant, "POST", f"/v1/payments/{pay(pipe, merchant, 'tok_success', idem='k2')['id']}/cancel",
                 idem="c1")
    assert other[0] == 422


def test_a_second_cancel_with_its_own_key_replays_its_answer_after_the_payment_is_canceled(pipe, merchant):
    """Found by the crash campaign: a cancel of a payment whose cancel was already requested wrote no
    key, so its retry, once the payment was CANCELED, was a 409 instead of its first answer."""
    payment = pay(pipe, merchant, "tok_pending")
    drive(pipe)
    path = f"/v1/payments/{payment['id']}/cancel"
    first = call(pipe, merchant, "POST", path, idem="c1")
    second = call(pipe, merchant, "POST", path, idem="c2")  # the cancel is requested already
    assert first[0] == second[0] == 202 and second[1] == first[1] and "Idempotent-Replayed" not in second[2]
    run_commands(pipe)
    assert get(pipe, merchant, payment["id"])["status"] == "CANCELED"
    again = call(pipe, merchant, "POST", path, idem="c2")
    assert (again[0], again[1], again[2].get("Idempotent-Replayed")) == (202, second[1], "true")


def test_an_unknown_payment_cannot_be_canceled_or_refunded(pipe, merchant):
    assert call(pipe, merchant, "POST", "/v1/payments/pay_nope/cancel")[0] == 404
    assert call(pipe, merchant, "POST", "/v1/payments/pay_nope/refunds", {}, idem="r")[0] == 404
    assert call(pipe, merchant, "GET", "/v1/refunds/re_nope")[0] == 404


# ------------------------------------------------------------------------------------ refunds


def test_partial_then_the_rest_then_nothing_left(pipe, merchant, sandbox):  # noqa: F811
    payment = completed(pipe, merchant)
    status, partial, headers = call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/refunds",
                                    {"amount": 300}, idem="r1")
    assert status == 202 and partial["status"] == "PENDING" and partial["amount"] == 300
    assert partial["object"] == "refund" and partial["payment_id"] == payment["id"] and partial["currency"] == "USD"
    assert call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/refunds", {"amount": 300}, idem="r1")[1] == partial
    status, rest, _ = call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/refunds", None, idem="r2")
    assert status == 202 and rest["amount"] == 700
    status, error, _ = call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/refunds", {"amount": 1}, idem="r3")
    assert status == 400 and error["error"]["code"] == "amount_too_large" and error["error"]["param"] == "amount"
    run_commands(pipe)
    assert get(pipe, merchant, payment["id"])["amount_refunded"] == 1000
    listed = call(pipe, merchant, "GET", f"/v1/payments/{payment['id']}/refunds")[1]["data"]
    assert sorted((r["amount"], r["status"]) for r in listed) == [(300, "SUCCEEDED"), (700, "SUCCEEDED")]
    assert call(pipe, merchant, "GET", f"/v1/refunds/{partial['id']}")[1]["status"] == "SUCCEEDED"
    assert len(sandbox.refunds_for(payment["id"])) == 2
    check_invariants(pipe)


def test_a_replay_answers_the_first_refund_even_once_nothing_is_left_to_refund(pipe, merchant, sandbox):  # noqa: F811
    """Found by the crash campaign: the amount was checked before the key, so a merchant's retry of an
    accepted refund, after others used up the payment, was a 400 instead of its refund."""
    payment = completed(pipe, merchant)
    path = f"/v1/payments/{payment['id']}/refunds"
    status, first, _ = call(pipe, merchant, "POST", path, {"amount": 400}, idem="r1")
    assert status == 202
    assert call(pipe, merchant, "POST", path, None, idem="r2")[0] == 202  # the rest: nothing left
    status, again, headers = call(pipe, merchant, "POST", path, {"amount": 400}, idem="r1")
    assert (status, again, headers["Idempotent-Replayed"]) == (202, first, "true")
    status, error, _ = call(pipe, merchant, "POST", path, {"amount": 400}, idem="r3")  # a new request is refused
    assert status == 400 and error["error"]["code"] == "amount_too_large"
    status, error, _ = call(pipe, merchant, "POST", path, {"amount": 500}, idem="r1")  # the key, another body
    assert status == 422 and error["error"]["code"] == "idempotency_key_reused"


def test_only_completed_payments_are_refunded(pipe, merchant):
    payment = pay(pipe, merchant, "tok_pending")
    status, body, _ = call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/refunds", {}, idem="r1")
    assert status == 409 and body["error"]["code"] == "invalid_state"
    assert call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/refunds", {})[0] == 400  # no key


def test_a_redelivered_refund_command_refunds_once(pipe, merchant, sandbox):  # noqa: F811
    payment = completed(pipe, merchant)
    call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/refunds", {"amount": 100}, idem="r1")
    pipe.relay_new()
    [command] = receive_all(pipe.commands_url)
    arn = pipe.arn(pipe.commands_url)
    assert pipe.processor(sqs_event([command], arn)) == {"batchItemFailures": []}
    assert pipe.processor(sqs_event([command], arn)) == {"batchItemFailures": []}
    assert len(sandbox.refunds_for(payment["id"])) == 1
    assert get(pipe, merchant, payment["id"])["amount_refunded"] == 100


def test_a_refund_the_provider_refuses_fails_and_releases_its_amount(pipe, merchant, sandbox):  # noqa: F811
    payment = completed(pipe, merchant)
    # Given the charge was refunded in full at the provider behind the gateway's back
    [charge] = sandbox.charges_for(payment["id"])
    from paygate.adapters.http import SandboxProvider as Connector
    Connector(sandbox.url, 5).refund(charge_id=charge["id"], amount=1000, idempotency_key="elsewhere")
    status, refund, _ = call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/refunds", {"amount": 400},
                             idem="r1")
    run_commands(pipe)
    failed = call(pipe, merchant, "GET", f"/v1/refunds/{refund['id']}")[1]
    assert failed["status"] == "FAILED" and failed["failure"]["code"] == "provider_rejected"
    # Then its 400 is free again: the whole amount can be asked for (and the reservation says so)
    assert get(pipe, merchant, payment["id"])["amount_refunded"] == 0
    check_invariants(pipe)
    again = call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/refunds", {"amount": 1000}, idem="r2")
    assert again[0] == 202


def test_twenty_concurrent_refunds_of_100_on_1000_accept_exactly_10(pipe, merchant, aws):
    payment = completed(pipe, merchant)
    c = _container()
    who = Merchant(merchant["merchant_id"], "acme", "2026-01-01T00:00:00.000Z")
    outcomes: list[object] = []
    lock, start = threading.Lock(), threading.Barrier(20)

    def refund(n: int) -> None:
        request = idempotent_request(merchant_id=who.id, key=f"r{n}", method="POST",
                                     path=f"/v1/payments/{payment['id']}/refunds", body={"amount": 100}, now=1)
        start.wait()
        try:
            result: object = refund_service.create_refund(c.payments, c.refunds, merchant=who,
                                                          payment_id=payment["id"], amount=100, request=request,
                                                          correlation_id=None)
        except InvalidRequest as exc:
            result = exc.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=refund, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    accepted = [o for o in outcomes if not isinstance(o, str)]
    assert len(outcomes) == 20 and len(accepted) == 10
    assert sorted(o for o in outcomes if isinstance(o, str)) == ["amount_too_large"] * 10
    run_commands(pipe, rounds=15)
    assert get(pipe, merchant, payment["id"])["amount_refunded"] == 1000
    check_invariants(pipe)


def _container():
    from paygate.container import get_container

    return get_container()
