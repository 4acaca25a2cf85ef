"""The whole stack over HTTP: `paygate dev` in its own process, exactly as `make run` starts it.

PAYGATE_E2E_BACKEND picks the AWS backend (default moto; `localstack` for `make test-localstack`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from paygate_local.devprocess import DevProcess

# Fewer command attempts than production, so "provider stays down" ends within seconds.
E2E_PARAMETERS = ["--parameter", "CommandMaxAttempts=3"]


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory):
    state_dir = tmp_path_factory.mktemp("paygate-dev")
    backend = os.environ.get("PAYGATE_E2E_BACKEND", "moto")
    process = DevProcess(state_dir, backend=backend, extra_args=E2E_PARAMETERS)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def info(dev: DevProcess) -> dict[str, Any]:
    return dev.info


class Client:
    def __init__(self, base_url: str, api_key: str | None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def post(self, path: str, body: Any = None, *, key: str | None = "auto", **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if key == "auto":
            key = uuid.uuid4().hex
        if key is not None:
            headers["Idempotency-Key"] = key
        if body is not None and "content" not in kwargs:
            kwargs["json"] = body
        return self.http.post(path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(path)

    def pay(self, token: str = "tok_success", amount: int = 1000, currency: str = "USD", **kwargs: Any) -> dict:
        response = self.post("/v1/payments", {"amount": amount, "currency": currency,
                                              "payment_method": {"type": "card", "token": token}}, **kwargs)
        assert response.status_code == 202, response.text
        return response.json()

    def wait_status(self, payment_id: str, statuses: set[str], timeout: float = 60) -> dict:
        found: dict = {}

        def done() -> bool:
            nonlocal found
            found = self.get(f"/v1/payments/{payment_id}").json()
            return found.get("status") in statuses
        wait_for(done, timeout, f"payment {payment_id} to reach {statuses}")
        return found


def wait_for(predicate: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def create_merchant(dev: DevProcess, name: str) -> dict[str, str]:
    """Through the documented command: `paygate merchants create --name NAME --state-dir DIR`."""
    result = subprocess.run([sys.executable, "-m", "paygate_local.cli", "merchants", "create", "--name", name,
                             "--state-dir", str(dev.state_dir)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def sandbox_client(info: dict[str, Any]) -> Client:
    return Client(info["api_url"], info["api_key"])


def new_merchant(info: dict[str, Any], name: str) -> dict[str, str]:
    """In-process, against the running backend: the same code `paygate merchants create` runs."""
    from paygate_local.cli import create_merchant as create

    return create(name, merchants_table=info["merchants_table"], endpoint=info["aws_endpoint_url"],
                  region=info.get("region", "us-east-1"))


@pytest.fixture
def merchant(info: dict[str, Any]) -> Client:
    """A fresh merchant per test, so tests never see each other's endpoints or payments."""
    return Client(info["api_url"], new_merchant(info, f"test-{uuid.uuid4().hex[:8]}")["api_key"])


class Receiver:
    """A merchant's webhook endpoint on 127.0.0.1, answering from a script of status codes."""

    def __init__(self, statuses: tuple[int, ...] = (200,)) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[str, dict[str, str], float]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with receiver.lock:
                    receiver.received.append((body, {k.lower(): v for k, v in self.headers.items()}, time.time()))
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, event_type: str | None = None) -> list[tuple[dict, dict[str, str], str]]:
        with self.lock:
            items = list(self.received)
        parsed = [(json.loads(body), headers, body) for body, headers, _ in items]
        return [p for p in parsed if event_type is None or p[0]["type"] == event_type]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def make_receiver():
    made: list[Receiver] = []

    def make(statuses: tuple[int, ...]) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]
    yield make
    for r in made:
        r.close()
