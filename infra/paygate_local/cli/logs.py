"""`paygate logs`: the functions' logs from CloudWatch Logs of the running gateway's backend."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any, Optional

import typer

from paygate_local.cli.options import DEFAULT_STATE_DIR, StateDir, require_dev
from paygate_local.merchants import client_kwargs


def logs_command(
    function: Annotated[Optional[str], typer.Argument(
        help="one function: its logical id (ApiFunction) or name; default: every function")] = None,
    payment_id: Annotated[Optional[str], typer.Option(help="only the lines that name this payment")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines (Ctrl-C stops)")] = False,
    since: Annotated[int, typer.Option(help="from this many minutes ago")] = 60,
    limit: Annotated[Optional[int], typer.Option(help="at most the last N lines (without --follow)")] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="the raw lines (JSON as the functions wrote them)")] = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> int:
    """The functions' logs from CloudWatch Logs of the running gateway's backend (as `aws logs tail`)."""
    import boto3

    from paygate_local.observability import logs as logs_mod

    info = require_dev(state_dir)
    client = boto3.client("logs", **client_kwargs(info.aws_endpoint_url, info.region))
    start_ms = int((time.time() - since * 60) * 1000)

    def groups() -> list[str]:
        return logs_mod.pick_groups(logs_mod.function_groups(client), function, waiting=follow)

    def show(line: Any) -> None:
        print(line.message if json_lines else logs_mod.render(line), flush=True)

    try:
        if not follow:
            for line in logs_mod.read(client, groups(), start_ms=start_ms, payment_id=payment_id, limit=limit):
                show(line)
            return 0
        for line in logs_mod.follow(client, groups, start_ms=start_ms, payment_id=payment_id):
            show(line)
    except logs_mod.LogsError as exc:
        print(f"paygate logs: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
