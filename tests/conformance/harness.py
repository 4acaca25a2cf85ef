"""The conformance suite's harness: the stack deployed on one backend (``deploy``), and what its probes saw."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest
from boto3.dynamodb.conditions import Key

ROOT = Path(__file__).resolve().parents[2]
STACK = Path(__file__).resolve().parent / "stack" / "template.yaml"
BACKEND = os.environ.get("PAYGATE_CONFORMANCE_BACKEND", "moto")
BACKENDS = ("moto", "localstack", "ministack")
# AWS's timeouts, shrunk where the backend lets us (MiniStack runs the template as AWS would: AWS's bounds).
PARAMETERS = {
    "moto": {"ProbeTimeout": "2", "Visibility": "2", "BatchWindow": "1", "MaxRecordAge": "3"},
    "localstack": {"ProbeTimeout": "2", "Visibility": "2", "BatchWindow": "1", "MaxRecordAge": "3"},
    "ministack": {"ProbeTimeout": "2", "Visibility": "2", "BatchWindow": "1", "MaxRecordAge": "60"},
}
INTEGRATION_TIMEOUT = 3.0  # the local API Gateway's, for the suite (AWS: 29 s)


def differs(**backends: str) -> pytest.MarkDecorator:
    """Where a backend differs from AWS: the test is expected to fail there, for that reason."""
    return pytest.mark.differs(**backends)


@dataclass
class Deployed:
    """The stack on a backend: where its API is, its outputs, AWS clients, and what the probes saw."""

    backend: str
    api_url: str
    endpoint: str
    outputs: dict[str, str]
    integration_timeout: float
    region: str = "us-east-1"
    stop: Callable[[], None] = field(default=lambda: None, repr=False)

    def aws(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id="test", aws_secret_access_key="test")

    def observations(self, test: str, kind: str | None = None) -> list[dict]:
        table = boto3.resource("dynamodb", endpoint_url=self.endpoint, region_name=self.region,
                               aws_access_key_id="test", aws_secret_access_key="test") \
            .Table(self.outputs["ObservationsTableName"])
        items, start = [], None
        while True:
            page = table.query(KeyConditionExpression=Key("test").eq(test), ConsistentRead=True,
                               **({"ExclusiveStartKey": start} if start else {}))
            items += page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        seen = [{"kind": i["kind"], "at": float(i["at"]), **json.loads(i["data"])} for i in items]
        return [o for o in sorted(seen, key=lambda o: o["at"]) if kind is None or o["kind"] == kind]


def deploy(where: Path) -> Deployed:
    """The stack on PAYGATE_CONFORMANCE_BACKEND's backend."""
    return {"moto": _local, "localstack": _local, "ministack": _ministack}[BACKEND](where)


def _local(where: Path) -> Deployed:
    """The local runtime (paygate dev's Lambda service, event sources and API Gateway) on moto or LocalStack."""
    from paygate_local.runtime import LocalRuntime

    runtime = LocalRuntime(STACK, where, backend=BACKEND, api_port=0, stack_name="conformance",
                           parameter_overrides=PARAMETERS[BACKEND], api_timeout=INTEGRATION_TIMEOUT,
                           ship_logs=False).start()
    assert runtime.api_url and runtime.aws_endpoint_url
    return Deployed(BACKEND, runtime.api_url, runtime.aws_endpoint_url, runtime.stack.outputs(),
                    INTEGRATION_TIMEOUT, runtime.region, stop=runtime.stop)


def _ministack(where: Path) -> Deployed:
    """`sam build` + `sam deploy` of the stack into MiniStack (localstack/deploy.py, as `paygate ministack deploy`)."""
    from paygate_local.backends.localstack_setup import localstack_home
    from paygate_local.backends.ministack import DEPLOY_PY, MiniStackHost, prepare
    from paygate_local.devprocess import free_port

    prepare()
    host = MiniStackHost(where / "ministack", free_port())
    host.start()
    try:
        deployer = localstack_home() / "deployer" / "bin"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PAYGATE_", "PYTHON"))}
        env.update({"PATH": f"{deployer}{os.pathsep}{env.get('PATH', os.defpath)}", "SAM_CLI_TELEMETRY": "0"})
        out = where / "deployed.json"
        command = [str(deployer / "python"), str(DEPLOY_PY), "--template", str(STACK), "--endpoint", host.url,
                   "--stack-name", "conformance", "--no-merchant", "--out", str(out), "--build-dir",
                   str(where / "build"), *[arg for name, value in PARAMETERS["ministack"].items()
                                           for arg in ("--parameter", f"{name}={value}")]]
        began = time.monotonic()
        deploy = subprocess.run(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if deploy.returncode != 0:
            raise RuntimeError(f"deploy failed:\n{deploy.stdout[-4000:]}\n{deploy.stderr[-4000:]}\n{host.log_tail()}")
        print(f"conformance: deployed into MiniStack in {time.monotonic() - began:.0f} s", file=sys.stderr)
        info = json.loads(out.read_text())
        stacks = boto3.client("cloudformation", endpoint_url=host.url, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")
        described = stacks.describe_stacks(StackName="conformance")["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    except BaseException:
        host.stop()
        raise

    def stop() -> None:
        host.stop()
        shutil.rmtree(where / "build", ignore_errors=True)

    return Deployed("ministack", info["api_url"], host.url, outputs, 29.0, stop=stop)
