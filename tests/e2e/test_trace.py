"""One trace per payment, as `paygate trace` shows it: the spans every function of `paygate dev` (and its
sandbox provider) exported to the state directory's traces file, continued from the `traceparent` the
events and messages carry, with the AWS and HTTP calls as child spans of the maintained instrumentations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from polling import wait_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.not_on_ministack(
    "paygate trace reads a paygate dev's traces file; functions inside MiniStack export nowhere unless an "
    "OTLP endpoint is configured")


def paygate_trace(dev, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paygate_local.cli", "trace", *args, "--state-dir", str(dev.state_dir)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def spans_of(dev, payment_id: str) -> list[dict]:
    done = paygate_trace(dev, payment_id, "--json")
    return json.loads(done.stdout) if done.returncode == 0 else []


def test_a_payment_is_one_trace_across_api_relay_processor_provider_and_webhooks(dev, sandbox_client, receiver):
    sandbox_client.post("/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["payment.completed"]})
    payment = sandbox_client.pay("tok_success")
    sandbox_client.wait_status(payment["id"], {"COMPLETED"}, timeout=60)
    receiver.wait_for(1, timeout=30)

    def complete() -> list[dict]:
        spans = spans_of(dev, payment["id"])
        delivered = [s for s in spans if s["name"] == "webhook.deliver"
                     and any(c["parent_span_id"] == s["span_id"] for c in spans)]
        return spans if delivered and {"api", "relay", "processor", "provider", "webhooks"} <= {
            s["service"] for s in spans} else []

    spans = wait_for(complete, timeout=30, interval=0.5, what="the payment's spans from every service")
    assert {s["trace_id"] for s in spans} == {spans[0]["trace_id"]}  # one trace
    assert all(set(s) >= {"trace_id", "span_id", "parent_span_id", "name", "service", "start", "end", "attributes"}
               for s in spans)
    roots = [s for s in spans if s["parent_span_id"] is None]
    assert [(r["name"], r["service"]) for r in roots] == [("payment.create", "api")]
    ids = {s["span_id"] for s in spans}
    assert all(s["parent_span_id"] in ids for s in spans if s is not roots[0])  # every parent is in the trace
    by_id = {s["span_id"]: s for s in spans}
    # The processor's command span, its provider call (httpx) and the provider's own span under it.
    process = next(s for s in spans if s["name"] == "payment.process")
    assert process["service"] == "processor" and process["attributes"]["payment.id"] == payment["id"]
    charge = next(s for s in spans if s["service"] == "processor" and s["kind"] == "CLIENT"
                  and "/charges" in s["attributes"].get("url.full", s["attributes"].get("http.url", "")))
    assert charge["parent_span_id"] == process["span_id"]
    provider = next(s for s in spans if s["service"] == "provider")
    assert provider["parent_span_id"] == charge["span_id"] and provider["name"] == "POST /charges"
    # AWS calls (botocore) as child spans in the api and the processor.
    aws = [s for s in spans if s["attributes"].get("rpc.system") == "aws-api"]
    assert {by_id[s["parent_span_id"]]["service"] for s in aws} >= {"api", "processor"}
    # The relay's hop and the webhook delivery, with its POST to the merchant's endpoint.
    assert any(s["name"] == "relay.publish" and s["service"] == "relay" for s in spans)
    deliver = next(s for s in spans if s["name"] == "webhook.deliver" and s["service"] == "webhooks")
    post = next(s for s in spans if s["parent_span_id"] == deliver["span_id"])
    assert post["kind"] == "CLIENT" and receiver.url in post["attributes"].get("url.full", post["attributes"].get(
        "http.url", ""))
    assert all(s["start"] <= s["end"] for s in spans)

    waterfall = paygate_trace(dev, payment["id"])
    assert waterfall.returncode == 0, waterfall.stderr
    assert spans[0]["trace_id"] in waterfall.stdout
    for name in ("payment.create", "payment.process", "POST /charges", "webhook.deliver", "relay.publish"):
        assert name in waterfall.stdout


def test_an_unknown_payment_is_a_one_line_error(dev):
    done = paygate_trace(dev, "pay_doesnotexist")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no trace for payment 'pay_doesnotexist'" in done.stderr
