"""`paygate merchants`: a merchant and its API key (`create`), and a merchant's keys made, listed and
revoked (`create-key`, `keys`, `revoke-key`), in a running `paygate dev` or a deployed stack."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from paygate_local.cli.options import DEFAULT_STATE_DIR, StateDir, fail, require_dev
from paygate_local.merchants import KeyRefused, Where, client_kwargs, create_merchant, keys_of

MERCHANTS_TABLE_OUTPUT = "MerchantsTableName"  # the template's output that names the merchants table

app = typer.Typer(help="manage merchants of a running `paygate dev`", no_args_is_help=True)

Endpoint = Annotated[Optional[str], typer.Option(
    help="or a deployed stack's AWS endpoint (MiniStack, LocalStack): the merchants table is the "
         "stack's MerchantsTableName output")]
StackName = Annotated[str, typer.Option(help="with --endpoint: the stack")]
Region = Annotated[str, typer.Option(help="with --endpoint: the region")]
MerchantId = Annotated[Optional[str], typer.Option(
    help="the merchant (default: the sandbox merchant of the state directory's dev.json; required with --endpoint)")]


def _where(state_dir: str, endpoint: str | None, stack_name: str, region: str) -> tuple[Where, str | None]:
    """Where the merchants table is, and the dev session's merchant (None with --endpoint)."""
    if endpoint:
        merchants_table = stack_output(endpoint, region, stack_name, MERCHANTS_TABLE_OUTPUT)
        if merchants_table is None:
            fail(f"no stack {stack_name} with an output {MERCHANTS_TABLE_OUTPUT} at {endpoint} "
                 f"(deploy it first: make deploy-ministack)")
        return Where(merchants_table, endpoint, region), None
    info = require_dev(state_dir)
    return Where(info.merchants_table, info.aws_endpoint_url, info.region), info.merchant_id


@app.command("create")
def create_command(
    name: Annotated[str, typer.Option(help="the merchant's name")],
    state_dir: StateDir = DEFAULT_STATE_DIR,
    endpoint: Endpoint = None,
    stack_name: StackName = "paygate",
    region: Region = "us-east-1",
) -> int:
    """Create a merchant and print its API key (shown once)."""
    if not name.strip() or len(name) > 200:
        fail("--name must be 1 to 200 characters")
    where, _ = _where(state_dir, endpoint, stack_name, region)
    print(json.dumps(create_merchant(name, merchants_table=where.merchants_table, endpoint=where.endpoint,
                                     region=where.region)))
    return 0


def _keys(merchant_id: str | None, state_dir: str, endpoint: str | None, stack_name: str, region: str) -> object:
    where, dev_merchant = _where(state_dir, endpoint, stack_name, region)
    chosen = merchant_id or dev_merchant
    if not chosen:
        fail("--merchant-id is required with --endpoint")
    try:
        return keys_of(chosen, where)
    except KeyRefused as refused:
        fail(str(refused))


@app.command("create-key")
def create_key_command(merchant_id: MerchantId = None, state_dir: StateDir = DEFAULT_STATE_DIR,
                       endpoint: Endpoint = None, stack_name: StackName = "paygate", region: Region = "us-east-1") -> int:
    """Make another API key for a merchant and print it (shown once): to roll a key, make one, move to it,
    then revoke the old one."""
    try:
        print(json.dumps(_keys(merchant_id, state_dir, endpoint, stack_name, region).create()))
    except KeyRefused as refused:
        fail(str(refused))
    return 0


@app.command("keys")
def list_keys_command(merchant_id: MerchantId = None, state_dir: StateDir = DEFAULT_STATE_DIR,
                      endpoint: Endpoint = None, stack_name: StackName = "paygate", region: Region = "us-east-1") -> int:
    """List a merchant's API keys: id, prefix, created_at, last_used_at (never the keys themselves)."""
    print(json.dumps(_keys(merchant_id, state_dir, endpoint, stack_name, region).list()))
    return 0


@app.command("revoke-key")
def revoke_key_command(key_id: Annotated[str, typer.Argument(help="the key's id (key_...), as `keys` lists it")],
                       merchant_id: MerchantId = None, state_dir: StateDir = DEFAULT_STATE_DIR,
                       endpoint: Endpoint = None, stack_name: StackName = "paygate", region: Region = "us-east-1") -> int:
    """Revoke an API key at once (the next request with it is 401); the merchant's last key is refused."""
    try:
        print(json.dumps(_keys(merchant_id, state_dir, endpoint, stack_name, region).revoke(key_id)))
    except KeyRefused as refused:
        fail(str(refused))
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
