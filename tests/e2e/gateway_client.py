"""A client of the gateway's HTTP API for the e2e tests, and ways to make merchants."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import httpx
from polling import wait_for

from paygate_local.devfile import GatewayInfo
from paygate_local.devprocess import DevProcess


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


def create_merchant(dev: DevProcess, name: str) -> dict[str, str]:
    """Through the documented command: `paygate merchants create --name NAME --state-dir DIR`, or for a
    deployed stack (MiniStack) `paygate merchants create --name NAME --endpoint URL --stack-name NAME`."""
    info = dev.info
    where = (["--endpoint", info.aws_endpoint_url, "--stack-name", info.stack_name]
             if info.backend == "ministack" else ["--state-dir", str(dev.state_dir)])
    result = subprocess.run([sys.executable, "-m", "paygate_local.cli", "merchants", "create", "--name", name,
                             *where], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def new_merchant(info: GatewayInfo, name: str) -> dict[str, str]:
    """In-process, against the running backend: the same code `paygate merchants create` runs."""
    from paygate_local.merchants import create_merchant as create

    return create(name, merchants_table=info.merchants_table, endpoint=info.aws_endpoint_url,
                  region=info.region)


