"""The documented ten-line webhook receiver works: it accepts what the gateway signs, and refuses a
forged body, a wrong secret and a stale timestamp. The block is taken from docs/webhooks.md as it is."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from polling import wait_for

from paygate.domain.webhooks import sign

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_" + base64.b64encode(b"a secret of the readme receiver!").decode()


def readme_receiver() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "webhooks.md").read_text(), re.S)
    [block] = [b for b in blocks if "class Hooks" in b]
    return block


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def receiver(tmp_path: Path):
    script = tmp_path / "receiver.py"
    script.write_text(readme_receiver())
    port = free_port()
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "WEBHOOK_SECRET": SECRET, "PORT": str(port)})
    url = f"http://127.0.0.1:{port}/hooks"

    def listening() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return process.poll() is not None  # stop waiting: the assertion below says why
    try:
        wait_for(listening, 20, "the README's receiver to listen")
        assert process.poll() is None, "the README's receiver exited"
        yield url, process
    finally:
        process.kill()
        process.wait(10)


def post(url: str, body: str, headers: dict[str, str]) -> int:
    return httpx.post(url, content=body, headers={**headers, "content-type": "application/json"}).status_code


def test_the_readme_receiver_accepts_a_signed_webhook_and_refuses_forgeries(receiver) -> None:
    url, process = receiver
    body = json.dumps({"id": "evt_1", "type": "payment.completed", "created_at": "2026-11-23T00:00:00Z",
                       "data": {"object": {"id": "pay_1"}}})
    now = int(time.time())
    assert post(url, body, sign(SECRET, "evt_1", now, body)) == 204
    assert post(url, body.replace("pay_1", "pay_2"), sign(SECRET, "evt_1", now, body)) == 400
    other = "whsec_" + base64.b64encode(b"another secret, not the endpoint's").decode()
    assert post(url, body, sign(other, "evt_1", now, body)) == 400
    assert post(url, body, sign(SECRET, "evt_1", now - 3600, body)) == 400
    # after a secret rotation the gateway sends two signatures: either one verifying is enough
    both = sign(SECRET, "evt_1", now, body)
    both["webhook-signature"] = sign(other, "evt_1", now, body)["webhook-signature"] + " " + both["webhook-signature"]
    assert post(url, body, both) == 204
    # The receiver prints after it has answered: read its two lines (each flushed) before it is stopped,
    # or the kill can come between the answer and the print.
    printed = [process.stdout.readline().rstrip("\n") for _ in range(2)]
    assert printed == ["payment.completed pay_1", "payment.completed pay_1"]
