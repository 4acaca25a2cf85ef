"""`paygate listen` and `paygate pay` against a running gateway, as a developer uses them from a terminal:
real processes, real HTTP, real Standard Webhooks signatures."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from polling import wait_for
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "paygate_local.cli", *args]


class Lines:
    """A process's stdout lines, read as they come without blocking."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process, self.lines, self._buffer = process, [], ""

    def __call__(self) -> list[str]:
        while select.select([self.process.stdout], [], [], 0)[0]:
            chunk = os.read(self.process.stdout.fileno(), 65536).decode()
            if not chunk:
                break
            self._buffer += chunk
            *complete, self._buffer = self._buffer.split("\n")
            self.lines.extend(complete)
        return self.lines

    def json(self) -> list[dict]:
        return [json.loads(line) for line in self() if line.startswith("{")]


@pytest.fixture
def listen(dev):
    started: list[subprocess.Popen] = []

    def start(*args: str) -> tuple[subprocess.Popen, Lines]:
        process = subprocess.Popen(cli("listen", "--json", "--state-dir", str(dev.state_dir), *args), cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(process)
        lines = Lines(process)
        wait_for(lambda: any(d.get("ready") for d in lines.json()) or process.poll() is not None, timeout=60,
                 interval=0.1, what="paygate listen to be ready")
        assert process.poll() is None, process.stderr.read()
        return process, lines

    yield start
    for process in started:  # ours, by pid: stopped if a test left it running
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)


def endpoint_ids(client) -> set[str]:
    return {e["id"] for e in client.get("/v1/webhook_endpoints").json()["data"]}


def test_listen_receives_and_verifies_a_payments_events_forwards_them_and_cleans_up(dev, sandbox_client, listen,
                                                                                      receiver):
    process, lines = listen("--max-events", "3", "--forward-to", receiver.url,
                            "--events", "payment.created,payment.processing,payment.completed")
    ready = next(d for d in lines.json() if d.get("ready"))
    assert ready["endpoint_id"] in endpoint_ids(sandbox_client)
    assert ready["url"].startswith("http://127.0.0.1:")

    payment = sandbox_client.pay("tok_success")
    assert process.wait(timeout=60) == 0  # --max-events 3 reached
    events = [d for d in lines.json() if "type" in d]
    assert [(e["type"], e["object_id"], e["verified"], e["forwarded"]) for e in events] == [
        ("payment.created", payment["id"], True, 200),
        ("payment.processing", payment["id"], True, 200),
        ("payment.completed", payment["id"], True, 200)]
    # The forward target got the same bodies with the gateway's headers: valid signatures there too.
    forwarded = receiver.received
    assert [json.loads(body)["type"] for body, _, _ in forwarded] == [e["type"] for e in events]
    assert all(headers["webhook-id"] == e["id"] and headers["webhook-signature"].startswith("v1,")
               for (_, headers, _), e in zip(forwarded, events, strict=True))
    assert ready["endpoint_id"] not in endpoint_ids(sandbox_client)  # removed on exit


def test_a_forged_webhook_is_reported_not_verified_and_answered_400(dev, listen):
    process, lines = listen()
    ready = next(d for d in lines.json() if d.get("ready"))
    forged_body = json.dumps({"type": "payment.completed", "data": {"object": {"id": "pay_forged",
                                                                                "status": "COMPLETED"}}})
    now = datetime.now(timezone.utc)
    signature = Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").sign("msg_forged", now, forged_body)  # a wrong key
    answer = httpx.post(ready["url"], content=forged_body, timeout=10, headers={
        "webhook-id": "msg_forged", "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature, "content-type": "application/json"})
    assert answer.status_code == 400
    forged = wait_for(lambda: [d for d in lines.json() if d.get("id") == "msg_forged"], timeout=10, interval=0.1,
                      what="the forged webhook to be printed")
    assert forged[0]["verified"] is False and forged[0]["object_id"] == "pay_forged"
    assert "signature" in forged[0]["error"]
    process.terminate()  # SIGTERM: a clean stop, the endpoint removed
    assert process.wait(timeout=30) == 0


def test_listen_refuses_to_forward_off_this_machine(dev):
    done = subprocess.run(cli("listen", "--state-dir", str(dev.state_dir), "--forward-to", "http://example.com/x"),
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "--forward-to must be an http(s) URL on this machine" in done.stderr


def test_pay_follows_a_payment_to_its_end(dev):
    def pay(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(cli("pay", "--state-dir", str(dev.state_dir), *args), capture_output=True, text=True,
                              timeout=120, cwd=ROOT)

    approved = pay("--amount", "1050", "--token", "tok_success")
    assert approved.returncode == 0, approved.stderr
    assert "payment.completed" in approved.stdout and approved.stdout.strip().endswith("COMPLETED")
    declined = pay("--amount", "1050", "--token", "tok_decline")
    assert declined.returncode == 1
    assert "payment.failed" in declined.stdout and "FAILED (card_declined" in declined.stdout
    bad = pay("--amount", "-5")
    assert bad.returncode == 2 and bad.stdout == ""
    assert "paygate pay: the gateway refused the payment: 400 parameter_invalid" in bad.stderr
    assert "Traceback" not in bad.stderr
