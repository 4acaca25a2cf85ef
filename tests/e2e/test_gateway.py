"""End to end over real HTTP: merchant -> API -> stream -> queues -> processor -> provider -> webhook."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from gateway_client import Client, create_merchant, new_merchant
from polling import wait_for
from standardwebhooks import Webhook


def register(client: Client, url: str, events: list[str] | None = None) -> dict:
    body = {"url": url, **({"enabled_events": events} if events else {})}
    response = client.post("/v1/webhook_endpoints", body)
    assert response.status_code == 201, response.text
    return response.json()


def test_dev_json_has_the_documented_keys(info, dev):
    assert {"api_url", "api_key", "merchant_id", "aws_endpoint_url", "provider_url"} <= set(info.as_json())
    assert info.api_url.startswith("http://127.0.0.1:") and info.api_key.startswith("sk_test_")
    assert json.loads(dev.info_file.read_text()) == info.as_json()  # the model keeps every field it read


def test_merchants_create_prints_an_id_and_a_key(dev):
    created = create_merchant(dev, "acme")
    assert created["merchant_id"].startswith("mer_") and created["api_key"].startswith("sk_test_")


def test_health(info):
    response = httpx.get(f"{info.api_url}/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_success_reaches_completed_and_a_signed_webhook(merchant, receiver, info):
    endpoint = register(merchant, receiver.url)
    payment = merchant.pay("tok_success")
    assert payment["status"] == "NEW"
    done = merchant.wait_status(payment["id"], {"COMPLETED", "FAILED"})
    assert done["status"] == "COMPLETED" and done["version"] == 3
    wait_for(lambda: receiver.events("payment.completed"), 30, "payment.completed webhook")
    [(event, headers, body)] = receiver.events("payment.completed")
    assert Webhook(endpoint["secret"]).verify(body, headers) == event
    assert headers["webhook-id"] == event["id"] and event["data"]["object"]["id"] == payment["id"]
    charges = httpx.get(f"{info.provider_url}/charges", params={"reference": payment["id"]}).json()
    assert charges["count"] == 1
    history = merchant.get(f"/v1/payments/{payment['id']}/events").json()["data"]
    assert [(e["sequence"], e["type"]) for e in history] == [
        (1, "payment.created"), (2, "payment.processing"), (3, "payment.completed")]
    assert history[-1]["data"]["object"]["status"] == "COMPLETED"


def test_the_sandbox_merchant_from_dev_json_works(sandbox_client):
    payment = sandbox_client.pay("tok_success")
    assert sandbox_client.wait_status(payment["id"], {"COMPLETED"})["status"] == "COMPLETED"


@pytest.mark.parametrize("token,code", [("tok_decline", "card_declined"),
                                        ("tok_insufficient_funds", "insufficient_funds")])
def test_declines_end_failed_with_a_webhook(merchant, receiver, token, code):
    register(merchant, receiver.url, ["payment.failed"])
    payment = merchant.pay(token)
    failed = merchant.wait_status(payment["id"], {"COMPLETED", "FAILED"})
    assert failed["status"] == "FAILED" and failed["failure"]["code"] == code
    wait_for(lambda: receiver.events("payment.failed"), 30, "payment.failed webhook")


def test_flaky_provider_completes_with_one_charge(merchant, info):
    payment = merchant.pay("tok_flaky")
    assert merchant.wait_status(payment["id"], {"COMPLETED", "FAILED"})["status"] == "COMPLETED"
    assert httpx.get(f"{info.provider_url}/charges", params={"reference": payment["id"]}).json()["count"] == 1


def test_a_provider_that_stays_down_ends_failed_not_stuck(merchant):
    payment = merchant.pay("tok_provider_error")
    failed = merchant.wait_status(payment["id"], {"COMPLETED", "FAILED"}, timeout=90)
    assert failed["status"] == "FAILED" and failed["failure"]["code"] == "provider_unavailable"


def test_idempotent_replay_and_mismatch(merchant):
    body = {"amount": 500, "currency": "jpy", "payment_method": {"type": "card", "token": "tok_success"}}
    first = merchant.post("/v1/payments", body, key="order-1")
    again = merchant.post("/v1/payments", body, key="order-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = merchant.post("/v1/payments", {**body, "amount": 501}, key="order-1")
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"


def test_concurrent_requests_with_one_key_create_exactly_one_payment(merchant):
    body = {"amount": 900, "currency": "EUR", "payment_method": {"type": "card", "token": "tok_success"}}
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: merchant.post("/v1/payments", body, key=key), range(10)))
    assert {r.status_code for r in responses} <= {202, 409}
    ids = {r.json()["id"] for r in responses if r.status_code == 202}
    assert len(ids) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "idempotency_key_in_use"
    listed = merchant.get("/v1/payments", params={"limit": 100}).json()["data"]
    assert [p["id"] for p in listed] == list(ids)


def test_another_merchants_payment_is_404(merchant, info):
    payment = merchant.pay("tok_success")
    other = Client(info.api_url, new_merchant(info, "other")["api_key"])
    for path in (f"/v1/payments/{payment['id']}", f"/v1/payments/{payment['id']}/events"):
        response = other.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "resource_missing"


def test_an_endpoint_that_fails_twice_then_receives_the_event(merchant, make_receiver):
    flaky = make_receiver((500, 503, 200))
    endpoint = register(merchant, flaky.url, ["payment.completed"])
    payment = merchant.pay("tok_success")
    wait_for(lambda: len(flaky.received) >= 3, 60, "three delivery attempts")
    attempts = flaky.events("payment.completed")
    assert len(attempts) == 3
    assert len({headers["webhook-id"] for _, headers, _ in attempts}) == 1
    event, headers, body = attempts[-1]
    assert Webhook(endpoint["secret"]).verify(body, headers)["data"]["object"]["id"] == payment["id"]


def test_a_webhook_never_acknowledged_is_dead_lettered_and_shown_to_the_merchant(merchant, make_receiver):
    broken = make_receiver((500,))
    endpoint = register(merchant, broken.url, ["payment.completed"])
    payment = merchant.pay("tok_success")
    path = f"/v1/webhook_endpoints/{endpoint['id']}/failed_deliveries"
    failed = wait_for(lambda: merchant.get(path).json()["data"], 60, "the dead-lettered delivery")
    [entry] = failed
    assert entry["event"]["type"] == "payment.completed" and entry["event"]["data"]["object"]["id"] == payment["id"]
    attempts = broken.events("payment.completed")
    assert len(attempts) == entry["attempts"] == 3
    assert {headers["webhook-id"] for _, headers, _ in attempts} == {entry["event"]["id"]}
    assert merchant.get("/v1/webhook_endpoints/we_unknown/failed_deliveries").status_code == 404


def test_a_failing_endpoint_does_not_hold_back_another(merchant, make_receiver):
    broken, healthy = make_receiver((500,)), make_receiver((200,))
    register(merchant, broken.url, ["payment.completed"])
    register(merchant, healthy.url, ["payment.completed"])
    payment = merchant.pay("tok_success")
    wait_for(lambda: healthy.events("payment.completed"), 30, "the healthy endpoint's webhook")
    assert healthy.events("payment.completed")[0][0]["data"]["object"]["id"] == payment["id"]


def test_bug_each_event_behind_a_failing_endpoint_gets_all_its_attempts(merchant, make_receiver):
    """The issue's first bug: with an endpoint answering 503, payment.created was tried 8 times,
    payment.processing once and payment.completed never, and all three were listed with 8 attempts.
    Each event must get its own attempts (3 here: E2E_PARAMETERS), and be listed with those."""
    broken = make_receiver((503,))
    endpoint = register(merchant, broken.url)
    payment = merchant.pay("tok_success")
    path = f"/v1/webhook_endpoints/{endpoint['id']}/failed_deliveries"
    failed = wait_for(lambda: (lambda d: d if len(d) == 3 else None)(merchant.get(path).json()["data"]), 90,
                      "three dead-lettered deliveries")
    assert sorted((f["event"]["type"], f["attempts"]) for f in failed) == [
        ("payment.completed", 3), ("payment.created", 3), ("payment.processing", 3)]
    assert {f["event"]["data"]["object"]["id"] for f in failed} == {payment["id"]}
    tries = [headers["webhook-id"] for _, headers, _ in broken.events()]
    assert len(tries) == 9 and all(tries.count(t) == 3 for t in tries)


@pytest.mark.not_on_ministack("MiniStack runs at most 5 batches of a standard queue's mapping at once and never "
                              "scales out as Lambda does, so one endpoint's hung deliveries (10 s each) hold them all")
def test_bug_one_merchants_slow_endpoint_does_not_delay_another_merchants_webhooks(info, merchant, make_receiver):
    """The issue's second bug: merchant A's endpoint answered after 15 s and A made 10 payments;
    merchant B's webhooks then arrived minutes late. Here A's endpoint hangs (the gateway gives up
    on each POST after 10 s); all of B's webhooks must arrive before the gateway gives up on any of A's."""
    import threading

    from receiver import Receiver

    released = threading.Event()
    hung = Receiver(hold=released)
    fast = make_receiver((200,))
    try:
        register(merchant, hung.url)
        other = Client(info.api_url, new_merchant(info, "merchant-b")["api_key"])
        register(other, fast.url, ["payment.completed"])
        for _ in range(10):
            merchant.pay("tok_success")
        wait_for(lambda: hung.held >= 1, 30, "merchant A's endpoint to hold a delivery")
        paid = {other.pay("tok_success")["id"] for _ in range(5)}
        wait_for(lambda: {e["data"]["object"]["id"] for e, _, _ in fast.events("payment.completed")} == paid,
                 30, "merchant B's five payment.completed webhooks")
        # B's webhooks all came while A's first deliveries still hung: none had been given up yet.
        assert hung.held >= 1 and hung.abandoned == 0
    finally:
        released.set()
        hung.close()


def test_list_filters_and_pages(merchant):
    ids = [merchant.pay("tok_decline")["id"] for _ in range(3)]
    for pid in ids:
        merchant.wait_status(pid, {"FAILED"})
    page = merchant.get("/v1/payments", params={"limit": 2}).json()
    assert page["object"] == "list" and page["has_more"] is True
    assert [p["id"] for p in page["data"]] == ids[::-1][:2]
    rest = merchant.get("/v1/payments", params={"limit": 2, "starting_after": ids[1]}).json()
    assert [p["id"] for p in rest["data"]] == [ids[0]]
    assert merchant.get("/v1/payments", params={"status": "COMPLETED"}).json()["data"] == []


def test_webhook_endpoints_list_and_delete(merchant, receiver):
    endpoint = register(merchant, receiver.url)
    listed = merchant.get("/v1/webhook_endpoints").json()["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert merchant.delete(f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 200
    assert merchant.delete(f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 404
    assert merchant.get("/v1/webhook_endpoints").json()["data"] == []


@pytest.mark.parametrize("content,status,code", [
    (b"{not json", 400, "invalid_json"),
    (json.dumps({"amount": 10.5, "currency": "USD", "payment_method": {"type": "card", "token": "t"}}).encode(),
     400, "parameter_invalid"),
    (json.dumps({"amount": "10", "currency": "USD", "payment_method": {"type": "card", "token": "t"}}).encode(),
     400, "parameter_invalid"),
    (json.dumps({"amount": 10, "currency": "XYZ", "payment_method": {"type": "card", "token": "t"}}).encode(),
     400, "parameter_invalid"),
    (json.dumps({"amount": 10, "currency": "USD", "payment_method": {"type": "card", "token": "t"},
                 "surprise": True}).encode(), 400, "parameter_unknown"),
    (b"x" * 200_000, 413, "body_too_large"),
])
def test_bad_input_gets_the_documented_error_never_a_5xx(merchant, content, status, code):
    response = merchant.post("/v1/payments", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and set(error) == {"type", "code", "message", "param"}


def test_auth_and_routing_errors(info, merchant):
    assert httpx.get(f"{info.api_url}/v1/payments").status_code == 401
    bad = httpx.get(f"{info.api_url}/v1/payments", headers={"Authorization": "Bearer sk_test_wrong"})
    assert bad.status_code == 401 and bad.json()["error"]["type"] == "authentication_error"
    missing = merchant.get("/v1/payments/pay_doesnotexist")
    assert missing.status_code == 404
    nowhere = merchant.get("/v1/nothing-here")
    if info.backend == "ministack":
        # A deployed REST API answers a path that no route declares itself, before any function runs, as
        # API Gateway does on AWS: 403 "Missing Authentication Token". paygate dev's gateway says 404.
        assert (nowhere.status_code, nowhere.json()) == (403, {"message": "Missing Authentication Token"})
    else:
        assert nowhere.status_code == 404
    no_key = merchant.post("/v1/payments", {"amount": 1, "currency": "USD",
                                            "payment_method": {"type": "card", "token": "tok_success"}}, key=None)
    assert no_key.status_code == 400 and no_key.json()["error"]["param"] == "Idempotency-Key"


def test_events_every_delivery_attempt_and_a_redelivery_over_http(merchant, make_receiver):
    flaky = make_receiver((503, 200))
    endpoint = register(merchant, flaky.url, ["payment.completed"])
    payment = merchant.pay("tok_success")
    flaky.wait_for(2, timeout=60)  # the 503, then the retry a second later
    [(sent, headers, _), _] = flaky.events("payment.completed")
    # The merchant's events, newest first, each exactly as a webhook carries it.
    events = merchant.get("/v1/events", params={"limit": 3}).json()["data"]
    assert [e["type"] for e in events] == ["payment.completed", "payment.processing", "payment.created"]
    assert events[0] == sent and {e["data"]["object"]["id"] for e in events} == {payment["id"]}
    assert merchant.get(f"/v1/events/{sent['id']}").json() == sent
    only = merchant.get("/v1/events", params={"type": "payment.completed", "limit": 1}).json()
    assert [e["id"] for e in only["data"]] == [sent["id"]]
    # Every attempt: status code, time, and when the next was due. Recorded just after the POSTs.
    path = f"/v1/webhook_endpoints/{endpoint['id']}/deliveries"
    wait_for(lambda: len(merchant.get(path).json()["data"]) == 2, 30, "two recorded attempts")
    newest, first = merchant.get(path).json()["data"]
    assert (first["attempt"], first["status_code"], first["delivered"]) == (1, 503, False)
    assert (newest["attempt"], newest["status_code"], newest["delivered"]) == (2, 200, True)
    assert first["next_attempt_at"] > first["at"] and newest["next_attempt_at"] is None
    # Delivered again on request: the same body and webhook-id, signed afresh.
    again = merchant.post(f"/v1/webhook_endpoints/{endpoint['id']}/redeliver", {"event_id": sent["id"]}, key=None)
    assert again.status_code == 202 and again.json() == sent
    flaky.wait_for(3, timeout=30)
    redelivered, redelivered_headers, body = flaky.events("payment.completed")[-1]
    assert redelivered == sent and redelivered_headers["webhook-id"] == headers["webhook-id"] == sent["id"]
    assert Webhook(endpoint["secret"]).verify(body, redelivered_headers) == sent
    wait_for(lambda: len(merchant.get(path).json()["data"]) == 3, 30, "the redelivery's attempt")
    missing = merchant.post(f"/v1/webhook_endpoints/{endpoint['id']}/redeliver", {"event_id": "evt_nope"}, key=None)
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "event_id"
    assert merchant.get("/v1/events", params={"type": "nope"}).status_code == 400


def test_after_rotate_secret_webhooks_verify_with_the_old_and_the_new_secret(merchant, receiver):
    endpoint = register(merchant, receiver.url, ["payment.completed"])
    rotated = merchant.post(f"/v1/webhook_endpoints/{endpoint['id']}/rotate_secret", key=None)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != endpoint["secret"]
    assert "secret" not in merchant.get("/v1/webhook_endpoints").json()["data"][0]  # shown once
    merchant.pay("tok_success")
    receiver.wait_for(1, timeout=30)
    [(_, headers, body)] = receiver.events("payment.completed")
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint["secret"], new_secret):
        Webhook(secret).verify(body, headers)
    assert merchant.post("/v1/webhook_endpoints/we_unknown/rotate_secret", key=None).status_code == 404


@pytest.mark.not_on_ministack("paygate invoke runs a function on the local runtime, against a paygate dev's "
                              "state directory; in MiniStack the functions are MiniStack's (aws lambda invoke)")
def test_paygate_invoke_runs_a_sample_event_against_the_running_gateway(dev, info, sandbox_client):
    """`paygate invoke --state-dir`: the function runs with the running gateway's backend, so what
    it writes goes down the same pipeline as a request through the API."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "paygate_local.cli", "invoke", "ApiFunction", "events/api/create_payment.json",
         "--state-dir", str(dev.state_dir), "--replace", f"sk_test_REPLACE_WITH_A_KEY={info.api_key}",
         "--replace", "order-1001-attempt-1=" + uuid.uuid4().hex],
        cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "against the paygate dev running from" in done.stderr
    answer = json.loads(done.stdout)
    assert answer["statusCode"] == 202, answer
    payment = json.loads(answer["body"])
    assert sandbox_client.wait_status(payment["id"], {"COMPLETED"})["status"] == "COMPLETED"


def test_an_api_key_is_rolled_and_the_old_one_refused_at_the_next_request(merchant, info):
    # Given a second key (no Idempotency-Key: a key is shown once, so it cannot be replayed)
    made = merchant.post("/v1/api_keys", key=None)
    assert made.status_code == 201, made.text
    new_key = made.json()
    new = Client(info.api_url, new_key["secret"])
    listed = new.get("/v1/api_keys").json()["data"]
    assert [k["id"] for k in listed][-1] == new_key["id"] and len(listed) == 2
    assert all("secret" not in k for k in listed) and listed[0]["last_used_at"] is not None
    # When the first is revoked, then the very next request with it is 401, whichever function serves it
    old_id = listed[0]["id"]
    assert new.delete(f"/v1/api_keys/{old_id}").status_code == 200
    refused = merchant.get("/v1/api_keys")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert new.get("/v1/payments").status_code == 200
    # And the last key stays: revoking it is a 409 in the documented shape
    last = new.delete(f"/v1/api_keys/{new_key['id']}")
    assert last.status_code == 409 and last.json()["error"]["code"] == "invalid_state"
    assert new.get("/v1/api_keys").status_code == 200


def test_paygate_merchants_makes_lists_and_revokes_keys(dev, info):
    made = create_merchant(dev, f"keys-{uuid.uuid4().hex[:8]}")
    where = (["--endpoint", info.aws_endpoint_url, "--stack-name", info.stack_name]
             if info.backend == "ministack" else ["--state-dir", str(dev.state_dir)])

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "paygate_local.cli", "merchants", *args,
                               "--merchant-id", made["merchant_id"], *where], capture_output=True, text=True, timeout=60)

    created = cli("create-key")
    assert created.returncode == 0, created.stderr
    new_key = json.loads(created.stdout)
    keys = json.loads(cli("keys").stdout)
    assert {k["id"] for k in keys} >= {new_key["id"]} and len(keys) == 2
    assert all(set(k) == {"id", "prefix", "created_at", "last_used_at"} for k in keys)
    old_id = next(k["id"] for k in keys if k["id"] != new_key["id"])
    assert cli("revoke-key", old_id).returncode == 0
    assert Client(info.api_url, made["api_key"]).get("/v1/api_keys").status_code == 401
    assert Client(info.api_url, new_key["api_key"]).get("/v1/api_keys").status_code == 200
    last = cli("revoke-key", new_key["id"])
    assert last.returncode != 0 and "last API key" in last.stderr
