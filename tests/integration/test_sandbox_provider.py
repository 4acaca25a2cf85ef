"""The sandbox payment provider over real HTTP on 127.0.0.1: every token, idempotency, retries, callbacks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from polling import wait_for

from paygate.domain.callbacks import MalformedSignature, sign, signature_valid
from sandbox_provider import (
    SIGNATURE_HEADER,
    SandboxProvider,
    sign_callback,
    verify_callback,
)

CALLBACK_SECRET = "test_callback_secret"


def gateway_accepts(secret: str, delivery: dict[str, Any]) -> bool:
    """The gateway's own verdict (paygate.domain.callbacks, what the callbacks function runs) on a callback."""
    return signature_valid(secret, delivery["body"], delivery["headers"][SIGNATURE_HEADER], now=time.time())


def charge_body(token: str, reference: str | None = None, amount: int = 1000, currency: str = "USD") -> dict:
    return {"amount": amount, "currency": currency, "token": token, "reference": reference or f"pay_{uuid.uuid4().hex}"}


class Receiver:
    """A tiny HTTP server on 127.0.0.1 that records what is POSTed to it and answers a scripted status."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self._statuses = list(statuses or [])
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    status = receiver._statuses.pop(0) if receiver._statuses else 200
                    receiver.received.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body, "answered": status}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/callbacks/sandbox"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def provider() -> Iterator[SandboxProvider]:
    with SandboxProvider(timeout_delay=0.5, async_delay=0.1) as sandbox:
        yield sandbox


@pytest.fixture
def client(provider: SandboxProvider) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=provider.url, timeout=5.0) as http:
        yield http


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.stop()


def post_charge(client: httpx.Client, body: dict, key: str | None = None, **kwargs: Any) -> httpx.Response:
    return client.post("/charges", json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex}, **kwargs)


def charges_for(client: httpx.Client, reference: str) -> dict:
    response = client.get("/charges", params={"reference": reference})
    assert response.status_code == 200
    return response.json()


def requests_for(client: httpx.Client, reference: str) -> int:
    response = client.get("/requests", params={"reference": reference})
    assert response.status_code == 200
    return response.json()["count"]


# ---- basics ----------------------------------------------------------------------------------------


def test_listens_on_loopback_and_answers_health(provider: SandboxProvider, client: httpx.Client) -> None:
    assert provider.url.startswith("http://127.0.0.1:")
    assert provider.port > 0
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_success_charges_once(client: httpx.Client) -> None:
    body = charge_body("tok_success", amount=1234, currency="usd")
    response = post_charge(client, body)
    assert response.status_code == 200
    charge = response.json()
    assert charge["id"].startswith("ch_")
    assert charge["object"] == "charge"
    assert charge["status"] == "succeeded"
    assert charge["amount"] == 1234
    assert charge["currency"] == "USD"
    assert charge["reference"] == body["reference"]
    assert charge["decline_code"] is None
    assert isinstance(charge["created"], int) and abs(charge["created"] - time.time()) < 60

    assert client.get(f"/charges/{charge['id']}").json() == charge
    listing = charges_for(client, body["reference"])
    assert listing == {"object": "list", "reference": body["reference"], "count": 1, "data": [charge]}
    assert requests_for(client, body["reference"]) == 1


@pytest.mark.parametrize(
    ("token", "decline_code"), [("tok_decline", "card_declined"), ("tok_insufficient_funds", "insufficient_funds")]
)
def test_declines_are_results_not_errors(client: httpx.Client, token: str, decline_code: str) -> None:
    body = charge_body(token)
    response = post_charge(client, body)
    assert response.status_code == 200
    charge = response.json()
    assert charge["status"] == "declined"
    assert charge["decline_code"] == decline_code
    listing = charges_for(client, body["reference"])
    assert listing["count"] == 0  # no money taken
    assert [c["id"] for c in listing["data"]] == [charge["id"]]


def test_provider_error_is_always_503_and_never_charges(client: httpx.Client) -> None:
    body = charge_body("tok_provider_error")
    key = uuid.uuid4().hex
    for _ in range(3):
        response = post_charge(client, body, key)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "provider_unavailable"
    assert post_charge(client, body).status_code == 503  # a new key does not help either
    listing = charges_for(client, body["reference"])
    assert listing["count"] == 0 and listing["data"] == []
    assert requests_for(client, body["reference"]) == 4


def test_flaky_fails_twice_per_key_then_succeeds(client: httpx.Client) -> None:
    body = charge_body("tok_flaky")
    key = uuid.uuid4().hex
    assert [post_charge(client, body, key).status_code for _ in range(2)] == [503, 503]
    third = post_charge(client, body, key)
    assert third.status_code == 200
    assert third.json()["status"] == "succeeded"
    fourth = post_charge(client, body, key)
    assert fourth.status_code == 200
    assert fourth.json() == third.json()
    assert fourth.headers["Idempotent-Replayed"] == "true"
    assert charges_for(client, body["reference"])["count"] == 1
    assert requests_for(client, body["reference"]) == 4

    # Each idempotency key has its own sequence.
    other = charge_body("tok_flaky")
    other_key = uuid.uuid4().hex
    assert post_charge(client, other, other_key).status_code == 503


def test_timeout_after_success_charges_once_across_retries(provider: SandboxProvider) -> None:
    assert provider.timeout_delay == 0.5
    body = charge_body("tok_timeout_after_success")
    key = uuid.uuid4().hex
    with httpx.Client(base_url=provider.url, timeout=0.2) as impatient:
        with pytest.raises(httpx.TimeoutException):
            post_charge(impatient, body, key)
    with httpx.Client(base_url=provider.url, timeout=5.0) as client:
        # The charge exists although the client never saw the answer: the gateway can find it.
        listing = charges_for(client, body["reference"])
        assert listing["count"] == 1
        assert listing["data"][0]["status"] == "succeeded"

        started = time.monotonic()
        retry = post_charge(client, body, key)
        assert time.monotonic() - started < provider.timeout_delay  # later attempts answer at once
        assert retry.status_code == 200
        assert retry.json() == listing["data"][0]
        assert charges_for(client, body["reference"])["count"] == 1
        assert requests_for(client, body["reference"]) == 2


def test_timeout_after_success_answers_after_the_delay(client: httpx.Client, provider: SandboxProvider) -> None:
    body = charge_body("tok_timeout_after_success")
    started = time.monotonic()
    response = post_charge(client, body)
    assert time.monotonic() - started >= provider.timeout_delay * 0.9
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"


def test_pending_until_voided(client: httpx.Client) -> None:
    body = charge_body("tok_pending")
    charge = post_charge(client, body).json()
    assert charge["status"] == "pending"
    assert charges_for(client, body["reference"])["count"] == 0

    voided = client.post(f"/charges/{charge['id']}/void")
    assert voided.status_code == 200
    assert voided.json()["status"] == "voided"
    assert voided.json()["id"] == charge["id"]
    again = client.post(f"/charges/{charge['id']}/void")  # a retried void is harmless
    assert again.status_code == 200 and again.json()["status"] == "voided"
    assert client.get(f"/charges/{charge['id']}").json()["status"] == "voided"
    listing = charges_for(client, body["reference"])
    assert listing["count"] == 0
    assert [c["status"] for c in listing["data"]] == ["voided"]


def test_void_only_pending(client: httpx.Client) -> None:
    charge = post_charge(client, charge_body("tok_success")).json()
    response = client.post(f"/charges/{charge['id']}/void")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"
    missing = client.post("/charges/ch_missing/void")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"


def test_unknown_charge_is_404(client: httpx.Client) -> None:
    response = client.get("/charges/ch_does_not_exist")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"
    assert client.get("/no/such/route").status_code == 404


# ---- idempotency -----------------------------------------------------------------------------------


def test_same_key_same_body_returns_the_same_charge(client: httpx.Client) -> None:
    body = charge_body("tok_success")
    key = uuid.uuid4().hex
    first = post_charge(client, body, key)
    second = post_charge(client, body, key)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert charges_for(client, body["reference"])["count"] == 1
    assert len(charges_for(client, body["reference"])["data"]) == 1
    assert requests_for(client, body["reference"]) == 2


def test_same_key_different_body_is_409(client: httpx.Client) -> None:
    body = charge_body("tok_success")
    key = uuid.uuid4().hex
    assert post_charge(client, body, key).status_code == 200
    response = post_charge(client, {**body, "amount": body["amount"] + 1}, key)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert charges_for(client, body["reference"])["count"] == 1


def test_concurrent_requests_with_one_key_create_one_charge(provider: SandboxProvider) -> None:
    body = charge_body("tok_success")
    key = uuid.uuid4().hex
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def attempt() -> None:
        with httpx.Client(base_url=provider.url, timeout=5.0) as http:
            response = post_charge(http, body, key)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 8
    assert {r.status_code for r in results} == {200}
    assert len({r.json()["id"] for r in results}) == 1
    with httpx.Client(base_url=provider.url) as http:
        assert charges_for(http, body["reference"])["count"] == 1


def test_a_new_key_is_a_new_charge(client: httpx.Client) -> None:
    # This is why the gateway must reuse its key (or look the charge up) when it retries.
    body = charge_body("tok_success")
    assert post_charge(client, body).json()["id"] != post_charge(client, body).json()["id"]
    assert charges_for(client, body["reference"])["count"] == 2


# ---- asynchronous results --------------------------------------------------------------------------


def test_async_charge_calls_back_with_a_valid_signature(receiver: Receiver) -> None:
    with SandboxProvider(callback_url=receiver.url, callback_secret=CALLBACK_SECRET, async_delay=0.1) as provider:
        with httpx.Client(base_url=provider.url, timeout=5.0) as client:
            body = charge_body("tok_async")
            response = post_charge(client, body)
            assert response.status_code == 200
            charge = response.json()
            assert charge["status"] == "pending"

            wait_for(lambda: receiver.received)
            delivery = receiver.received[0]
            assert delivery["path"] == "/callbacks/sandbox"
            assert delivery["headers"]["Content-Type"] == "application/json"
            assert gateway_accepts(CALLBACK_SECRET, delivery)
            assert not gateway_accepts("another_secret", delivery)
            event = json.loads(delivery["body"])
            assert event["type"] == "charge.succeeded"
            assert event["id"].startswith("evt_")
            assert event["data"]["id"] == charge["id"]
            assert event["data"]["reference"] == body["reference"]
            assert event["data"]["status"] == "succeeded"
            assert event["data"]["amount"] == body["amount"]

            assert client.get(f"/charges/{charge['id']}").json()["status"] == "succeeded"
            assert charges_for(client, body["reference"])["count"] == 1
            assert len(receiver.received) == 1


def test_async_callback_is_retried_until_accepted() -> None:
    receiver = Receiver(statuses=[500, 503])
    try:
        with SandboxProvider(callback_url=receiver.url, callback_secret=CALLBACK_SECRET, async_delay=0.05) as provider:
            with httpx.Client(base_url=provider.url, timeout=5.0) as client:
                charge = post_charge(client, charge_body("tok_async")).json()
                wait_for(lambda: len(receiver.received) >= 3)
                assert [d["answered"] for d in receiver.received] == [500, 503, 200]
                assert len({json.loads(d["body"])["id"] for d in receiver.received}) == 1  # one event, redelivered
                for delivery in receiver.received:
                    assert gateway_accepts(CALLBACK_SECRET, delivery)
                log = client.get("/callbacks").json()
                assert [e["status_code"] for e in log["data"]] == [500, 503, 200]
                assert {e["charge"] for e in log["data"]} == {charge["id"]}
    finally:
        receiver.stop()


def test_async_callback_url_can_be_set_after_start(receiver: Receiver) -> None:
    with SandboxProvider(async_delay=0.05) as provider:
        provider.set_callback(receiver.url, CALLBACK_SECRET)
        with httpx.Client(base_url=provider.url, timeout=5.0) as client:
            post_charge(client, charge_body("tok_async"))
            wait_for(lambda: receiver.received)
            delivery = receiver.received[0]
            assert gateway_accepts(CALLBACK_SECRET, delivery)


def test_async_callback_url_can_be_set_over_http(receiver: Receiver) -> None:
    """PUT /callback: what `paygate ministack deploy` does once the gateway's API URL is known."""
    with SandboxProvider(async_delay=0.05) as provider, httpx.Client(base_url=provider.url, timeout=5.0) as client:
        answer = client.put("/callback", json={"url": receiver.url, "secret": CALLBACK_SECRET})
        assert (answer.status_code, answer.json()) == (200, {"url": receiver.url})
        post_charge(client, charge_body("tok_async"))
        wait_for(lambda: receiver.received)
        delivery = receiver.received[0]
        assert gateway_accepts(CALLBACK_SECRET, delivery)
        for bad, param in (({"url": "ftp://x"}, "url"), ({"url": receiver.url, "secret": ""}, "secret")):
            refused = client.put("/callback", json=bad)
            assert refused.status_code == 400 and refused.json()["error"]["param"] == param
        assert provider.callback_url == receiver.url


def test_async_without_callback_url_stays_pending(client: httpx.Client, provider: SandboxProvider) -> None:
    assert provider.callback_url is None
    body = charge_body("tok_async")
    charge = post_charge(client, body).json()
    assert charge["status"] == "pending"
    time.sleep(provider.async_delay * 4)  # nothing to poll for: this checks that nothing happens
    assert client.get(f"/charges/{charge['id']}").json()["status"] == "pending"
    assert charges_for(client, body["reference"])["count"] == 0


def test_a_voided_async_charge_never_calls_back(receiver: Receiver) -> None:
    with SandboxProvider(callback_url=receiver.url, async_delay=0.3) as provider:
        with httpx.Client(base_url=provider.url, timeout=5.0) as client:
            charge = post_charge(client, charge_body("tok_async")).json()
            assert client.post(f"/charges/{charge['id']}/void").json()["status"] == "voided"
            time.sleep(0.6)  # past the async delay: nothing may arrive
            assert receiver.received == []
            assert client.get(f"/charges/{charge['id']}").json()["status"] == "voided"


# ---- refunds ---------------------------------------------------------------------------------------


def test_refunds(client: httpx.Client) -> None:
    charge = post_charge(client, charge_body("tok_success", amount=1000)).json()
    key = uuid.uuid4().hex
    first = client.post("/refunds", json={"charge": charge["id"], "amount": 300}, headers={"Idempotency-Key": key})
    assert first.status_code == 200
    refund = first.json()
    assert refund["id"].startswith("re_")
    assert refund["object"] == "refund"
    assert refund["status"] == "succeeded"
    assert (refund["charge"], refund["amount"], refund["currency"]) == (charge["id"], 300, "USD")
    replay = client.post("/refunds", json={"charge": charge["id"], "amount": 300}, headers={"Idempotency-Key": key})
    assert replay.json() == refund
    assert client.get(f"/refunds/{refund['id']}").json() == refund

    too_much = client.post("/refunds", json={"charge": charge["id"], "amount": 701})
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "amount_too_large"
    rest = client.post("/refunds", json={"charge": charge["id"]})
    assert rest.status_code == 200 and rest.json()["amount"] == 700
    assert client.get(f"/charges/{charge['id']}").json()["amount_refunded"] == 1000
    assert client.get(f"/charges/{charge['id']}").json()["status"] == "succeeded"

    pending = post_charge(client, charge_body("tok_pending")).json()
    assert client.post("/refunds", json={"charge": pending["id"]}).status_code == 409
    assert client.post("/refunds", json={"charge": "ch_missing"}).status_code == 404
    assert client.post("/refunds", json={"amount": 1}).status_code == 400


# ---- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": "10", "currency": "USD", "token": "tok_success", "reference": "pay_x"}, "invalid_amount"),
        ({"amount": 10.5, "currency": "USD", "token": "tok_success", "reference": "pay_x"}, "invalid_amount"),
        ({"amount": True, "currency": "USD", "token": "tok_success", "reference": "pay_x"}, "invalid_amount"),
        ({"amount": 0, "currency": "USD", "token": "tok_success", "reference": "pay_x"}, "invalid_amount"),
        ({"amount": -5, "currency": "USD", "token": "tok_success", "reference": "pay_x"}, "invalid_amount"),
        ({"currency": "USD", "token": "tok_success", "reference": "pay_x"}, "invalid_amount"),
        ({"amount": 10, "currency": "US", "token": "tok_success", "reference": "pay_x"}, "invalid_currency"),
        ({"amount": 10, "currency": 840, "token": "tok_success", "reference": "pay_x"}, "invalid_currency"),
        ({"amount": 10, "currency": "USD", "token": "tok_success"}, "invalid_reference"),
        ({"amount": 10, "currency": "USD", "token": "tok_success", "reference": ""}, "invalid_reference"),
        ({"amount": 10, "currency": "USD", "token": "tok_nope", "reference": "pay_x"}, "invalid_token"),
        ({"amount": 10, "currency": "USD", "reference": "pay_x"}, "invalid_token"),
        ([1, 2, 3], "invalid_json"),
    ],
)
def test_malformed_charge_is_400(client: httpx.Client, body: Any, code: str) -> None:
    response = post_charge(client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert error["message"]


def test_invalid_json_is_400(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "k", "Content-Type": "application/json"}
    response = client.post("/charges", content=b"{not json", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_idempotency_key_is_required_and_bounded(client: httpx.Client) -> None:
    body = charge_body("tok_success")
    missing = client.post("/charges", json=body)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "missing_idempotency_key"
    too_long = client.post("/charges", json=body, headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "invalid_idempotency_key"
    assert charges_for(client, body["reference"])["data"] == []


def test_body_too_large_is_413(client: httpx.Client) -> None:
    response = client.post("/charges", content=b"x" * 100_000, headers={"Idempotency-Key": "k"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


# ---- signatures --------------------------------------------------------------------------------------


def test_sign_and_verify_callback() -> None:
    body = b'{"type":"charge.succeeded"}'
    now = 1_700_000_000
    header = sign_callback("s3cret", body, now)
    assert header.startswith(f"t={now},v1=")
    assert len(header.split("v1=")[1]) == 64
    assert sign_callback("s3cret", body, now) == header  # deterministic
    assert verify_callback("s3cret", body, header, now=now)
    assert verify_callback("s3cret", body.decode(), header, now=now + 299)
    assert not verify_callback("s3cret", body, header, now=now + 301)  # too old
    assert not verify_callback("s3cret", body, header, now=now - 301)  # from the future
    assert not verify_callback("wrong", body, header, now=now)
    assert not verify_callback("s3cret", body + b" ", header, now=now)
    assert not verify_callback("s3cret", body, header.replace(f"t={now}", f"t={now + 1}"), now=now)
    # Several signatures (a secret rotation): one match is enough.
    rotated = f"t={now},v1={'0' * 64},v1={header.split('v1=')[1]}"
    assert verify_callback("s3cret", body, rotated, now=now)
    for bad in [None, "", "garbage", f"t={now}", "v1=abc", f"t=x,v1={'0' * 64}", f"t={now},v1"]:
        assert not verify_callback("s3cret", body, bad, now=now)
        with pytest.raises(MalformedSignature):  # which the gateway answers 400 signature_invalid
            signature_valid("s3cret", body, bad, now=now)


def test_the_sandbox_signs_and_verifies_with_the_gateways_code() -> None:
    """One implementation of the signature (paygate.domain.callbacks): the sandbox's functions adapt it."""
    body, now = b'{"type":"charge.succeeded"}', 1_700_000_000
    assert sign_callback("s3cret", body, now) == sign("s3cret", body, now) == sign_callback(b"s3cret", body.decode(), now)
    header = sign_callback("s3cret", body, now)
    rotated = f"t={now},v1={'0' * 64},v1={header.split('v1=')[1]}"
    for candidate in (header, rotated, f"t={now},v1={'0' * 64}"):
        for at in (now - 301, now - 300, now, now + 300, now + 301):
            assert verify_callback("s3cret", body, candidate, now=at) == signature_valid("s3cret", body, candidate, at)


# ---- lifecycle -----------------------------------------------------------------------------------------


def test_stops_cleanly_even_with_a_held_answer_and_a_pending_callback(receiver: Receiver) -> None:
    provider = SandboxProvider(callback_url=receiver.url, timeout_delay=30.0, async_delay=30.0).start()
    url = provider.url
    client = httpx.Client(base_url=url, timeout=60.0)
    held: list[httpx.Response] = []
    post_charge(client, charge_body("tok_async"))
    thread = threading.Thread(target=lambda: held.append(post_charge(client, charge_body("tok_timeout_after_success"))))
    thread.start()
    wait_for(lambda: httpx.get(f"{url}/charges").json()["count"] == 1)  # the held charge is recorded

    started = time.monotonic()
    provider.stop()
    assert time.monotonic() - started < 5
    thread.join(5)
    assert not thread.is_alive()
    client.close()
    assert not provider.running
    assert [t for t in threading.enumerate() if t.name.startswith(("sandbox-", "sandbox-async-"))] == []
    assert receiver.received == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=1.0)
    provider.stop()  # stopping twice is harmless


def test_busy_port_is_an_os_error(provider: SandboxProvider) -> None:
    with pytest.raises(OSError):
        SandboxProvider(port=provider.port).start()


def test_command_line_runs_in_the_foreground_until_interrupted() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox_provider", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5.0).json() == {"status": "ok"}
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_the_sandbox_runs_with_werkzeug_and_the_core_alone() -> None:
    """Compose's sandbox container installs only Werkzeug (PYTHONPATH infra and layers/core): importing
    the sandbox may reach the core's pure domain, nothing that needs another package."""
    code = ("import json, sys, sandbox_provider, sandbox_provider.cli; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('paygate', 'paygate_local', 'boto3', 'botocore', 'pydantic', 'httpx', 'aws_lambda_powertools', "
            "'opentelemetry', 'typer'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == ["paygate", "paygate.domain", "paygate.domain.callbacks"]


def test_the_api_knows_the_sandbox_tokens_the_sandbox_knows() -> None:
    from paygate.services.funding.card import SANDBOX_TOKENS
    from sandbox_provider import TOKENS

    assert SANDBOX_TOKENS == TOKENS
