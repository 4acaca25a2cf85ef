"""`paygate ministack` (MiniStack and the sandbox provider, in the foreground) and `paygate ministack deploy`
(template.yaml deployed into it); both are paygate_local.backends.ministack's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from paygate_local.cli.options import DEFAULT_STATE_DIR, fail, pairs

app = typer.Typer(help="MiniStack on 127.0.0.1 (no Docker) and the sandbox provider, in the foreground; "
                       "`paygate ministack deploy` deploys template.yaml into it")


@app.callback(invoke_without_command=True)
def serve_command(
    ctx: typer.Context,
    state_dir: Annotated[str, typer.Option(help="where ministack.json and MiniStack's files go")] = DEFAULT_STATE_DIR,
    port: Annotated[int, typer.Option(help="MiniStack's port (LocalStack has 4566)")] = 4567,
    provider_port: Annotated[int, typer.Option(help="the sandbox provider's port (default: a free one)")] = 0,
    persist: Annotated[bool, typer.Option(
        "--persist", help="keep MiniStack's state across restarts (PERSIST_STATE; stream records are not kept)")] = False,
) -> int | None:
    ctx.obj = {"state_dir": state_dir}
    if ctx.invoked_subcommand is not None:
        return None
    from paygate_local.backends import ministack

    return _reporting(lambda: ministack.serve(Path(state_dir).resolve(), port, provider_port, persist))


@app.command("deploy")
def deploy_command(
    ctx: typer.Context,
    state_dir: Annotated[Optional[str], typer.Option(help="as for paygate ministack")] = None,
    stack_name: Annotated[str, typer.Option(help="the stack's name")] = "paygate",
    parameter: Annotated[Optional[list[str]], typer.Option(
        metavar="Name=Value",
        help="a template parameter override (repeatable); Mode=dev and ProviderUrl are set")] = None,
) -> int:
    """sam build + sam deploy of template.yaml into the running MiniStack (localstack/deploy.py), a merchant;
    writes <state-dir>/ministack.json."""
    from paygate_local.backends import ministack

    parameters = pairs(parameter, "--parameter")
    where = Path(state_dir or ctx.obj["state_dir"]).resolve()
    return _reporting(lambda: ministack.deploy(where, stack_name, parameters))


def _reporting(run: Callable[[], int]) -> int:
    """What MiniStack could not do, as one line and exit status 1."""
    from paygate_local.backends.ministack import MiniStackError

    try:
        return run()
    except MiniStackError as exc:
        fail(str(exc), "paygate ministack", 1)
