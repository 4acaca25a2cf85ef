"""Cancel, void and refunds end to end over HTTP on `paygate dev`: the API, the stream, the relay, the
commands, the processor, the sandbox provider and signed webhooks, all real."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import httpx
import invariants
from gateway_client import Client, new_merchant
from polling import wait_for
from standardwebhooks import Webhook

from paygate_local.devfile import DeployInfo

FINAL = {"COMPLETED", "FAILED", "CANCELED"}


def register(client: Client, url: str, events: list[str]) -> dict:
    response = client.post("/v1/webhook_endpoints", {"url": url, "enabled_events": events})
    assert response.status_code == 201, response.text
    return response.json()


def charges(info, payment_id: str) -> dict:
    return httpx.get(f"{info.provider_url}/charges", params={"reference": payment_id}).json()


def provider_refunds(info, payment_id: str) -> dict:
    return httpx.get(f"{info.provider_url}/refunds", params={"reference": payment_id}).json()


def verified(receiver, endpoint: dict, event_type: str, object_id: str) -> dict:
    """The webhook of that type about that object, once it arrived, with its signature checked."""
    def arrived():
        return [(e, h, b) for e, h, b in receiver.events(event_type) if e["data"]["object"]["id"] == object_id]
    [(event, headers, body)] = wait_for(arrived, 30, f"{event_type} webhook for {object_id}")
    assert Webhook(endpoint["secret"]).verify(body, headers) == event
    return event


def refund(client: Client, payment_id: str, amount: int | None = None, key: str = "auto") -> httpx.Response:
    return client.post(f"/v1/payments/{payment_id}/refunds", {} if amount is None else {"amount": amount}, key=key)


def wait_refund(client: Client, refund_id: str) -> dict:
    def final():
        found = client.get(f"/v1/refunds/{refund_id}").json()
        return found if found["status"] in ("SUCCEEDED", "FAILED") else None
    return wait_for(final, 60, f"refund {refund_id} to succeed or fail")


def completed_payment(client: Client, amount: int = 1000) -> dict:
    payment = client.pay("tok_success", amount=amount)
    assert client.wait_status(payment["id"], FINAL)["status"] == "COMPLETED"
    return payment


# ------------------------------------------------------------------------------------ cancel


def test_a_pending_payment_is_voided_and_canceled_with_no_money_taken(merchant, receiver, info):
    endpoint = register(merchant, receiver.url, ["payment.canceled"])
    payment = merchant.pay("tok_pending")
    merchant.wait_status(payment["id"], {"PROCESSING"})
    response = merchant.post(f"/v1/payments/{payment['id']}/cancel", key=None)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "PROCESSING" and response.json()["cancel_requested"] is True
    assert merchant.wait_status(payment["id"], FINAL)["status"] == "CANCELED"
    found = charges(info, payment["id"])
    assert found["count"] == 0 and [c["status"] for c in found["data"]] == ["voided"]
    event = verified(receiver, endpoint, "payment.canceled", payment["id"])
    assert event["data"]["object"]["status"] == "CANCELED"


def test_a_payment_canceled_before_any_charge_ends_canceled_never_charged(merchant, info):
    # tok_provider_error never charges and keeps the processor retrying: whether the cancel lands while
    # the payment is NEW or once it is PROCESSING, it must end CANCELED with nothing charged.
    payment = merchant.pay("tok_provider_error")
    response = merchant.post(f"/v1/payments/{payment['id']}/cancel", key=uuid.uuid4().hex)
    assert response.status_code == 202 and response.json()["status"] in ("NEW", "PROCESSING")
    assert merchant.wait_status(payment["id"], FINAL, timeout=90)["status"] == "CANCELED"
    assert charges(info, payment["id"])["count"] == 0


def test_a_charge_taken_while_the_cancel_came_is_not_lost(merchant, info):
    # tok_timeout_after_success: the provider charges, then holds its answer (longer than the processor
    # waits); the cancel comes while the processor is still waiting for it.
    payment = merchant.pay("tok_timeout_after_success")
    wait_for(lambda: charges(info, payment["id"])["count"] == 1, 30, "the charge at the provider")
    assert merchant.post(f"/v1/payments/{payment['id']}/cancel", key=None).status_code == 202
    done = merchant.wait_status(payment["id"], FINAL, timeout=90)
    # The processor and the cancel never both win: completed with the one charge, never canceled with it
    assert (done["status"], charges(info, payment["id"])["count"]) == ("COMPLETED", 1)


def test_a_final_payment_cannot_be_canceled_and_a_key_replays_the_first_answer(merchant):
    payment = merchant.pay("tok_pending")
    merchant.wait_status(payment["id"], {"PROCESSING"})
    first = merchant.post(f"/v1/payments/{payment['id']}/cancel", key="cancel-1")
    merchant.wait_status(payment["id"], FINAL)
    again = merchant.post(f"/v1/payments/{payment['id']}/cancel", key="cancel-1")
    assert again.status_code == 202 and again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    late = merchant.post(f"/v1/payments/{payment['id']}/cancel", key=None)
    assert late.status_code == 409 and late.json()["error"]["code"] == "invalid_state"
    done = completed_payment(merchant)
    assert merchant.post(f"/v1/payments/{done['id']}/cancel", key=None).status_code == 409


def test_another_merchants_payment_cannot_be_canceled_or_refunded(merchant, info):
    payment = completed_payment(merchant)
    accepted = refund(merchant, payment["id"], 100).json()
    other = Client(info.api_url, new_merchant(info, "other")["api_key"])
    for response in (other.post(f"/v1/payments/{payment['id']}/cancel", key=None), refund(other, payment["id"]),
                     other.get(f"/v1/payments/{payment['id']}/refunds"), other.get(f"/v1/refunds/{accepted['id']}")):
        assert response.status_code == 404 and response.json()["error"]["code"] == "resource_missing"


# ------------------------------------------------------------------------------------ refunds


def test_partial_then_full_refund_with_signed_webhooks(merchant, receiver, info):
    endpoint = register(merchant, receiver.url, ["refund.succeeded"])
    payment = completed_payment(merchant)
    partial = refund(merchant, payment["id"], 300, key="refund-1")
    assert partial.status_code == 202, partial.text
    body = partial.json()
    assert {k: body[k] for k in ("object", "payment_id", "amount", "currency", "status")} == {
        "object": "refund", "payment_id": payment["id"], "amount": 300, "currency": "USD", "status": "PENDING"}
    assert body["id"].startswith("re_") and partial.headers["Location"] == f"/v1/refunds/{body['id']}"
    replay = refund(merchant, payment["id"], 300, key="refund-1")
    assert replay.json() == body and replay.headers["Idempotent-Replayed"] == "true"
    rest = refund(merchant, payment["id"])  # no amount: all that is left
    assert rest.status_code == 202 and rest.json()["amount"] == 700
    over = refund(merchant, payment["id"], 1)
    assert over.status_code == 400 and over.json()["error"]["code"] == "amount_too_large"
    assert over.json()["error"]["param"] == "amount"
    assert wait_refund(merchant, body["id"])["status"] == "SUCCEEDED"
    assert wait_refund(merchant, rest.json()["id"])["status"] == "SUCCEEDED"
    assert merchant.get(f"/v1/payments/{payment['id']}").json()["amount_refunded"] == 1000
    listed = merchant.get(f"/v1/payments/{payment['id']}/refunds").json()["data"]
    assert sorted(r["amount"] for r in listed) == [300, 700]
    assert (provider_refunds(info, payment["id"])["count"], provider_refunds(info, payment["id"])["amount"]) == (2, 1000)
    event = verified(receiver, endpoint, "refund.succeeded", body["id"])
    assert event["data"]["object"]["status"] == "SUCCEEDED" and event["data"]["object"]["version"] == 2


def test_only_completed_payments_are_refunded_and_a_key_is_required(merchant):
    payment = merchant.pay("tok_pending")
    response = refund(merchant, payment["id"], 100)
    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_state"
    response = refund(merchant, payment["id"], 100, key=None)
    assert response.status_code == 400 and response.json()["error"]["param"] == "Idempotency-Key"
    assert merchant.post(f"/v1/payments/{payment['id']}/cancel", key=None).status_code == 202


def test_twenty_concurrent_refunds_of_100_on_1000_accept_exactly_10(merchant, info):
    payment = completed_payment(merchant)
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda _: refund(merchant, payment["id"], 100), range(20)))
    accepted = [r.json() for r in responses if r.status_code == 202]
    refused = [r.json()["error"] for r in responses if r.status_code != 202]
    assert len(accepted) == 10, [r.text for r in responses]
    assert refused == [{**e, "code": "amount_too_large", "param": "amount"} for e in refused] and len(refused) == 10
    for r in accepted:
        assert wait_refund(merchant, r["id"])["status"] == "SUCCEEDED"
    assert merchant.get(f"/v1/payments/{payment['id']}").json()["amount_refunded"] == 1000
    assert provider_refunds(info, payment["id"])["count"] == 10


# ------------------------------------------------------------------------------------ fold(events) == state


def test_every_payment_and_refund_stored_is_the_fold_of_its_events(info):
    """Runs last in this module: every payment and refund the tests above made (and their payments)."""
    client = boto3.client("dynamodb", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                          aws_access_key_id="test", aws_secret_access_key="test")
    deployed = info.tables if isinstance(info, DeployInfo) else {}
    table = deployed.get("AggregatesTable") or info.merchants_table.replace("MerchantsTable", "AggregatesTable")
    payments, refunds = invariants.check(invariants.scan(client, table))
    assert payments >= 9 and refunds >= 13
