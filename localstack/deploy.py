"""Deploy template.yaml into LocalStack and create a sandbox merchant (docker-compose.yml's `deployer`).

    python localstack/deploy.py [--template template.yaml] [--endpoint URL] [--public-endpoint URL]
                                [--stack-name NAME] [--parameter Name=Value ...] [--out FILE] [--no-merchant]

1. ``sam build``: the functions and the layer (BuildMethod python3.12: its requirements installed
   next to the package), in the deployer container, which is python:3.12 like the functions;
2. ``sam deploy`` with ``AWS_ENDPOINT_URL`` pointing at LocalStack (boto3 honours it, so plain SAM
   CLI works; the deprecated ``samlocal`` wrapper is not needed): LocalStack's CloudFormation
   applies the SAM transform and creates the functions, the layer, the REST API, the tables, the
   queues and the event source mappings;
3. checks that every function, table, queue and layer of the template is in the stack and complete,
   matching them by type (the SAM transform turns an ``AWS::Serverless::Function`` into an
   ``AWS::Lambda::Function`` and renames a LayerVersion ``CoreLayer`` to ``CoreLayer<hash>``);
4. creates a merchant named "sandbox" (``paygate merchants create`` does the same: its items
   in the merchants table, the key stored as a hash) and prints the API's URL and the key, also
   written to ``--out`` as JSON (the fields of ``paygate dev``'s dev.json).

Needs aws-sam-cli, cfn-flip and the layer's requirements (localstack/deploy.sh installs them from
localstack/requirements-deployer.txt; so does localstack/setup-deployer.sh, into
localstack/.state/deployer). Nothing here talks to real AWS: every client gets the given endpoint and
the dummy credentials ``test``/``test``. tests/integration/test_ministack_deploy.py runs it against
MiniStack's CloudFormation, without Docker.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "infra"), str(ROOT / "layers" / "core")]

DEFAULT_PARAMETERS = {"Mode": "dev"}
MERCHANTS_TABLE_OUTPUT = "MerchantsTableName"  # the template's output that names the merchants table
DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")


def expected_resources(template: Path) -> dict[str, str]:
    """Logical id -> type of every function, layer, table and queue the template declares."""
    from paygate_local.template import LAYER_TYPES, QUEUE_TYPE, SAM_FUNCTION_TYPE, TABLE_TYPES, Stack, load_template

    declared = load_template(template).get("Parameters") or {}
    stack = Stack.from_file(template, parameter_overrides={k: v for k, v in DEFAULT_PARAMETERS.items() if k in declared})
    return stack.declared(SAM_FUNCTION_TYPE, QUEUE_TYPE, *TABLE_TYPES, *LAYER_TYPES)


def api_url(public_endpoint: str, rest_api_id: str, stage: str = "Prod") -> str:
    """The REST API's base URL through LocalStack's gateway (no DNS needed, unlike
    ``http://<id>.execute-api.localhost.localstack.cloud:4566/<stage>/``)."""
    return f"{public_endpoint.rstrip('/')}/_aws/execute-api/{rest_api_id}/{stage}"


def stage_name(template: Path) -> str:
    from paygate_local.template import load_template

    return str(((load_template(template).get("Globals") or {}).get("Api") or {}).get("StageName") or "Prod")


def _client(service: str, endpoint: str, region: str):
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id="test",
                        aws_secret_access_key="test")


def _run(cmd: list[str], env: dict[str, str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)


def sam_env(endpoint: str, region: str) -> dict[str, str]:
    """The SAM CLI's view of LocalStack: the endpoint, dummy credentials, no config files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "SAM_CLI_TELEMETRY": "0",
    })
    return env


def clear_failed_stack(cloudformation: Any, stack_name: str, timeout: float = 120) -> None:
    """A stack whose creation failed (ROLLBACK_COMPLETE) cannot be updated: delete it first."""
    from botocore.exceptions import ClientError

    try:
        status = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    except ClientError:
        return  # no such stack
    if status not in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"):
        return
    print(f"deploy: stack {stack_name} is {status} from an earlier attempt; deleting it", flush=True)
    cloudformation.delete_stack(StackName=stack_name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE":
                return
        except ClientError:
            return
        time.sleep(1)
    raise SystemExit(f"deploy: stack {stack_name} was not deleted within {timeout:.0f} s")


def build_and_deploy(args: argparse.Namespace, build_dir: Path) -> None:
    env = sam_env(args.endpoint, args.region)
    clear_failed_stack(_client("cloudformation", args.endpoint, args.region), args.stack_name)
    template = args.template
    if not args.skip_build:
        _run([args.sam, "build", "--template-file", str(template), "--build-dir", str(build_dir),
              "--base-dir", str(template.parent), "--cache-dir", args.sam_cache_dir or str(build_dir.parent / "sam-cache"),
              "--cached"], env)
    built = build_dir / "template.yaml"
    overrides = [f"{k}={v}" for k, v in args.parameters.items()]
    _run([args.sam, "deploy", "--template-file", str(built if built.exists() else template),
          "--stack-name", args.stack_name, "--region", args.region, "--resolve-s3",
          "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND",
          "--no-confirm-changeset", "--no-fail-on-empty-changeset",
          "--parameter-overrides", *overrides], env)


# What a template type is in the stack once CloudFormation has applied the SAM transform.
DEPLOYED_TYPES = {
    "AWS::Serverless::Function": "AWS::Lambda::Function",
    "AWS::Serverless::LayerVersion": "AWS::Lambda::LayerVersion",
    "AWS::Serverless::SimpleTable": "AWS::DynamoDB::Table",
    "AWS::Serverless::Api": "AWS::ApiGateway::RestApi",
}
REST_API_TYPE = "AWS::ApiGateway::RestApi"


def deployed_type(template_type: str) -> str:
    return DEPLOYED_TYPES.get(template_type, template_type)


def match_resources(expected: dict[str, str], resources: list[dict]) -> tuple[dict[str, dict], list[str]]:
    """Pair each expected resource (logical id -> template type) with the stack resource that is it.

    Resources are matched by type (the type the SAM transform turns the template's into), then
    by logical id: the same one, else one the transform derived from it (it renames a LayerVersion
    ``CoreLayer`` to ``CoreLayer<hex hash>``, so that each version of the layer is a resource of its
    own), else the only resource of that type left when only one expected resource of that type is
    left. Returns (logical id -> stack resource, logical ids with no resource).
    """
    left: dict[str, list[dict]] = {}
    for resource in resources:
        left.setdefault(resource["ResourceType"], []).append(resource)
    found: dict[str, dict] = {}
    rules = (lambda lid, rid: rid == lid,
             lambda lid, rid: re.fullmatch(re.escape(lid) + "[0-9a-f]{6,}", rid) is not None)
    for rule in rules:
        for lid, template_type in expected.items():
            if lid in found:
                continue
            candidates = left.get(deployed_type(template_type), [])
            match = next((r for r in candidates if rule(lid, r["LogicalResourceId"])), None)
            if match is not None:
                found[lid] = match
                candidates.remove(match)
    unmatched = [lid for lid in expected if lid not in found]
    for rtype in {deployed_type(expected[lid]) for lid in unmatched}:
        wanted = [lid for lid in unmatched if deployed_type(expected[lid]) == rtype]
        if len(wanted) == 1 and len(left.get(rtype, [])) == 1:
            found[wanted[0]] = left[rtype].pop()
    return found, [lid for lid in expected if lid not in found]


def check_stack(cloudformation: Any, stack_name: str, expected: dict[str, str], timeout: float = 300) -> dict:
    """Wait for the stack to settle; fail unless every expected resource is in it, complete.

    Returns the stack, its resources by logical id, and ``matched``: expected logical id -> the
    stack's resource (see ``match_resources``)."""
    deadline = time.monotonic() + timeout
    while True:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(1)
    if stack["StackStatus"] not in DONE:
        raise SystemExit(f"deploy: stack {stack_name} is {stack['StackStatus']}\n{stack_events(cloudformation, stack_name)}")
    listed = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    matched, missing = match_resources(expected, listed)
    failed = sorted(f"{lid} ({r['LogicalResourceId']}: {r['ResourceStatus']})" for lid, r in matched.items()
                    if not r["ResourceStatus"].endswith("_COMPLETE"))
    if missing or failed:
        present = ", ".join(sorted(f"{r['LogicalResourceId']} ({r['ResourceType']})" for r in listed)) or "nothing"
        raise SystemExit(f"deploy: stack {stack_name} is {stack['StackStatus']} but "
                         + "; ".join(filter(None, [
                             missing and "not deployed: " + ", ".join(f"{lid} ({expected[lid]})" for lid in missing),
                             failed and "not complete: " + ", ".join(failed)]))
                         + f"\n  the stack has: {present}")
    print(f"deploy: stack {stack_name} {stack['StackStatus']}: " + ", ".join(
        lid if matched[lid]["LogicalResourceId"] == lid else f"{lid} (as {matched[lid]['LogicalResourceId']})"
        for lid in sorted(expected)), flush=True)
    return {"stack": stack, "resources": {r["LogicalResourceId"]: r for r in listed}, "matched": matched}


def stack_events(cloudformation: Any, stack_name: str, count: int = 20) -> str:
    """The stack's latest events, one a line: which resource failed, and CloudFormation's reason."""
    events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"][:count]
    return "\n".join(f"  {e['LogicalResourceId']}: {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
                     for e in events)


def failed_deploy_report(cloudformation: Any, stack_name: str) -> str:
    """What to say when `sam deploy` failed: the stack's status and events, when there is a stack."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        status = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        return f"\n  the stack {stack_name} is {status}; its latest events:\n{stack_events(cloudformation, stack_name)}"
    except (ClientError, BotoCoreError):
        return ""


def rest_api_id(resources: dict[str, dict]) -> str:
    """The stack's REST API (SAM's implicit API, or the one the template declares), found by type."""
    apis = sorted((r for r in resources.values() if r["ResourceType"] == REST_API_TYPE),
                  key=lambda r: r["LogicalResourceId"])
    if len(apis) != 1:
        raise SystemExit(f"deploy: expected one {REST_API_TYPE} in the stack, found "
                         f"{[r['LogicalResourceId'] for r in apis] or 'none'}")
    return apis[0]["PhysicalResourceId"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localstack/deploy.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml", help="the SAM template")
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4566"),
                        help="LocalStack as this process reaches it")
    parser.add_argument("--public-endpoint", default=os.environ.get("PAYGATE_PUBLIC_ENDPOINT"),
                        help="LocalStack as the developer reaches it (default: --endpoint)")
    parser.add_argument("--public-provider-url", default=os.environ.get("PAYGATE_PUBLIC_PROVIDER_URL"),
                        help="the sandbox provider as the developer reaches it")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument("--stack-name", default=os.environ.get("PAYGATE_STACK_NAME", "paygate"))
    parser.add_argument("--parameter", action="append", default=[], metavar="Name=Value",
                        help="template parameter override (repeatable); Mode=dev is the default")
    parser.add_argument("--out", default=os.environ.get("PAYGATE_DEPLOY_OUT"), help="write the result as JSON here")
    parser.add_argument("--skip-build", action="store_true", help="deploy the template as it is (no sam build)")
    parser.add_argument("--no-merchant", action="store_true",
                        help="a stack that is not the gateway (the conformance suite's): no merchant, no key")
    parser.add_argument("--build-dir", default=None, help="where sam builds (default: a temporary dir)")
    parser.add_argument("--sam-cache-dir", default=os.environ.get("PAYGATE_SAM_CACHE_DIR"),
                        help="sam build's cache, kept between runs (default: next to the build dir)")
    parser.add_argument("--sam", default=os.environ.get("PAYGATE_SAM", "sam"),
                        help="the SAM CLI; it reaches LocalStack through AWS_ENDPOINT_URL (default: sam)")
    args = parser.parse_args(argv)
    args.parameters = {} if args.no_merchant else dict(DEFAULT_PARAMETERS)
    if os.environ.get("PAYGATE_PROVIDER_URL"):
        args.parameters["ProviderUrl"] = os.environ["PAYGATE_PROVIDER_URL"]
    if os.environ.get("PAYGATE_OTLP_ENDPOINT"):  # docker compose: its Jaeger
        args.parameters["OtlpEndpoint"] = os.environ["PAYGATE_OTLP_ENDPOINT"]
    for pair in args.parameter:
        name, sep, value = pair.partition("=")
        if not sep:
            parser.error(f"--parameter wants Name=Value, got {pair!r}")
        args.parameters[name] = value
    public = (args.public_endpoint or args.endpoint).rstrip("/")

    args.template = args.template if args.template.is_absolute() else (ROOT / args.template).resolve()
    template = args.template
    expected = expected_resources(template)
    with tempfile.TemporaryDirectory(prefix="paygate-build-") as tmp:
        build_dir = Path(args.build_dir) if args.build_dir else Path(tmp) / "build"
        try:
            build_and_deploy(args, build_dir)
        except subprocess.CalledProcessError as exc:
            said = failed_deploy_report(_client("cloudformation", args.endpoint, args.region), args.stack_name) \
                if exc.cmd[1] == "deploy" else ""
            raise SystemExit(f"deploy: `{' '.join(exc.cmd[:2])}` failed ({exc.returncode}); see above{said}") from None

    cloudformation = _client("cloudformation", args.endpoint, args.region)
    deployed = check_stack(cloudformation, args.stack_name, expected)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in deployed["stack"].get("Outputs", [])}
    rest_api = rest_api_id(deployed["resources"])
    if args.no_merchant:
        info = {"api_url": api_url(public, rest_api, stage_name(template)), "aws_endpoint_url": public,
                "stack_name": args.stack_name, "rest_api_id": rest_api, "outputs": outputs}
        if args.out:
            Path(args.out).write_text(json.dumps(info, indent=2) + "\n")
        print(f"\n{args.stack_name} is deployed: API {info['api_url']}", flush=True)
        return 0
    merchants_table = outputs.get(MERCHANTS_TABLE_OUTPUT)
    if not merchants_table:
        raise SystemExit(f"deploy: stack {args.stack_name} has no output {MERCHANTS_TABLE_OUTPUT} (the merchants "
                         f"table, where the sandbox merchant goes); its outputs: {sorted(outputs) or 'none'}")

    from paygate_local.merchants import create_merchant

    merchant = create_merchant("sandbox", merchants_table=merchants_table, endpoint=args.endpoint, region=args.region)
    info = {
        "api_url": api_url(public, rest_api, stage_name(template)),
        "api_key": merchant["api_key"],
        "merchant_id": merchant["merchant_id"],
        "aws_endpoint_url": public,
        "provider_url": args.public_provider_url or args.parameters.get("ProviderUrl"),
        "region": args.region,
        "stack_name": args.stack_name,
        "merchants_table": merchants_table,
        "rest_api_id": rest_api,
        # logical id -> function name, for `awslocal logs tail /aws/lambda/<name>` and `awslocal lambda invoke`
        "functions": {lid: r["PhysicalResourceId"] for lid, r in sorted(deployed["resources"].items())
                      if r["ResourceType"] == "AWS::Lambda::Function"},
        # logical id -> table name (CloudFormation names them), for tools that read the tables directly
        "tables": {lid: r["PhysicalResourceId"] for lid, r in sorted(deployed["resources"].items())
                   if r["ResourceType"] == "AWS::DynamoDB::Table"},
    }
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(info, indent=2) + "\n")
    print("\npaygate is deployed in LocalStack\n"
          f"  API:      {info['api_url']}\n"
          f"  API key:  {info['api_key']}\n"
          f"  merchant: {info['merchant_id']}\n"
          f"  AWS:      {info['aws_endpoint_url']}  (awslocal, or aws --endpoint-url)\n"
          f"  provider: {info['provider_url']}\n"
          + "".join(f"  logs:     awslocal logs tail /aws/lambda/{name} --follow   ({lid})\n"
                    for lid, name in info["functions"].items())
          + (f"  ({args.out})" if args.out else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
