"""`paygate merchants create`: a merchant and its API key, in a running `paygate dev` or a deployed stack."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from paygate_local.cli.options import DEFAULT_STATE_DIR, StateDir, fail, require_dev
from paygate_local.merchants import client_kwargs, create_merchant

MERCHANTS_TABLE_OUTPUT = "MerchantsTableName"  # the template's output that names the merchants table

app = typer.Typer(help="manage merchants of a running `paygate dev`", no_args_is_help=True)


@app.command("create")
def create_command(
    name: Annotated[str, typer.Option(help="the merchant's name")],
    state_dir: StateDir = DEFAULT_STATE_DIR,
    endpoint: Annotated[Optional[str], typer.Option(
        help="or a deployed stack's AWS endpoint (MiniStack, LocalStack): the merchants table is the "
             "stack's MerchantsTableName output")] = None,
    stack_name: Annotated[str, typer.Option(help="with --endpoint: the stack")] = "paygate",
    region: Annotated[str, typer.Option(help="with --endpoint: the region")] = "us-east-1",
) -> int:
    """Create a merchant and print its API key (shown once)."""
    if not name.strip() or len(name) > 200:
        fail("--name must be 1 to 200 characters")
    if endpoint:
        merchants_table = stack_output(endpoint, region, stack_name, MERCHANTS_TABLE_OUTPUT)
        if merchants_table is None:
            fail(f"no stack {stack_name} with an output {MERCHANTS_TABLE_OUTPUT} at {endpoint} "
                 f"(deploy it first: make deploy-ministack)")
    else:
        info = require_dev(state_dir)
        merchants_table, endpoint, region = info.merchants_table, info.aws_endpoint_url, info.region
    print(json.dumps(create_merchant(name, merchants_table=merchants_table, endpoint=endpoint, region=region)))
    return 0


def stack_output(endpoint: str, region: str, stack_name: str, key: str) -> str | None:
    """One output of a deployed stack, or None when there is no such stack or output."""
    import boto3
    from botocore.exceptions import ClientError

    try:
        stack = boto3.client("cloudformation", **client_kwargs(endpoint, region)).describe_stacks(
            StackName=stack_name)["Stacks"][0]
    except ClientError:
        return None
    return next((o["OutputValue"] for o in stack.get("Outputs", []) if o["OutputKey"] == key), None)
