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
deploy.sh runs it. Runs with ``make test-ministack`` (PAYGATE_MINISTACK=1): there a missing
prerequisite (Python 3.12, PyPI) fails the tests with setup-deployer.sh's own message. The e2e suite
then runs against the same deploy made by ``paygate ministack deploy`` (tests/e2e/conftest.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("PAYGATE_MINISTACK") != "1":  # one line in `pytest -ra`, not one per test
    pytest.skip("deployer tests against MiniStack: run `make test-ministack` (PAYGATE_MINISTACK=1)",
                allow_module_level=True)

import boto3  # noqa: E402
from proc_info import alive, listening_sockets  # noqa: E402

from paygate_local.backends.localstack_setup import localstack_home  # noqa: E402
from paygate_local.backends.ministack import MiniStackHost  # noqa: E402
from paygate_local.backends.processes import descendants  # noqa: E402
from paygate_local.devprocess import free_port  # noqa: E402
from paygate_local.template import Stack  # noqa: E402
from sandbox_provider import SandboxProvider  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_PY = ROOT / "localstack" / "deploy.py"
SETUP = ROOT / "localstack" / "setup-deployer.sh"
REGION = "us-east-1"

pytestmark = [pytest.mark.ministack, pytest.mark.timeout(900)]  # the first run installs two venvs


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


class MiniStack(MiniStackHost):
    """MiniStack on 127.0.0.1:<free port>, its files under ``root``; ``stop()`` notes what its process
    tree listened on (``sockets``) and returns the pids of that tree still alive afterwards."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, free_port())
        self.sockets: set[tuple[str, int]] = set()

    def stop(self, timeout: float = 20.0) -> list[int]:
        if self.process is None:
            return []
        tree = descendants(self.process.pid)
        self.sockets = listening_sockets([self.process.pid, *tree])
        super().stop(timeout)
        return [pid for pid in tree if alive(pid)]

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, aws_access_key_id="test",
                            aws_secret_access_key="test")


@pytest.fixture(scope="module")
def ministack(tools: Path, tmp_path_factory: pytest.TempPathFactory):
    server = MiniStack(tmp_path_factory.mktemp("ministack"))
    try:
        server.start()
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


# ------------------------------------------------------------------------------------ deploy.py fails


def write_template(path: Path, resources: dict, outputs: dict | None = None) -> Path:
    # Mode: deploy.py deploys with Mode=dev, as docker compose does.
    path.write_text(json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources,
                                "Parameters": {"Mode": {"Type": "String", "Default": "prod"}},
                                **({"Outputs": outputs} if outputs else {})}))
    return path


def test_a_template_that_cloudformation_refuses_fails_the_deploy_then_the_next_deploy_clears_it(
        tools: Path, ministack: MiniStack, tmp_path: Path):
    """deploy.py end to end, on the way docker compose's deployer runs it: CloudFormation fails a resource
    (a FIFO queue must be named *.fifo), so `sam deploy` fails and so does deploy.py, with the reason
    shown; the stack is left ROLLBACK_COMPLETE, and the next deploy under that name deletes it first."""
    name = f"broken-{uuid.uuid4().hex[:6]}"
    broken = write_template(tmp_path / "broken.json", {"Jobs": {"Type": "AWS::SQS::Queue", "Properties": {
        "QueueName": f"{name}-jobs", "FifoQueue": True}}})
    failed = run_deploy(tools, ministack, tmp_path, "--template", str(broken), "--skip-build", "--stack-name", name)
    assert failed.returncode != 0
    said = failed.stdout + failed.stderr
    assert "deploy: `" in said and "failed" in said and "paygate is deployed" not in said, said[-4000:]
    assert re.search(rf"deploy: `sam deploy` failed \(1\); see above\n  the stack {name} is ROLLBACK_COMPLETE; "
                     r"its latest events:\n(.|\n)*  Jobs: CREATE_FAILED .*\.fifo", failed.stderr), failed.stderr[-4000:]
    cloudformation = ministack.client("cloudformation")
    assert cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"

    fixed = write_template(tmp_path / "fixed.json", {
        "Jobs": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-jobs.fifo", "FifoQueue": True}},
        "MerchantsTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "BillingMode": "PAY_PER_REQUEST", "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]}},
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": f"{name}-api"}}},
        {"MerchantsTableName": {"Value": {"Ref": "MerchantsTable"}}})
    out = tmp_path / "fixed-out.json"
    done = run_deploy(tools, ministack, tmp_path, "--template", str(fixed), "--skip-build", "--stack-name", name,
                      "--out", str(out))
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert f"stack {name} is ROLLBACK_COMPLETE from an earlier attempt; deleting it" in done.stdout
    assert f"deploy: stack {name} CREATE_COMPLETE: Jobs, MerchantsTable" in done.stdout
    assert json.loads(out.read_text())["api_key"].startswith("sk_test_")


def test_a_stack_without_the_merchants_table_output_is_refused(tools: Path, ministack: MiniStack, tmp_path: Path):
    name = f"nooutput-{uuid.uuid4().hex[:6]}"
    template = write_template(tmp_path / "queue.json", {"Jobs": {"Type": "AWS::SQS::Queue"},
                                                        "Api": {"Type": "AWS::ApiGateway::RestApi",
                                                                "Properties": {"Name": f"{name}-api"}}})
    result = run_deploy(tools, ministack, tmp_path, "--template", str(template), "--skip-build", "--stack-name", name)
    assert result.returncode == 1
    assert f"deploy: stack {name} has no output MerchantsTableName" in result.stderr, result.stderr[-3000:]


# ------------------------------------------------------------------------------------ paygate merchants create


def paygate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paygate_local.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_merchants_create_finds_the_deployed_stacks_table_by_its_endpoint(deployed: dict, ministack: MiniStack):
    made = paygate("merchants", "create", "--name", "acme", "--endpoint", ministack.url,
                   "--stack-name", deployed["stack_name"])
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    assert created["merchant_id"].startswith("mer_") and created["api_key"].startswith("sk_test_")
    status, listed = _call({**deployed["info"], "api_key": created["api_key"]}, "GET", "/v1/payments")
    assert (status, listed["data"]) == (200, [])
    missing = paygate("merchants", "create", "--name", "acme", "--endpoint", ministack.url, "--stack-name", "nope")
    assert missing.returncode == 2 and "no stack nope with an output MerchantsTableName" in missing.stderr


# ------------------------------------------------------------------------------------ paygate ministack


def test_paygate_ministack_serves_on_loopback_and_stops_everything_on_sigterm(tools: Path, tmp_path: Path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "paygate_local.cli", "ministack", "--port", str(port),
                                "--state-dir", str(tmp_path)], cwd=ROOT, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server_file = tmp_path / "ministack" / "server.json"
    try:
        deadline = time.monotonic() + 60
        while not server_file.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server_file.exists(), process.communicate(timeout=30)[0] if process.poll() is not None else "no server.json"
        server = json.loads(server_file.read_text())
        assert server["aws_endpoint_url"] == f"http://127.0.0.1:{port}" and server["pid"] == process.pid
        with urllib.request.urlopen(f"{server['provider_url']}/health", timeout=5) as answer:
            assert json.loads(answer.read()) == {"status": "ok"}
        tree = descendants(process.pid)
        assert server["ministack_pid"] in tree
        sockets = listening_sockets([process.pid, *tree])
        assert ("127.0.0.1", port) in sockets
        assert all(address in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for address, _ in sockets), sockets
        # A deploy with nothing there says what to do first.
        other = paygate("ministack", "deploy", "--state-dir", str(tmp_path / "elsewhere"))
        assert other.returncode == 2 and "start MiniStack first" in other.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert "MiniStack is ready" in output and "stopping" in output
    left = [pid for pid in tree if alive(pid)]
    assert left == [] and not server_file.exists(), left
