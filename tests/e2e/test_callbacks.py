"""Provider callbacks over HTTP: tok_async completes through the sandbox's signed callback; a forged
one is refused and changes nothing; a repeated or late one is harmless."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from polling import wait_for

from sandbox_provider import sign_callback

SECRET = "sandbox_secret"  # the template's ProviderCallbackSecret default, the sandbox's too


def charges(info: dict, payment_id: str) -> int:
    return httpx.get(f"{info.provider_url}/charges", params={"reference": payment_id}).json()["count"]


def callback(info: dict, body: dict, secret: str = SECRET) -> httpx.Response:
    raw = json.dumps(body).encode()
    return httpx.post(f"{info.api_url}/callbacks/sandbox", content=raw,
                      headers={"Sandbox-Signature": sign_callback(secret, raw, int(time.time())),
                               "Content-Type": "application/json"})


def test_an_async_charge_completes_through_the_providers_callback(merchant, receiver, info):
    merchant.post("/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["payment.completed"]})
    payment = merchant.pay("tok_async")
    done = merchant.wait_status(payment["id"], {"COMPLETED", "FAILED"}, timeout=60)
    assert done["status"] == "COMPLETED"
    assert charges(info, payment["id"]) == 1
    receiver.wait_for(1, timeout=30)
    [(event, _, _)] = receiver.events("payment.completed")
    assert event["data"]["object"]["id"] == payment["id"]
    types = [e["type"] for e in merchant.get(f"/v1/payments/{payment['id']}/events").json()["data"]]
    assert types == ["payment.created", "payment.processing", "payment.completed"]


def test_a_forged_callback_is_refused_and_changes_nothing(merchant, info):
    payment = merchant.pay("tok_pending")
    merchant.wait_status(payment["id"], {"PROCESSING"}, timeout=60)
    forged = {"id": "evt_forged", "type": "charge.succeeded",
              "data": {"id": "ch_x", "reference": payment["id"], "status": "succeeded"}}
    answer = callback(info, forged, secret="not the provider's")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "signature_mismatch"
    unsigned = httpx.post(f"{info.api_url}/callbacks/sandbox", json=forged)
    assert unsigned.status_code == 400 and unsigned.json()["error"]["param"] == "Sandbox-Signature"
    assert httpx.post(f"{info.api_url}/callbacks/acme", json=forged).status_code == 404
    # A well-signed callback that the provider's own records contradict changes nothing either: the
    # settle command asks the provider, which still holds the charge pending. A cancel after it runs
    # in the same FIFO group, so once the payment is CANCELED the settle command has run before it.
    assert callback(info, forged).status_code == 200
    assert merchant.post(f"/v1/payments/{payment['id']}/cancel", key=None).status_code == 202
    final = merchant.wait_status(payment["id"], {"CANCELED", "COMPLETED"}, timeout=60)
    assert final["status"] == "CANCELED" and charges(info, payment["id"]) == 0


def test_a_repeated_or_late_callback_is_harmless(merchant, info):
    payment = merchant.pay("tok_async")
    done = merchant.wait_status(payment["id"], {"COMPLETED"}, timeout=60)
    late = {"id": "evt_late_repeat", "type": "charge.succeeded",
            "data": {"id": "ch_x", "reference": payment["id"], "status": "succeeded"}}
    assert callback(info, late).status_code == 200
    assert callback(info, late).status_code == 200
    # A refund's command runs in the payment's FIFO group after the settle commands: once it is done,
    # they have run, and the payment's history has no second outcome.
    refund = merchant.post(f"/v1/payments/{payment['id']}/refunds", {"amount": 100})
    assert refund.status_code == 202, refund.text
    wait_for(lambda: merchant.get(f"/v1/refunds/{refund.json()['id']}").json()["status"] == "SUCCEEDED", 60,
             "the refund")
    types = [e["type"] for e in merchant.get(f"/v1/payments/{payment['id']}/events").json()["data"]]
    assert types.count("payment.completed") == 1 and "payment.failed" not in types, types
    assert charges(info, payment["id"]) == 1 and done["status"] == "COMPLETED"


def reconciled(dev, payment_id: str) -> int:
    """How many reconciliation runs put a settle command in for this payment (its function's log)."""
    log = dev.state_dir / "logs" / "ReconcileFunction.log"
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return 0
    return sum(1 for line in lines if "re-checked" in line and payment_id in line)


def test_a_callback_that_never_comes_is_made_up_for_by_reconciliation(merchant, receiver, info):
    merchant.post("/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["payment.completed"]})
    payment = merchant.pay("tok_async_no_callback")
    done = merchant.wait_status(payment["id"], {"COMPLETED", "FAILED"}, timeout=90)
    assert done["status"] == "COMPLETED" and charges(info, payment["id"]) == 1
    receiver.wait_for(1, timeout=30)


@pytest.mark.not_on_ministack("counts reconciliation runs in paygate dev's function logs, where the schedule "
                              "runs every second; MiniStack runs the template's rate(1 minute)")
def test_reconciliation_leaves_what_the_provider_cannot_confirm_processing(merchant, dev):
    payment = merchant.pay("tok_pending")
    merchant.wait_status(payment["id"], {"PROCESSING"}, timeout=60)
    wait_for(lambda: reconciled(dev, payment["id"]) >= 2, 90, "two reconciliation runs over the payment")
    still = merchant.get(f"/v1/payments/{payment['id']}").json()
    assert still["status"] == "PROCESSING" and still["failure"] is None
