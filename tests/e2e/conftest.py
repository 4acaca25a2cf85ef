"""The whole stack over HTTP: `paygate dev` in its own process, exactly as `make run` starts it.

PAYGATE_E2E_BACKEND picks the AWS backend (default moto; `localstack` for `make test-localstack`).
With `ministack` (`make test-ministack`) there is no `paygate dev`: `paygate ministack` runs MiniStack
and the sandbox provider (as `make ministack` does) and `paygate ministack deploy` deploys template.yaml
into it (as `make deploy-ministack` does), so the functions run inside MiniStack. A test that cannot
apply there is marked ``@pytest.mark.not_on_ministack("why")`` and skipped with that reason.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from gateway_client import Client, new_merchant
from receiver import Receiver

from paygate_local.devfile import GatewayInfo
from paygate_local.devprocess import DevProcess, MiniStackDeployment

# Fewer attempts than production, so "provider stays down" and "endpoint never answers" end within
# seconds (dev mode already compresses the delays between attempts).
E2E_PARAMETERS = ["--parameter", "CommandMaxAttempts=3", "--parameter", "WebhookMaxAttempts=3",
                  "--parameter", "ReconcileAfterSeconds=3"]
# Reconciliation (a once-a-minute schedule) runs every second here, so the suite sees it act.
E2E_ENV = {"PAYGATE_DEV_SCHEDULE_SECONDS": "1"}
BACKEND = os.environ.get("PAYGATE_E2E_BACKEND", "moto")
ROOT = Path(__file__).resolve().parents[2]


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("not_on_ministack")
    if marker is not None and BACKEND == "ministack":
        pytest.skip(f"not on MiniStack: {marker.args[0]}")


# Module scope: the gateway (and with PAYGATE_E2E_BACKEND=localstack, its LocalStack on port 4566)
# is gone before test_restart.py starts gateways of its own, whose LocalStack must be their own too.
@pytest.fixture(scope="session")
def ministack_deployment(tmp_path_factory: pytest.TempPathFactory):
    """One deploy for the whole suite (a minute or more): nothing here restarts it."""
    deployment = MiniStackDeployment(tmp_path_factory.mktemp("paygate-ministack"), E2E_PARAMETERS).start()
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="module")
def dev(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    if BACKEND == "ministack":
        yield request.getfixturevalue("ministack_deployment")
        return
    process = DevProcess(tmp_path_factory.mktemp("paygate-dev"), backend=BACKEND, extra_args=E2E_PARAMETERS,
                         env=E2E_ENV)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def info(dev: DevProcess) -> GatewayInfo:
    return dev.info


@pytest.fixture(scope="module")
def sandbox_client(info: GatewayInfo) -> Client:
    return Client(info.api_url, info.api_key)


@pytest.fixture
def merchant(info: GatewayInfo) -> Client:
    """A fresh merchant per test, so tests never see each other's endpoints or payments."""
    return Client(info.api_url, new_merchant(info, f"test-{uuid.uuid4().hex[:8]}")["api_key"])


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
