"""A restart of `paygate dev` on the same state directory carries on: after a stop (SIGTERM) and after
a crash (SIGKILL once a checkpoint is saved), the merchants, keys, payments and endpoints are there,
and every payment accepted before finishes with exactly one charge and its webhook."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import E2E_PARAMETERS
from gateway_client import Client, create_merchant
from polling import wait_for
from receiver import Receiver

from paygate_local.devprocess import DevProcess

PAYMENTS = 30
pytestmark = pytest.mark.not_on_ministack("restarts paygate dev on its state directory")


def checkpoint_time(state_dir: Path) -> float:
    """When the last checkpoint was saved (0 before any): read from the state file, as a restart would."""
    try:
        with sqlite3.connect(state_dir / "state.db") as db:
            row = db.execute("SELECT value FROM meta WHERE name = 'checkpoint.at'").fetchone()
    except sqlite3.Error:
        return 0.0
    return json.loads(row[0]) if row else 0.0


def log_lines(state_dir: Path, needles: set[str], per_file: int = 40) -> str:
    """What the function and runtime logs say about some ids (for a failure's message)."""
    out = []
    for log in sorted((state_dir / "logs").glob("*.log")):
        lines = [line for line in log.read_text(errors="replace").splitlines() if any(n in line for n in needles)]
        out += [f"== {log.name}", *lines[-per_file:]]
    return "\n".join(out)


def start(state_dir: Path, *extra: str) -> DevProcess:
    backend = os.environ.get("PAYGATE_E2E_BACKEND", "moto")
    return DevProcess(state_dir, backend=backend, extra_args=[*E2E_PARAMETERS, *extra]).start()


def accept_payments(client: Client) -> list[str]:
    ids = []
    for n in range(PAYMENTS):
        response = client.post("/v1/payments", {"amount": 100 + n, "currency": "eur",
                                                "payment_method": {"type": "card", "token": "tok_success"}},
                               key=f"restart-{n}")
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


def charges(info: dict, payment_id: str) -> int:
    return httpx.get(f"{info.provider_url}/charges", params={"reference": payment_id}).json()["count"]


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_restart_carries_on_with_everything_accepted(tmp_path: Path, how: str) -> None:
    state_dir = tmp_path / "state"
    receiver = Receiver()
    first = start(state_dir)
    try:
        # Given a merchant of its own, an endpoint, and 30 payments just accepted
        merchant = create_merchant(first, "restart")
        client = Client(first.info.api_url, merchant["api_key"])
        endpoint = client.post("/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["payment.completed"]})
        assert endpoint.status_code == 201, endpoint.text
        ids = accept_payments(client)
        accepted_at = time.time()
        # When paygate dev is stopped (SIGTERM) or killed once a checkpoint holds them (SIGKILL)
        if how == "SIGKILL":
            wait_for(lambda: checkpoint_time(state_dir) > accepted_at, 30, "a checkpoint after the last payment")
            first.process.send_signal(signal.SIGKILL)
        else:
            first.process.send_signal(signal.SIGTERM)
        try:
            first.process.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"paygate dev did not stop within 60 s of {how}:\n{first.log_path.read_text(errors='replace')[-30000:]}")
    finally:
        first.stop()
    second = start(state_dir)
    try:
        # Then the sandbox merchant's key and the other merchant's key still work, on the same ports
        assert second.info.api_key == first.info.api_key
        assert second.info.merchant_id == first.info.merchant_id
        assert second.info.provider_url == first.info.provider_url
        client = Client(second.info.api_url, merchant["api_key"])
        assert Client(second.info.api_url, second.info.api_key).get("/v1/payments").status_code == 200
        assert [e["id"] for e in client.get("/v1/webhook_endpoints").json()["data"]] == [endpoint.json()["id"]]
        # every payment is there, and all reach COMPLETED with exactly one charge and their webhook
        for payment_id in ids:
            assert client.wait_status(payment_id, {"COMPLETED"}, timeout=120)["status"] == "COMPLETED"
            assert charges(second.info, payment_id) == 1
        try:
            wait_for(lambda: {e["data"]["object"]["id"] for e, _, _ in receiver.events("payment.completed")} >= set(ids),
                     60, "a payment.completed webhook for each of the 30")
        except AssertionError as exc:
            missing = set(ids) - {e["data"]["object"]["id"] for e, _, _ in receiver.events("payment.completed")}
            needles = missing | {e["id"] for m in missing for e in client.get(f"/v1/payments/{m}/events").json()["data"]}
            raise AssertionError(f"{exc}: missing {sorted(missing)}\n{log_lines(state_dir, needles)}") from None
        # and a replay of a request accepted before the restart is the same payment
        again = client.post("/v1/payments", {"amount": 100, "currency": "eur",
                                             "payment_method": {"type": "card", "token": "tok_success"}},
                            key="restart-0")
        assert again.status_code == 202 and again.json()["id"] == ids[0]
    finally:
        second.stop()
        receiver.close()


def test_reset_starts_clean(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = start(state_dir)
    try:
        payment = Client(first.info.api_url, first.info.api_key).pay("tok_success")
        wait_for(lambda: checkpoint_time(state_dir) > 0, 30, "a checkpoint")
    finally:
        first.stop()
    second = start(state_dir, "--reset")
    try:
        assert second.info.api_key != first.info.api_key
        old = Client(second.info.api_url, first.info.api_key)
        assert old.get(f"/v1/payments/{payment['id']}").status_code == 401
        fresh = Client(second.info.api_url, second.info.api_key)
        assert fresh.get(f"/v1/payments/{payment['id']}").status_code == 404
    finally:
        second.stop()
