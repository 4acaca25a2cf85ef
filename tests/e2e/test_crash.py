"""Acknowledged means durable: `paygate dev` SIGKILLed in the instant after it answered, on every path
that creates something, and at random moments under load, loses nothing it answered, and a retry
with the same Idempotency-Key answers the first object, never a new one."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from conftest import E2E_ENV, E2E_PARAMETERS, ROOT
from crash_campaign import Campaign, stored_invariants
from gateway_client import Client
from polling import wait_for
from receiver import Receiver

from paygate_local.apigateway.server import CRASH_AFTER_ENV
from paygate_local.devprocess import DevProcess
from paygate_local.template import Stack

BACKEND = os.environ.get("PAYGATE_E2E_BACKEND", "moto")
pytestmark = pytest.mark.not_on_ministack("kills and restarts paygate dev on its state directory")
# make crash-campaign sets these; CI runs this small fixed slice (smaller on LocalStack, where each
# restart of paygate dev waits for LocalStack to save and start again: tens of seconds).
ON_LOCALSTACK = BACKEND == "localstack"
KILLS = int(os.environ.get("PAYGATE_CAMPAIGN_KILLS", "1" if ON_LOCALSTACK else "3"))
PAYMENTS = int(os.environ.get("PAYGATE_CAMPAIGN_PAYMENTS", "30" if ON_LOCALSTACK else "60"))
# On LocalStack, one path per kind of write: a payment (a transaction), a refund (a reservation on the
# payment), an order (its outbox and the payment side's inbox).
LOCALSTACK_ROUTES = {"POST /v1/payments", "POST /v1/payments/{id}/refunds", "POST /v1/orders"}


def start(state_dir: Path, crash_file: Path | None = None) -> DevProcess:
    env = {**E2E_ENV, **({CRASH_AFTER_ENV: str(crash_file)} if crash_file else {})}
    return DevProcess(state_dir, backend=BACKEND, extra_args=E2E_PARAMETERS, env=env,
                      ready_timeout=180).start()


@pytest.mark.timeout(600)
def test_a_kill_right_after_each_creating_answer_loses_nothing(tmp_path: Path) -> None:
    """For each path: arm the hook, get the 2xx (the process dies right after sending it), start again,
    and the retry with the same key is the first answer, replayed; the object is there."""
    state_dir, crash_file = tmp_path / "state", tmp_path / "crash-after"
    receiver = Receiver()
    dev = start(state_dir, crash_file)
    try:
        # Given a customer with money, a completed payment to refund and a pending one to cancel
        client = Client(dev.info.api_url, dev.info.api_key)
        customer = client.post("/v1/customers", {"name": "Ana"}).json()
        assert client.post(f"/v1/wallets/{customer['wallet_id']}/topups", {"amount": 10_000}).status_code == 201
        paid = client.pay("tok_success", amount=2000)
        pending = client.pay("tok_pending", amount=700)
        client.wait_status(paid["id"], {"COMPLETED"})
        client.wait_status(pending["id"], {"PROCESSING"})
        cases = [
            ("POST /v1/payments", "/v1/payments",
             {"amount": 1234, "currency": "usd", "payment_method": {"type": "card", "token": "tok_success"}}),
            ("POST /v1/payments/{id}/refunds", f"/v1/payments/{paid['id']}/refunds", {"amount": 300}),
            ("POST /v1/payments/{id}/cancel", f"/v1/payments/{pending['id']}/cancel", None),
            ("POST /v1/wallets/{id}/topups", f"/v1/wallets/{customer['wallet_id']}/topups", {"amount": 500}),
            ("POST /v1/customers", "/v1/customers", {"name": "Bea"}),
            ("POST /v1/orders", "/v1/orders", {"customer_id": customer["id"], "amount": 300}),
            ("POST /v1/webhook_endpoints", "/v1/webhook_endpoints", {"url": receiver.url}),
        ]
        if ON_LOCALSTACK:
            cases = [case for case in cases if case[0] in LOCALSTACK_ROUTES]
        for n, (route, path, body) in enumerate(cases):
            # When paygate dev dies in the instant after answering this route
            crash_file.write_text(route + "\n")
            first = client.post(path, body, key=f"crash-{n}")
            assert 200 <= first.status_code < 300, (route, first.text)
            assert dev.process.wait(30) == -signal.SIGKILL, f"{route}: the hook did not kill it"
            crash_file.write_text("")
            dev = start(state_dir, crash_file)
            client = Client(dev.info.api_url, dev.info.api_key)
            # Then the retry with the same key answers the first object, and it is there
            again = client.post(path, body, key=f"crash-{n}")
            assert (again.status_code, again.json()) == (first.status_code, first.json()), route
            assert again.headers.get("Idempotent-Replayed") == "true", route
            location = first.headers.get("Location")
            if location:
                assert client.get(location).json()["id"] == first.json()["id"], route
        # And what was accepted carries on: the refund succeeds, the cancel voids
        wait_for(lambda: client.get(f"/v1/payments/{paid['id']}").json()["amount_refunded"] == 300, 60,
                 "the refund to succeed")
        if not ON_LOCALSTACK:
            client.wait_status(pending["id"], {"CANCELED"})
            charges = httpx.get(f"{dev.info.provider_url}/charges", params={"reference": pending["id"]}).json()
            assert [c["status"] for c in charges["data"]] == ["voided"]
    finally:
        dev.stop()
        receiver.close()


@pytest.mark.timeout(max(300, 120 + KILLS * 40 + PAYMENTS))
def test_kills_at_random_moments_under_load_lose_nothing_and_charge_once(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    campaign = Campaign(lambda: start(state_dir), kills=KILLS, payments=PAYMENTS)
    try:
        report = campaign.run()
        tables = {t.logical_id.removesuffix("Table").lower(): t.name
                  for t in Stack.from_file(ROOT / "template.yaml", parameter_overrides={"Mode": "dev"}).tables()}
        payments, refunds, wallets = stored_invariants(campaign.dev.info, tables)
    finally:
        campaign.stop()
    print(f"crash campaign: {report.kills} kills (restarts {report.restarts_seconds} s), "
          f"{len(report.payments())} payments, {len(report.answered)} answers, {report.retried_after_kill} "
          f"retried through a kill, {report.replays_checked} replays, {report.charges} sandbox charges; "
          f"stored: {payments} payments, {refunds} refunds, {wallets} wallets")
    assert report.problems == []
    assert report.kills == KILLS and len(report.payments()) >= PAYMENTS
