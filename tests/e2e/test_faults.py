"""The chaos API (dev.json's ``control_url``): each kind of fault injected inside the function workers,
counted, and every payment left intact under it: a terminal status that matches the provider (completed
with exactly one charge, or not charged at all), its events numbered 1, 2, 3... with no gap or repeat.

An AWS error the API cannot overcome is a 503 ``service_unavailable`` with nothing written; a function that
crashes is API Gateway's 502; a retry with the same Idempotency-Key then creates the payment once.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from gateway_client import Client
from polling import wait_for

pytestmark = pytest.mark.not_on_ministack(
    "the functions run inside MiniStack, not in paygate dev's workers: there is no chaos API to inject with")

CARD = {"amount": 1250, "currency": "USD", "payment_method": {"type": "card", "token": "tok_success"}}
TERMINAL = {"COMPLETED", "FAILED", "CANCELED"}


@pytest.fixture
def faults(info: Any):
    """PUT/GET/DELETE {control_url}/faults; every rule removed after the test."""

    class Control:
        def __init__(self) -> None:
            self.http = httpx.Client(base_url=info.control_url, timeout=30)

        def put(self, *rules: dict) -> dict:
            answer = self.http.put("/faults", json={"rules": list(rules)})
            assert answer.status_code == 200, answer.text
            return answer.json()

        def injected(self) -> list[int]:
            return [rule["injected"] for rule in self.http.get("/faults").json()["rules"]]

        def clear(self) -> None:
            assert self.http.delete("/faults").json() == {"rules": []}

    control = Control()
    yield control
    control.clear()


def assert_intact(client: Client, info: Any, payment_id: str) -> dict:
    payment = client.wait_status(payment_id, TERMINAL, timeout=90)
    charged = httpx.get(f"{info.provider_url}/charges", params={"reference": payment_id}).json()["data"]
    succeeded = [c for c in charged if c["status"] == "succeeded"]
    assert len(succeeded) == (1 if payment["status"] == "COMPLETED" else 0), (payment, charged)
    events = client.get(f"/v1/payments/{payment_id}/events").json()["data"]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    return payment


def create(client: Client, key: str) -> httpx.Response:
    return client.post("/v1/payments", CARD, key=key)


def test_rules_are_checked_and_listed_with_their_counts(info: Any, faults) -> None:
    bad = faults.http.put("/faults", json={"rules": [{"service": "dynamodb", "probability": 2, "error": "X"}]})
    assert bad.status_code == 400
    assert bad.json()["error"] | {"message": ""} == {"type": "invalid_request_error", "code": "invalid_fault_rule",
                                                     "message": "", "param": "rules[0].probability"}
    listed = faults.put({"service": "dynamodb", "operation": "GetItem", "function": "CallbacksFunction",
                         "error": "ThrottlingException"})
    assert listed == {"rules": [{"service": "dynamodb", "operation": "GetItem", "function": "CallbacksFunction",
                                 "probability": 1.0, "error": "ThrottlingException", "latency_ms": 0, "injected": 0}]}


def test_an_aws_error_the_api_cannot_overcome_is_a_503_with_nothing_written(merchant: Client, info: Any,
                                                                             faults) -> None:
    faults.put({"service": "dynamodb", "operation": "TransactWriteItems", "function": "ApiFunction",
                "error": "InternalServerError"})
    key = uuid.uuid4().hex
    answer = create(merchant, key)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["type"] == "api_error" and answer.json()["error"]["code"] == "service_unavailable"
    assert faults.injected()[0] >= 2  # the SDK retried before the API gave up
    faults.clear()
    retry = create(merchant, key)
    assert retry.status_code == 202 and "Idempotent-Replayed" not in retry.headers  # nothing had been written
    assert assert_intact(merchant, info, retry.json()["id"])["status"] == "COMPLETED"


def test_latency_slows_the_calls_it_matches(merchant: Client, info: Any, faults) -> None:
    faults.put({"service": "dynamodb", "function": "ApiFunction", "latency_ms": 300})
    answer = create(merchant, uuid.uuid4().hex)
    assert answer.status_code == 202
    assert answer.elapsed.total_seconds() >= 0.3 and faults.injected()[0] >= 1
    faults.clear()
    assert assert_intact(merchant, info, answer.json()["id"])["status"] == "COMPLETED"


def test_a_crash_mid_invocation_is_a_502_and_a_retry_creates_the_payment_once(merchant: Client, info: Any,
                                                                               faults) -> None:
    faults.put({"service": "dynamodb", "operation": "TransactWriteItems", "function": "ApiFunction",
                "error": "crash"})
    key = uuid.uuid4().hex
    answer = create(merchant, key)
    assert answer.status_code == 502 and answer.json() == {"message": "Internal server error"}
    assert faults.injected() == [1]
    faults.clear()
    retry = create(merchant, key)
    assert retry.status_code == 202 and "Idempotent-Replayed" not in retry.headers
    assert assert_intact(merchant, info, retry.json()["id"])["status"] == "COMPLETED"


def test_a_relay_that_crashes_is_retried_and_nothing_is_lost(merchant: Client, info: Any, faults) -> None:
    faults.put({"service": "sqs", "function": "RelayFunction", "error": "crash"})
    payment = merchant.pay()
    wait_for(lambda: faults.injected()[0] >= 1, what="the relay's crash")
    faults.clear()
    assert assert_intact(merchant, info, payment["id"])["status"] == "COMPLETED"


def test_an_aws_timeout_is_retried_by_the_sdk_then_a_503(merchant: Client, info: Any, faults) -> None:
    faults.put({"service": "dynamodb", "operation": "TransactWriteItems", "function": "ApiFunction",
                "error": "timeout"})
    key = uuid.uuid4().hex
    answer = create(merchant, key)
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "service_unavailable"
    assert faults.injected()[0] >= 2
    faults.clear()
    assert assert_intact(merchant, info, create(merchant, key).json()["id"])["status"] == "COMPLETED"


def test_a_provider_answer_lost_after_the_charge_is_settled_not_charged_twice(merchant: Client, info: Any,
                                                                              faults) -> None:
    faults.put({"service": "provider", "operation": "POST /charges", "error": "timeout"})
    payment = merchant.pay()
    wait_for(lambda: faults.injected()[0] >= 1, what="the lost answer")
    assert assert_intact(merchant, info, payment["id"])["status"] == "COMPLETED"


@pytest.mark.parametrize("error", ["503", "refused"])
def test_a_provider_that_fails_leaves_each_payment_charged_once_or_not_at_all(merchant: Client, info: Any, faults,
                                                                              error: str) -> None:
    faults.put({"service": "provider", "operation": "sandbox", "function": "ProcessorFunction", "error": error})
    payments = [merchant.pay()["id"] for _ in range(3)]
    outcomes = {assert_intact(merchant, info, payment)["status"] for payment in payments}
    assert faults.injected()[0] >= len(payments)
    assert outcomes == {"FAILED"}  # the provider never answered: unavailable, nothing charged
