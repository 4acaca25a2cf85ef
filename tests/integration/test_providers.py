"""Providers and routing against moto: routing per merchant, failover between two sandboxes with
attempts, a decline never failed over, an unknown outcome settled at its provider, refunds sent to the
provider holding the charge, and two processor invocations racing around a failover."""

from __future__ import annotations

import json
import threading

import pytest
from lambda_harness import receive_all, sqs_event
from test_lifecycle_handlers import call
from test_pipeline_handlers import FAST_RETRIES, Pipeline, api_call, drive, get, pay

from sandbox_provider import SandboxProvider

pytestmark = pytest.mark.clock_sensitive


@pytest.fixture
def sandbox():
    with SandboxProvider(timeout_delay=0.5) as provider:
        yield provider


@pytest.fixture
def sandbox_b():
    with SandboxProvider(timeout_delay=0.5) as provider:
        yield provider


class TwoProviders(Pipeline):
    def __init__(self, aws, handler_of, sandbox, sandbox_b):
        self.env = {"PROVIDER_URL": sandbox.url, "PROVIDER_URLS": json.dumps({"sandbox-b": sandbox_b.url}),
                    "PROVIDER_TIMEOUT_SECONDS": "0.3", **FAST_RETRIES}
        super().__init__(aws, handler_of, sandbox)
        for name, fid in (("api", "ApiFunction"), ("relay", "RelayFunction"), ("processor", "ProcessorFunction"),
                          ("webhooks", "WebhooksFunction"), ("deadletter", "DeadLetterFunction")):
            setattr(self, name, handler_of(fid, **self.env))


@pytest.fixture
def pipe(aws, handler_of, sandbox, sandbox_b):
    return TwoProviders(aws, handler_of, sandbox, sandbox_b)


def put_routing(pipe, merchant, body):
    return api_call(pipe.api, "api/put_routing.json", merchant["api_key"], body=body)


def history(pipe, merchant, payment_id):
    return api_call(pipe.api, "api/list_payment_events.json", merchant["api_key"], pay_REPLACE=payment_id)["data"]


FAILOVER = {"default": ["sandbox", "sandbox-b"]}


def test_routing_is_the_default_until_set_then_replaced_whole(pipe, merchant):
    assert api_call(pipe.api, "api/get_routing.json", merchant["api_key"]) == {
        "object": "routing", "rules": [], "default": ["sandbox"]}
    body = {"rules": [{"if": {"currency": "eur", "max_amount": 1000}, "providers": ["sandbox-b"]}],
            "default": ["sandbox", "sandbox-b"]}
    answered = put_routing(pipe, merchant, body)
    assert answered == {"object": "routing", "default": ["sandbox", "sandbox-b"],
                        "rules": [{"if": {"currency": "EUR", "min_amount": None, "max_amount": 1000, "method": None},
                                   "providers": ["sandbox-b"]}]}
    assert api_call(pipe.api, "api/get_routing.json", merchant["api_key"]) == answered


@pytest.mark.parametrize("body,param", [
    ({"default": ["sandbox", "paypal"]}, "default[1]"),
    ({"rules": [{"if": {}, "providers": ["nope"]}]}, "rules[0].providers[0]"),
])
def test_an_unknown_provider_is_refused_by_its_path(pipe, merchant, body, param):
    error = put_routing(pipe, merchant, body)["error"]
    assert error["code"] == "unknown_provider" and error["param"] == param
    assert api_call(pipe.api, "api/get_routing.json", merchant["api_key"])["default"] == ["sandbox"]


@pytest.mark.parametrize("body", [{"default": []}, {"default": "sandbox"}, {"rules": [{"providers": ["sandbox"],
                                  "if": {"min_amount": 5, "max_amount": 1}}]}, {"rules": [{"if": {"currency": "XXQ"},
                                  "providers": ["sandbox"]}]}, {"default": ["sandbox"], "extra": 1}])
def test_bad_routing_is_a_400_not_a_5xx(pipe, merchant, body):
    event_body = api_call(pipe.api, "api/put_routing.json", merchant["api_key"], body=body)
    assert event_body["error"]["type"] == "invalid_request_error"


def test_rules_by_currency_choose_the_provider(pipe, merchant, sandbox, sandbox_b):
    put_routing(pipe, merchant, {"rules": [{"if": {"currency": "EUR"}, "providers": ["sandbox-b"]}],
                                 "default": ["sandbox"]})
    eur = pay(pipe, merchant, "tok_success")  # pay() pays 700 EUR
    drive(pipe)
    usd = api_call(pipe.api, "api/create_payment.json", merchant["api_key"], idem="usd", body={
        "amount": 700, "currency": "usd", "payment_method": {"type": "card", "token": "tok_success"}})
    drive(pipe)
    assert sandbox_b.charge_count(eur["id"]) == 1 and sandbox.charge_count(eur["id"]) == 0
    assert sandbox.charge_count(usd["id"]) == 1 and sandbox_b.charge_count(usd["id"]) == 0
    assert get(pipe, merchant, eur["id"])["provider"] == "sandbox-b"
    assert get(pipe, merchant, usd["id"])["provider"] == "sandbox"


def test_a_payment_fails_over_to_sandbox_b_when_sandbox_is_down(pipe, merchant, sandbox, sandbox_b):
    put_routing(pipe, merchant, FAILOVER)
    sandbox.set_down(True)
    payment = pay(pipe, merchant, "tok_success")
    drive(pipe)
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "COMPLETED" and got["provider"] == "sandbox-b"
    assert sandbox.charge_count(payment["id"]) == 0
    assert sandbox_b.charge_count(f"{payment['id']}_2") == 1 and sandbox_b.charges_for(payment["id"]) == []
    assert [(a["provider"], a["reference"], a["status"]) for a in got["attempts"]] == [
        ("sandbox", payment["id"], "failed"), ("sandbox-b", f"{payment['id']}_2", "succeeded")]
    assert got["attempts"][0]["failure"]["code"] == "provider_unavailable"
    events = history(pipe, merchant, payment["id"])
    assert [(e["type"], e["sequence"]) for e in events] == [
        ("payment.created", 1), ("payment.processing", 2), ("payment.attempt_failed", 3), ("payment.completed", 4)]


def test_a_decline_is_final_never_tried_elsewhere(pipe, merchant, sandbox, sandbox_b):
    put_routing(pipe, merchant, FAILOVER)
    payment = pay(pipe, merchant, "tok_decline")
    drive(pipe)
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "FAILED" and got["failure"]["code"] == "card_declined"
    assert [a["provider"] for a in got["attempts"]] == ["sandbox"]
    assert sandbox_b.request_count(payment["id"]) == 0 and sandbox_b.request_count(f"{payment['id']}_2") == 0


def test_a_timeout_after_success_is_charged_once_at_its_provider_never_elsewhere(pipe, merchant, sandbox, sandbox_b):
    put_routing(pipe, merchant, FAILOVER)
    payment = pay(pipe, merchant, "tok_timeout_after_success")
    drive(pipe)
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "COMPLETED" and got["provider"] == "sandbox"
    assert sandbox.charge_count(payment["id"]) == 1
    assert sandbox_b.request_count(payment["id"]) == 0 and sandbox_b.request_count(f"{payment['id']}_2") == 0


def test_a_refund_goes_to_the_provider_holding_the_charge(pipe, merchant, sandbox, sandbox_b):
    put_routing(pipe, merchant, FAILOVER)
    sandbox.set_down(True)
    payment = pay(pipe, merchant, "tok_success")
    drive(pipe)
    sandbox.set_down(False)
    status, refund, _ = call(pipe, merchant, "POST", f"/v1/payments/{payment['id']}/refunds", {"amount": 300},
                             idem="r1")
    assert status == 202 and refund["status"] == "PENDING", refund
    pipe.relay_new()
    pipe.run(pipe.processor, pipe.commands_url)
    pipe.relay_new()
    assert call(pipe, merchant, "GET", f"/v1/refunds/{refund['id']}")[1]["status"] == "SUCCEEDED"
    assert [r["amount"] for r in sandbox_b.refunds_for(f"{payment['id']}_2")] == [300]
    assert sandbox.refunds_for(payment["id"]) == []


def test_two_invocations_racing_around_a_failover_charge_once(pipe, merchant, sandbox, sandbox_b):
    put_routing(pipe, merchant, FAILOVER)
    sandbox.set_down(True)
    payment = pay(pipe, merchant, "tok_success")
    pipe.relay_new()
    [command] = receive_all(pipe.commands_url)
    event = sqs_event([command], pipe.arn(pipe.commands_url))
    results = []
    threads = [threading.Thread(target=lambda: results.append(pipe.processor(json.loads(json.dumps(event)))))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"batchItemFailures": []}] * 2
    got = get(pipe, merchant, payment["id"])
    assert got["status"] == "COMPLETED"
    assert sandbox.charge_count(payment["id"]) == 0
    assert sandbox_b.charge_count(f"{payment['id']}_2") == 1
    assert [e["type"] for e in history(pipe, merchant, payment["id"])].count("payment.attempt_failed") == 1


def providers_health(pipe, merchant):
    status, body, _ = call(pipe, merchant, "GET", "/v1/providers")
    assert status == 200, body
    return {p["id"]: p for p in body["data"]}


def test_the_breaker_opens_after_five_unavailable_attempts_then_closes_after_a_trial(
        aws, handler_of, sandbox, sandbox_b, merchant, capsys):
    pipe = TwoProviders(aws, handler_of, sandbox, sandbox_b)
    for name, fid in (("api", "ApiFunction"), ("processor", "ProcessorFunction")):
        setattr(pipe, name, handler_of(fid, **pipe.env, PROVIDER_BREAKER_COOLDOWN_SECONDS="0.5"))
    put_routing(pipe, merchant, FAILOVER)
    assert providers_health(pipe, merchant)["sandbox"]["status"] == "up"
    sandbox.set_down(True)
    for i in range(5):
        pay(pipe, merchant, "tok_success", idem=f"k{i}")
    drive(pipe)
    health = providers_health(pipe, merchant)["sandbox"]
    assert health["status"] in ("open", "half_open") and health["failures"] == 5 and health["attempts"] == 5
    # Its opening is counted once (what the template's provider-breaker-opened alarm pages on).
    opened = [line for line in capsys.readouterr().out.splitlines() if '"ProviderBreakerOpened"' in line]
    assert len(opened) == 1 and json.loads(opened[0])["ProviderBreakerOpened"] in (1.0, [1.0])
    # While open, a new payment skips the sandbox: not one request reaches it.
    pipe.processor = handler_of("ProcessorFunction", **pipe.env, PROVIDER_BREAKER_COOLDOWN_SECONDS="3600")
    skipped = pay(pipe, merchant, "tok_success", idem="k-open")
    drive(pipe)
    assert sandbox.request_count(skipped["id"]) == 0 and get(pipe, merchant, skipped["id"])["provider"] == "sandbox-b"
    # After the cool-down one trial goes through; the sandbox is up again, so the breaker closes.
    pipe.processor = handler_of("ProcessorFunction", **pipe.env, PROVIDER_BREAKER_COOLDOWN_SECONDS="0")
    sandbox.set_down(False)
    trial = pay(pipe, merchant, "tok_success", idem="k-trial")
    drive(pipe)
    assert get(pipe, merchant, trial["id"])["provider"] == "sandbox" and sandbox.charge_count(trial["id"]) == 1
    assert providers_health(pipe, merchant)["sandbox"]["status"] == "up"
