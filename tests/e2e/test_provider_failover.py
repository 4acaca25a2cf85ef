"""Providers over HTTP on `paygate dev` (every backend): sandbox-b beside the sandbox, each switched
down and up at run time, a payment failing over with its attempts, routing rules by currency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from polling import wait_for


@pytest.fixture
def providers(info):
    urls = info.providers if info.backend != "ministack" else {}
    if "sandbox-b" not in urls:
        pytest.skip("this deployment runs no sandbox-b (MiniStack's has the sandbox alone)")
    yield urls
    for url in urls.values():  # whatever a test switched down is up again for the next
        httpx.post(f"{url}/_control/up")


def charges(url: str, reference: str) -> int:
    return httpx.get(f"{url}/charges", params={"reference": reference}).json()["count"]


def test_a_payment_fails_over_to_sandbox_b_when_sandbox_is_down(merchant, providers):
    assert merchant.http.put("/v1/routing", json={"default": ["sandbox", "sandbox-b"]}).status_code == 200
    assert httpx.post(f"{providers['sandbox']}/_control/down").json() == {"status": "down"}
    payment = merchant.pay("tok_success")
    done = merchant.wait_status(payment["id"], {"COMPLETED", "FAILED"})
    httpx.post(f"{providers['sandbox']}/_control/up")
    assert done["status"] == "COMPLETED" and done["provider"] == "sandbox-b"
    assert [(a["provider"], a["status"]) for a in done["attempts"]] == [("sandbox", "failed"), ("sandbox-b", "succeeded")]
    assert charges(providers["sandbox"], payment["id"]) == 0
    assert charges(providers["sandbox-b"], f"{payment['id']}_2") == 1
    events = merchant.get(f"/v1/payments/{payment['id']}/events").json()["data"]
    assert [e["type"] for e in events][:3] == ["payment.created", "payment.processing", "payment.attempt_failed"]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))


def test_rules_by_currency_choose_the_provider(merchant, providers):
    routing = {"rules": [{"if": {"currency": "EUR"}, "providers": ["sandbox-b"]}], "default": ["sandbox"]}
    assert merchant.http.put("/v1/routing", json=routing).status_code == 200
    eur, usd = merchant.pay(currency="EUR"), merchant.pay(currency="USD")
    assert merchant.wait_status(eur["id"], {"COMPLETED"})["provider"] == "sandbox-b"
    assert merchant.wait_status(usd["id"], {"COMPLETED"})["provider"] == "sandbox"
    assert charges(providers["sandbox-b"], eur["id"]) == 1 and charges(providers["sandbox"], eur["id"]) == 0


def test_paygate_trace_shows_each_attempt(dev, merchant, providers):
    assert merchant.http.put("/v1/routing", json={"default": ["sandbox", "sandbox-b"]}).status_code == 200
    httpx.post(f"{providers['sandbox']}/_control/down")
    payment = merchant.pay("tok_success")
    merchant.wait_status(payment["id"], {"COMPLETED"})
    httpx.post(f"{providers['sandbox']}/_control/up")
    paygate = Path(sys.executable).parent / "paygate"

    def attempts():
        out = subprocess.run([str(paygate), "trace", payment["id"], "--state-dir", str(dev.state_dir), "--json"],
                             capture_output=True, text=True, check=False)
        spans = json.loads(out.stdout) if out.returncode == 0 else []
        return sorted((s["attributes"]["provider"], s["attributes"]["reference"]) for s in spans
                      if s["name"].startswith("provider.attempt"))

    wait_for(lambda: len(attempts()) == 2, 30, "both attempts in the trace")
    assert attempts() == [("sandbox", payment["id"]), ("sandbox-b", f"{payment['id']}_2")]
