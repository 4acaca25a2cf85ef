"""docker-compose.yml agrees with template.yaml and with the rest of the repository.

Docker is not needed (nor used): the compose file is read as YAML and checked for what
`docker compose up` relies on: a pinned LocalStack with the auth token passed through and the
Docker socket mounted, every AWS service the template's resources need, the sandbox provider
reachable by the functions under the ProviderUrl the deployer passes, ports on 127.0.0.1 only,
and a deployer whose script exists, is executable and deploys template.yaml.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from paygate_local.template import Stack, load_template

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
TEMPLATE = ROOT / "template.yaml"
DEPLOY_SH = ROOT / "localstack" / "deploy.sh"
DEPLOY_PY = ROOT / "localstack" / "deploy.py"
HOST_LOCK = ROOT / "localstack" / "requirements-host.lock"
DEPLOYER_REQUIREMENTS = ROOT / "localstack" / "requirements-deployer.txt"

# What LocalStack must run for each resource type once SAM's transform has expanded the template.
SERVICES_FOR_TYPE = {
    "AWS::Serverless::Function": {"lambda", "iam", "logs"},
    "AWS::Serverless::LayerVersion": {"lambda"},
    "AWS::Lambda::Function": {"lambda", "iam", "logs"},
    "AWS::Lambda::LayerVersion": {"lambda"},
    "AWS::DynamoDB::Table": {"dynamodb"},
    "AWS::Serverless::SimpleTable": {"dynamodb"},
    "AWS::SQS::Queue": {"sqs"},
    "AWS::Serverless::Api": {"apigateway"},
    "AWS::CloudWatch::Dashboard": {"cloudwatch"},
}
SERVICES_FOR_EVENT = {"Api": {"apigateway"}, "SQS": {"sqs", "lambda"}, "DynamoDB": {"dynamodbstreams", "lambda"}}
# sam deploy itself: CloudFormation (with the SAM transform), S3 for the artifacts, STS for the account.
SERVICES_FOR_DEPLOY = {"cloudformation", "s3", "sts"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE)


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def published(service: dict) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each published port (short syntax)."""
    out = []
    for entry in service.get("ports") or []:
        parts = str(entry).split(":")
        assert len(parts) == 3, f"publish on an explicit address, e.g. 127.0.0.1:4566:4566, not {entry!r}"
        out.append((parts[0], int(parts[1]), int(parts[2].split("/")[0])))
    return out


def command_args(service: dict) -> list[str]:
    command = service.get("command")
    if isinstance(command, str):
        return command.split()
    return " ".join(command or []).split()


def option(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {' '.join(args)}"
    return args[args.index(name) + 1]


def required_services(template: dict) -> set[str]:
    needed = set(SERVICES_FOR_DEPLOY)
    for resource in template["Resources"].values():
        needed |= SERVICES_FOR_TYPE.get(resource["Type"], set())
        props = resource.get("Properties") or {}
        if "StreamSpecification" in props:
            needed.add("dynamodbstreams")
        for event in (props.get("Events") or {}).values():
            needed |= SERVICES_FOR_EVENT.get(event.get("Type"), set())
    return needed


# ------------------------------------------------------------------------------------ LocalStack


def test_localstack_image_is_pinned_to_the_host_mode_release(compose: dict):
    image = compose["services"]["localstack"]["image"]
    match = re.fullmatch(r"localstack/localstack:(\d{4})\.(\d{2})\.(\d+)", image)
    assert match, f"pin LocalStack to a release (YYYY.MM.patch), not {image!r}"
    pinned = re.search(r"^localstack-core==(\d+)\.(\d+)\.(\d+)$", HOST_LOCK.read_text(), re.M)
    assert pinned, "localstack/requirements-host.lock pins localstack-core"
    assert tuple(map(int, match.groups())) == tuple(map(int, pinned.groups())), \
        "docker compose and host mode should run the same LocalStack release"


def test_the_auth_token_comes_from_the_environment(compose: dict):
    env = env_of(compose["services"]["localstack"])
    assert re.fullmatch(r"\$\{LOCALSTACK_AUTH_TOKEN(:?[?-][^}]*)?\}", env["LOCALSTACK_AUTH_TOKEN"]), \
        "pass LOCALSTACK_AUTH_TOKEN through (${LOCALSTACK_AUTH_TOKEN...}), never a literal token"
    for service in compose["services"].values():  # nothing else is handed the token
        if service is not compose["services"]["localstack"]:
            assert "LOCALSTACK_AUTH_TOKEN" not in env_of(service)


def test_localstack_can_run_the_functions_in_docker(compose: dict):
    localstack = compose["services"]["localstack"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in localstack["volumes"]
    env = env_of(localstack)
    # The functions' containers join the network the sandbox is on, by its real (unprefixed) name.
    network = env["LAMBDA_DOCKER_NETWORK"]
    declared = {key: (value or {}).get("name", key) for key, value in (compose.get("networks") or {}).items()}
    assert network in declared.values()
    key = next(k for k, v in declared.items() if v == network)
    assert key in compose["services"]["sandbox"]["networks"]
    assert key in localstack["networks"]


def test_every_aws_service_the_template_needs_is_enabled(compose: dict, template: dict):
    services = set(env_of(compose["services"]["localstack"])["SERVICES"].split(","))
    missing = required_services(template) - services
    assert not missing, f"SERVICES lacks {sorted(missing)}"


def test_localstack_is_published_on_loopback_and_checked_for_health(compose: dict):
    localstack = compose["services"]["localstack"]
    assert published(localstack) == [("127.0.0.1", 4566, 4566)]
    assert "/_localstack/health" in " ".join(localstack["healthcheck"]["test"])


# ------------------------------------------------------------------------------------ the sandbox


def test_the_sandbox_listens_where_the_functions_look_for_it(compose: dict, template: dict):
    sandbox, deployer = compose["services"]["sandbox"], compose["services"]["deployer"]
    args = command_args(sandbox)
    assert "sandbox_provider" in args
    port = int(option(args, "--port"))
    assert option(args, "--host") == "0.0.0.0"  # inside its container; published on 127.0.0.1 below
    assert published(sandbox) == [("127.0.0.1", port, port)]
    assert str(port) in " ".join(sandbox["healthcheck"]["test"])

    assert "ProviderUrl" in template["Parameters"]
    provider = urlsplit(env_of(deployer)["PAYGATE_PROVIDER_URL"])
    assert (provider.scheme, provider.hostname, provider.port) == ("http", "sandbox", port)
    public = urlsplit(env_of(deployer)["PAYGATE_PUBLIC_PROVIDER_URL"])
    assert public.hostname in ("localhost", "127.0.0.1") and public.port == port


def test_the_sandbox_gets_the_pinned_werkzeug_and_the_repository_code(compose: dict):
    sandbox = compose["services"]["sandbox"]
    lock = re.search(r"^werkzeug==(\S+)$", (ROOT / "requirements.lock").read_text(), re.I | re.M)
    assert lock and f"Werkzeug=={lock.group(1)}".lower() in " ".join(command_args(sandbox)).lower()
    assert "/opt/paygate/infra" in env_of(sandbox)["PYTHONPATH"].split(":")
    assert ".:/opt/paygate:ro" in sandbox["volumes"]


def test_the_sandbox_command_line_has_the_options_compose_uses():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "infra"), str(ROOT / "layers" / "core")])}
    result = subprocess.run([sys.executable, "-m", "sandbox_provider", "--help"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    for flag in ("--host", "--port"):
        assert flag in result.stdout, f"python -m sandbox_provider has no {flag} option"


# ------------------------------------------------------------------------------------ the deployer


def test_the_deployer_waits_for_localstack_and_runs_the_deploy_script(compose: dict):
    deployer = compose["services"]["deployer"]
    assert deployer["depends_on"]["localstack"]["condition"] == "service_healthy"
    assert deployer["depends_on"]["sandbox"]["condition"] == "service_healthy"
    args = command_args(deployer)
    script = ROOT / next(a for a in args if a.endswith(".sh"))
    assert script == DEPLOY_SH
    assert DEPLOY_SH.is_file() and os.access(DEPLOY_SH, os.X_OK), f"{DEPLOY_SH} must be executable"
    text = DEPLOY_SH.read_text()
    assert "template.yaml" in text and "localstack/deploy.py" in text
    assert DEPLOY_PY.is_file()
    result = subprocess.run(["bash", "-n", str(DEPLOY_SH)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_deployer_talks_to_the_localstack_service(compose: dict):
    env = env_of(compose["services"]["deployer"])
    endpoint = urlsplit(env["AWS_ENDPOINT_URL"])
    assert (endpoint.hostname, endpoint.port) == ("localstack", 4566)
    public = urlsplit(env["PAYGATE_PUBLIC_ENDPOINT"])
    assert public.hostname in ("localhost", "127.0.0.1")
    assert public.port in [host for _, host, _ in published(compose["services"]["localstack"])]
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("test", "test")
    assert env["PAYGATE_DEPLOY_OUT"].startswith("/out/")
    assert any(str(v).endswith(":/out") for v in compose["services"]["deployer"]["volumes"])


def test_the_deployer_builds_for_the_functions_runtime(compose: dict, template: dict):
    runtime = template["Globals"]["Function"]["Runtime"]  # e.g. python3.12
    image = compose["services"]["deployer"]["image"]
    version = re.match(r"python:(\d+\.\d+)", image)
    assert version and f"python{version.group(1)}" == runtime, f"{image} cannot `sam build` for {runtime}"


def test_the_deployer_pins_the_layers_requirements_and_sam():
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", DEPLOYER_REQUIREMENTS.read_text(), re.M))
    pins = {name.lower().replace("_", "-"): version for name, version in pins.items()}
    assert "aws-sam-cli" in pins and "cfn-flip" in pins and "boto3" in pins
    layer = re.findall(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", (ROOT / "layers/core/requirements.txt").read_text(),
                       re.M)
    for name, version in layer:
        assert pins.get(name.lower().replace("_", "-")) == version, f"{name}=={version} (the layer's) in the deployer"


def test_the_deploy_script_checks_every_function_table_and_queue(template: dict):
    deploy = _deploy_module()
    expected = deploy.expected_resources(TEMPLATE)
    stack = Stack(template, ROOT, parameter_overrides={"Mode": "dev"})
    assert {f.logical_id for f in stack.functions()} <= set(expected)
    assert {t.logical_id for t in stack.tables()} <= set(expected)
    assert {q.logical_id for q in stack.queues()} <= set(expected)
    assert deploy.api_url("http://localhost:4566/", "abc123", "Prod") == \
        "http://localhost:4566/_aws/execute-api/abc123/Prod"
    # Every parameter the deployer sets is one the template declares.
    for name in {*deploy.DEFAULT_PARAMETERS, "ProviderUrl"}:
        assert name in template["Parameters"]
    # The output the deployer reads the merchants table from is one the template declares.
    assert deploy.MERCHANTS_TABLE_OUTPUT in template["Outputs"]


def _deploy_module():
    spec = importlib.util.spec_from_file_location("paygate_localstack_deploy", DEPLOY_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sam_transformed(monkeypatch: pytest.MonkeyPatch) -> dict:
    """template.yaml through the SAM transform (aws-sam-translator, as CloudFormation applies it), offline:
    local code paths stand in as S3 URIs and no managed policy is looked up."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict:
            return {}

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    template = load_template(TEMPLATE)
    for resource in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in (resource.get("Properties") or {}):
                resource["Properties"][key] = "s3://paygate-artifacts/code.zip"
    return transform(template, {"Mode": "dev"}, NoManagedPolicies())


def test_the_deploy_script_finds_every_resource_after_the_sam_transform(monkeypatch: pytest.MonkeyPatch):
    # The transform renames the layer (CoreLayer -> CoreLayer<hash>); the stack is matched by type.
    # (tests/integration/test_ministack_deploy.py deploys into a real CloudFormation.)
    deploy = _deploy_module()
    expected = deploy.expected_resources(TEMPLATE)
    transformed = _sam_transformed(monkeypatch)["Resources"]
    listed = [{"LogicalResourceId": lid, "ResourceType": r["Type"]} for lid, r in transformed.items()]
    matched, missing = deploy.match_resources(expected, listed)
    assert missing == []
    assert {lid: r["ResourceType"] for lid, r in matched.items()} == {
        lid: deploy.deployed_type(kind) for lid, kind in expected.items()}
    layers = [lid for lid, kind in expected.items() if kind == "AWS::Serverless::LayerVersion"]
    assert layers and all(matched[lid]["LogicalResourceId"] != lid for lid in layers)
    assert deploy.rest_api_id({r["LogicalResourceId"]: {**r, "PhysicalResourceId": "abc123"} for r in listed}) == "abc123"

    # A resource the stack lacks is named, even when another of its type is there.
    queue = next(lid for lid, kind in expected.items() if kind == "AWS::SQS::Queue")
    matched, missing = deploy.match_resources(expected, [r for r in listed if r["LogicalResourceId"] != queue])
    assert missing == [queue]


def test_the_deployers_imports_need_nothing_the_deployer_lacks():
    """deploy.py runs in the deployer's venv (SAM CLI + the layer's packages): the merchant it creates
    must not pull in the CLI's own dependencies (typer), as it once did."""
    code = ("import sys; sys.modules['typer'] = None; sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
            "from paygate_local.merchants import create_merchant; from paygate_local.template import Stack")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "infra"), str(ROOT / "layers" / "core")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "paygate_local.merchants import create_merchant" in DEPLOY_PY.read_text()
