"""The Stripe connector against the contract fake (infra/stripe_fake: what paygate relies on from
Stripe, as Stripe documents it), on moto: a payment and a refund through Stripe with the sandbox's
tokens mapped to Stripe's test payment methods, a decline, an unknown outcome settled by repeating the
create under the same Idempotency-Key without a second charge, failover from Stripe down to the
sandbox, and Stripe's webhooks verified by the SDK (a forged one refused, nothing changes)."""

from __future__ import annotations

import json

import boto3
import pytest
from lambda_harness import load_event, receive_all
from stripe_fake import StripeFake, sign
from test_lifecycle_handlers import call
from test_pipeline_handlers import FAST_RETRIES, Pipeline, api_call, drive, get, pay

from sandbox_provider import SandboxProvider

pytestmark = pytest.mark.clock_sensitive
WEBHOOK_SECRET = "whsec_test_contract"


@pytest.fixture
def sandbox():
    with SandboxProvider(timeout_delay=0.5) as provider:
        yield provider


@pytest.fixture
def stripe_fake():
    with StripeFake(hold_seconds=1.0) as fake:
        yield fake


class WithStripe(Pipeline):
    def __init__(self, aws, handler_of, sandbox, fake):
        super().__init__(aws, handler_of, sandbox)
        env = {"PROVIDER_URL": sandbox.url, "PROVIDER_TIMEOUT_SECONDS": "0.5", "STRIPE_API_BASE": fake.url,
               "STRIPE_API_KEY": "sk_test_contract", "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, **FAST_RETRIES}
        for name, fid in (("api", "ApiFunction"), ("relay", "RelayFunction"), ("processor", "ProcessorFunction"),
                          ("callbacks", "CallbacksFunction")):
            setattr(self, name, handler_of(fid, **env))


@pytest.fixture
def pipe(aws, handler_of, sandbox, stripe_fake):
    return WithStripe(aws, handler_of, sandbox, stripe_fake)


def route(pipe, merchant, providers):
    api_call(pipe.api, "api/put_routing.json", merchant["api_key"], body={"default": providers})


def webhook(pipe, payload: str, signature: str):
    event = load_event("callbacks/stripe_payment_intent_succeeded.json")
    event["headers"]["Stripe-Signature"] = signature
    event["body"] = payload
    response = pipe.callbacks(event)
    return response["statusCode"], json.loads(response["body"])


def test_a_payment_and_a_refund_through_stripe(pipe, merchant, stripe_fake):
    route(pipe, merchant, ["stripe"])
    payment = pay(pipe, merchant, "tok_success")
    drive(pipe)
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "COMPLETED" and got["provider"] == "stripe"
    assert len(stripe_fake.charges_for(payment["id"])) == 1
    status, refund, _ = call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/refunds", {"amount": 200}, idem="r")
    assert status == 202
    pipe.relay_new()
    pipe.run(pipe.processor, pipe.commands_url)
    assert call(pipe, merchant, "GET", f"/v1/refunds/{refund['id']}")[1]["status"] == "SUCCEEDED"
    assert [r["amount"] for r in stripe_fake.refunds.values()] == [200]


@pytest.mark.parametrize("token,code", [("tok_decline", "card_declined"), ("tok_insufficient_funds", "insufficient_funds")])
def test_a_stripe_decline_is_final(pipe, merchant, sandbox, token, code):
    route(pipe, merchant, ["stripe", "sandbox"])
    payment = pay(pipe, merchant, token)
    drive(pipe)
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "FAILED" and got["failure"]["code"] == code
    assert sandbox.request_count(f"{payment['id']}_2") == 0


def test_an_unknown_outcome_at_stripe_is_settled_without_a_second_charge(pipe, merchant, sandbox, stripe_fake):
    route(pipe, merchant, ["stripe", "sandbox"])
    # The first create of a key succeeds at Stripe, its answer comes too late (later ones, replays, at once).
    stripe_fake.hold_first_answer = True
    payment = pay(pipe, merchant, "tok_success")
    pipe.relay_new()
    pipe.run(pipe.processor, pipe.commands_url)
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "COMPLETED" and got["provider"] == "stripe"
    assert len(stripe_fake.charges_for(payment["id"])) == 1
    creates = [r for r in stripe_fake.requests if r["path"] == "/v1/payment_intents"]
    assert len(creates) >= 2 and {r["key"] for r in creates} == {payment["id"]}  # the same key, answered first intent
    assert sandbox.request_count(f"{payment['id']}_2") == 0


def test_stripe_down_fails_over_to_the_sandbox(pipe, merchant, sandbox, stripe_fake):
    route(pipe, merchant, ["stripe", "sandbox"])
    stripe_fake.down = True
    payment = pay(pipe, merchant, "tok_success")
    drive(pipe)
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "COMPLETED" and got["provider"] == "sandbox"
    assert stripe_fake.charges_for(payment["id"]) == [] and sandbox.charge_count(f"{payment['id']}_2") == 1


def test_a_verified_stripe_webhook_settles_its_payment_and_a_forged_one_is_refused(pipe, merchant):
    commands = pipe.commands_url
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded",
                          "data": {"object": {"id": "pi_1", "object": "payment_intent", "status": "succeeded",
                                              "metadata": {"reference": "pay_abc_2"}}}})
    status, body = webhook(pipe, payload, sign("whsec_forged", payload))
    assert status == 401 and body["error"]["code"] == "signature_mismatch"
    assert receive_all(commands) == []
    status, body = webhook(pipe, payload, sign(WEBHOOK_SECRET, payload))
    assert status == 200 and body["id"] == "evt_1"
    [command] = receive_all(commands)
    assert json.loads(command["Body"])["payment_id"] == "pay_abc" and json.loads(command["Body"])["type"] == "payment.settle"


def test_the_stripe_secrets_come_from_secrets_manager_at_cold_start(aws, handler_of, sandbox, stripe_fake, merchant):
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="paygate/stripe-key", SecretString="sk_test_from_secrets_manager")
    sm.create_secret(Name="paygate/stripe-webhook", SecretString=WEBHOOK_SECRET)
    callbacks = handler_of("CallbacksFunction", STRIPE_SECRET_KEY_SECRET="paygate/stripe-key",
                           STRIPE_WEBHOOK_SECRET_SECRET="paygate/stripe-webhook", STRIPE_API_BASE=stripe_fake.url)
    payload = json.dumps({"id": "evt_2", "object": "event", "type": "charge.refunded", "data": {"object": {}}})
    event = load_event("callbacks/stripe_payment_intent_succeeded.json")
    event["headers"]["Stripe-Signature"], event["body"] = sign(WEBHOOK_SECRET, payload), payload
    assert callbacks(event)["statusCode"] == 200
