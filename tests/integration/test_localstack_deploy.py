"""localstack/deploy.py against a real CloudFormation: MiniStack's, on 127.0.0.1, without Docker.

``docker compose up`` runs localstack/deploy.py (``sam build``, ``sam deploy``, then its own checks
and a sandbox merchant) against LocalStack in Docker, which CI cannot run. LocalStack's own
CloudFormation in host mode applies the SAM transform and creates the tables, queues, layer and
roles, but not the first function: LocalStack prepares a Lambda by downloading its runtime binary
and pulling a Docker image ("Error while creating lambda: Installation of lambda-runtime ...
failed"). MiniStack's CloudFormation applies the same transform (aws-sam-translator) and runs Python
functions as local processes, so the deployed stack takes a payment here, end to end.

The tools come from localstack/setup-deployer.sh (Python 3.12 venvs: the deployer's pinned
requirements, as in docker compose, and MiniStack's); deploy.py runs on the deployer's Python, as
deploy.sh runs it. Runs with ``make test-localstack`` (PAYGATE_LOCALSTACK=1): there a missing
prerequisite (Python 3.12, PyPI) fails the tests with setup-deployer.sh's own message.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("PAYGATE_LOCALSTACK") != "1":  # one line in `pytest -ra`, not one per test
    pytest.skip("deployer tests against MiniStack: run `make test-localstack` (PAYGATE_LOCALSTACK=1)",
                allow_module_level=True)

import boto3  # noqa: E402
from proc_info import alive, listening_sockets  # noqa: E402

from paygate_local.localstack_host import _descendants, _kill, _signal_group, localstack_home  # noqa: E402
from paygate_local.sandbox import SandboxProvider  # noqa: E402
from paygate_local.template import Stack  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_PY = ROOT / "localstack" / "deploy.py"
SETUP = ROOT / "localstack" / "setup-deployer.sh"
REGION = "us-east-1"

pytestmark = [pytest.mark.localstack, pytest.mark.timeout(900)]  # the first run installs two venvs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_deploy_module():
    spec = importlib.util.spec_from_file_location("paygate_localstack_deploy", DEPLOY_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tools() -> Path:
    """localstack/.state with deployer/ and ministack/ (setup-deployer.sh: quick once done)."""
    result = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.fail(f"{SETUP} could not prepare the deployer and MiniStack ({result.returncode}):\n"
                    f"{result.stderr[-4000:]}", pytrace=False)
    home = localstack_home()
    assert (home / "deployer" / "bin" / "sam").is_file() and (home / "ministack" / "bin" / "ministack").is_file()
    return home


class MiniStack:
    """MiniStack on 127.0.0.1:<free port>, in a process group of its own, its files under ``root``."""

    def __init__(self, venv: Path, root: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = root
        self.log_path = root / "ministack.log"
        self.sockets: set[tuple[str, int]] = set()  # what its process tree listened on, seen at stop()
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ") if k in os.environ}
        env.update({
            "BIND_HOST": "127.0.0.1", "GATEWAY_PORT": str(self.port),
            "MINISTACK_HOST": "127.0.0.1",  # the host in the URLs it hands out (queue URLs...)
            "TMPDIR": str(root / "tmp"),  # its functions' code and its pid file
            "S3_DATA_DIR": str(root / "s3"), "STATE_DIR": str(root / "state"), "PERSIST_STATE": "0",
            "LOG_LEVEL": "INFO",
        })
        (root / "tmp").mkdir(parents=True)
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen([str(venv / "bin" / "ministack")], cwd=root, env=env,
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_ministack/health", timeout=2) as response:
                    if json.loads(response.read()).get("services", {}).get("cloudformation") == "available":
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"MiniStack exited with {self.process.returncode}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"MiniStack did not answer on {self.url} in {timeout:.0f} s\n{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> list[int]:
        """SIGTERM the group (MiniStack ends its function processes), then SIGKILL what is left.
        Returns the pids still alive afterwards (none expected)."""
        tree = _descendants(self.process.pid)
        self.sockets = listening_sockets([self.process.pid, *tree])
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while [pid for pid in tree if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in tree:
            _kill(pid, signal.SIGKILL)
        return [pid for pid in tree if alive(pid)]

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, aws_access_key_id="test",
                            aws_secret_access_key="test")


@pytest.fixture(scope="module")
def ministack(tools: Path, tmp_path_factory: pytest.TempPathFactory):
    server = MiniStack(tools / "ministack", tmp_path_factory.mktemp("ministack"))
    try:
        server.wait_healthy()
        yield server
    finally:
        left = server.stop()
    assert left == [], f"MiniStack left processes behind: {left}"
    assert ("127.0.0.1", server.port) in server.sockets
    assert all(address in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for address, _ in server.sockets), server.sockets


@pytest.fixture(scope="module")
def sandbox():
    with SandboxProvider() as provider:  # 127.0.0.1, a free port; MiniStack's functions are local processes
        yield provider


def run_deploy(tools: Path, ministack: MiniStack, work: Path, *args: str) -> subprocess.CompletedProcess:
    """localstack/deploy.py as docker compose's deployer runs it: on the deployer venv's Python, with
    its ``sam`` first on PATH, against the given endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PAYGATE_"))}
    env["PATH"] = f"{tools / 'deployer' / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["SAM_CLI_TELEMETRY"] = "0"
    command = [str(tools / "deployer" / "bin" / "python"), str(DEPLOY_PY), "--endpoint", ministack.url,
               "--build-dir", str(work / "build"), "--sam-cache-dir", str(work / "sam-cache"), *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def deployed(tools: Path, ministack: MiniStack, sandbox: SandboxProvider, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("deploy")
    stack_name = f"paygate-{uuid.uuid4().hex[:6]}"
    out = work / "deployed.json"
    args = ("--stack-name", stack_name, "--parameter", f"ProviderUrl={sandbox.url}", "--out", str(out))
    began = time.monotonic()
    result = run_deploy(tools, ministack, work, *args)
    assert result.returncode == 0, (f"deploy.py failed ({result.returncode})\n{result.stdout[-6000:]}\n"
                                    f"{result.stderr[-4000:]}\nMiniStack:\n{ministack.log_tail()}")
    return {"result": result, "info": json.loads(out.read_text()), "stack_name": stack_name, "work": work,
            "args": args, "seconds": time.monotonic() - began}


def template_stack() -> Stack:
    return Stack.from_file(ROOT / "template.yaml", parameter_overrides={"Mode": "dev"})


# ------------------------------------------------------------------------------------ the deploy


def test_deploys_the_template_and_finds_every_resource(deployed: dict, ministack: MiniStack):
    stdout = deployed["result"].stdout
    deploy = load_deploy_module()
    expected = deploy.expected_resources(ROOT / "template.yaml")
    summary = re.search(rf"^deploy: stack {deployed['stack_name']} CREATE_COMPLETE: (.*)$", stdout, re.M)
    assert summary, stdout[-3000:]
    reported = dict(re.fullmatch(r"(\w+)(?: \(as (\w+)\))?", part).groups() for part in summary.group(1).split(", "))
    assert set(reported) == set(expected)
    # The layer is there under the name the SAM transform gave it.
    layers = [lid for lid, kind in expected.items() if kind == "AWS::Serverless::LayerVersion"]
    assert layers and all(re.fullmatch(rf"{lid}[0-9a-f]{{10}}", reported[lid] or "") for lid in layers), reported

    info = deployed["info"]
    resources = {r["LogicalResourceId"]: r for r in ministack.client("cloudformation").describe_stack_resources(
        StackName=deployed["stack_name"])["StackResources"]}
    functions = {f.logical_id for f in template_stack().functions()}
    assert set(info["functions"]) == functions
    deployed_functions = {f["FunctionName"]: f for f in ministack.client("lambda").list_functions()["Functions"]}
    for lid, name in info["functions"].items():
        assert resources[lid]["PhysicalResourceId"] == name
        assert deployed_functions[name]["Runtime"] == template_stack().function(lid).runtime
    assert info["merchants_table"] in ministack.client("dynamodb").list_tables()["TableNames"]
    assert info["api_url"] == f"{ministack.url}/_aws/execute-api/{info['rest_api_id']}/Prod"
    assert info["api_key"].startswith("sk_test_") and info["api_key"] in stdout
    assert (info["region"], info["stack_name"], info["aws_endpoint_url"]) == (REGION, deployed["stack_name"],
                                                                            ministack.url)


def _call(info: dict, method: str, path: str, body: dict | None = None, **headers: str) -> tuple[int, dict]:
    request = urllib.request.Request(info["api_url"] + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {info['api_key']}",
                                              "Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_the_deployed_stack_takes_a_payment_to_completed(deployed: dict, sandbox: SandboxProvider,
                                                         ministack: MiniStack):
    info = deployed["info"]
    assert _call(info, "GET", "/health") == (200, {"status": "ok"})
    status, listed = _call(info, "GET", "/v1/payments")
    assert status == 200 and listed["data"] == [], listed  # the sandbox merchant's key is accepted

    status, payment = _call(info, "POST", "/v1/payments", {"amount": 1050, "currency": "usd",
                                                           "payment_method": {"type": "card", "token": "tok_success"}},
                            **{"Idempotency-Key": f"deploy-test-{uuid.uuid4().hex}"})
    assert status == 202 and payment["status"] == "NEW", payment
    deadline = time.monotonic() + 60  # the stream, the queue and the provider: seconds under MiniStack
    while True:
        status, current = _call(info, "GET", f"/v1/payments/{payment['id']}")
        if current.get("status") in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert current.get("status") == "COMPLETED", f"{current}\nMiniStack:\n{ministack.log_tail()}"
    assert [c["amount"] for c in sandbox.charges_for(payment["id"])] == [1050]


def test_deploying_again_changes_nothing_and_gives_a_new_merchant(deployed: dict, tools: Path,
                                                                  ministack: MiniStack):
    out = deployed["work"] / "deployed.json"
    result = run_deploy(tools, ministack, deployed["work"], *deployed["args"])
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert "No changes to deploy" in result.stdout
    again = json.loads(out.read_text())
    assert again["rest_api_id"] == deployed["info"]["rest_api_id"]
    assert again["functions"] == deployed["info"]["functions"]
    assert again["api_key"] != deployed["info"]["api_key"]
    status, _ = _call(again, "GET", "/v1/payments")
    assert status == 200


# ------------------------------------------------------------------------------------ its checks


def test_a_stack_without_an_expected_resource_is_refused(deployed: dict, ministack: MiniStack):
    deploy = load_deploy_module()
    expected = {**deploy.expected_resources(ROOT / "template.yaml"), "ExtraQueue": "AWS::SQS::Queue"}
    with pytest.raises(SystemExit, match=r"not deployed: ExtraQueue \(AWS::SQS::Queue\)"):
        deploy.check_stack(ministack.client("cloudformation"), deployed["stack_name"], expected, timeout=10)


def test_a_failed_stack_is_reported_with_its_reasons_then_cleared(ministack: MiniStack):
    deploy = load_deploy_module()
    cloudformation = ministack.client("cloudformation")
    name = f"broken-{uuid.uuid4().hex[:6]}"
    # A FIFO queue must be named *.fifo: CloudFormation fails the resource and rolls the stack back.
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": {
        "Jobs": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-jobs", "FifoQueue": True}}}}))
    with pytest.raises(SystemExit) as failed:
        deploy.check_stack(cloudformation, name, {"Jobs": "AWS::SQS::Queue"}, timeout=60)
    assert re.search(rf"stack {name} is ROLLBACK_COMPLETE(.|\n)*Jobs: CREATE_FAILED .*\.fifo", str(failed.value))
    deploy.clear_failed_stack(cloudformation, name, timeout=60)  # what a later deploy does first
    live = [s["StackName"] for s in cloudformation.list_stacks()["StackSummaries"]
            if s["StackStatus"] != "DELETE_COMPLETE"]
    assert name not in live
