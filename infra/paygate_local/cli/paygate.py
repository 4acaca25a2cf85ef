"""The `paygate` command: one typer app, each command from the module of its own name.

typer (click) parses and writes the help, rich draws tables and live status lines. Each command's
module keeps its heavy imports (boto3, the runtime, httpx) inside the command, so that `paygate` starts
quickly whichever command it runs.
"""

from __future__ import annotations

import sys
from typing import Sequence

import typer

from paygate_local.cli import dashboard, dev, dlq, invoke, listen, logs, merchants, ministack, sandbox, trace

app = typer.Typer(name="paygate", help="paygate: an asynchronous payment gateway", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
app.command("dev")(dev.dev_command)
app.command("invoke")(invoke.invoke_command)
app.command("listen")(listen.listen_command)
app.command("pay")(listen.pay_command)
app.command("trace")(trace.trace_command)
app.command("logs")(logs.logs_command)
app.command("dashboard")(dashboard.dashboard_command)
app.command("sandbox")(sandbox.sandbox_command)
app.add_typer(merchants.app, name="merchants")
app.add_typer(dlq.app, name="dlq")
app.add_typer(ministack.app, name="ministack")


def main(argv: Sequence[str] | None = None) -> int:
    """`paygate ...`: the exit status of the command (2 for a usage error, as before)."""
    try:
        result = app(args=list(argv) if argv is not None else None, prog_name="paygate", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # a usage error: shown with the usage line, exit status 2
        exc.show()
        return exc.exit_code
    except typer.Abort:
        print("paygate: aborted", file=sys.stderr)
        return 130
    return int(result or 0)
