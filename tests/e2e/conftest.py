"""The whole stack over HTTP: `paygate dev` in its own process, exactly as `make run` starts it.

PAYGATE_E2E_BACKEND picks the AWS backend (default moto; `localstack` for `make test-localstack`).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from gateway_client import Client, new_merchant
from receiver import Receiver

from paygate_local.devprocess import DevProcess

# Fewer attempts than production, so "provider stays down" and "endpoint never answers" end within
# seconds (dev mode already compresses the delays between attempts).
E2E_PARAMETERS = ["--parameter", "CommandMaxAttempts=3", "--parameter", "WebhookMaxAttempts=3",
                  "--parameter", "ReconcileAfterSeconds=3"]
# Reconciliation (a once-a-minute schedule) runs every second here, so the suite sees it act.
E2E_ENV = {"PAYGATE_DEV_SCHEDULE_SECONDS": "1"}


# Module scope: the gateway (and with PAYGATE_E2E_BACKEND=localstack, its LocalStack on port 4566)
# is gone before test_restart.py starts gateways of its own, whose LocalStack must be their own too.
@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory):
    state_dir = tmp_path_factory.mktemp("paygate-dev")
    backend = os.environ.get("PAYGATE_E2E_BACKEND", "moto")
    process = DevProcess(state_dir, backend=backend, extra_args=E2E_PARAMETERS, env=E2E_ENV)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def info(dev: DevProcess) -> dict[str, Any]:
    return dev.info


@pytest.fixture(scope="module")
def sandbox_client(info: dict[str, Any]) -> Client:
    return Client(info["api_url"], info["api_key"])


@pytest.fixture
def merchant(info: dict[str, Any]) -> Client:
    """A fresh merchant per test, so tests never see each other's endpoints or payments."""
    return Client(info["api_url"], new_merchant(info, f"test-{uuid.uuid4().hex[:8]}")["api_key"])


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
