"""`paygate dev`: the whole template.yaml on this machine (the session itself is paygate_local.session)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Annotated, Optional

import typer

from paygate_local.cli.options import DEFAULT_STATE_DIR, Template, fail, pairs, template_path


def dev_command(
    port: Annotated[int, typer.Option(help="API port on 127.0.0.1 (0 picks a free one)")] = 3000,
    state_dir: Annotated[str, typer.Option(help="where state, logs and traces are kept")] = DEFAULT_STATE_DIR,
    backend: Annotated[str, typer.Option(help="moto (in-process), localstack, or an endpoint URL")] = "moto",
    template: Template = None,
    provider_port: Annotated[int, typer.Option(
        help="sandbox provider port (default: the one it had last time, else a free one)")] = 0,
    reset: Annotated[bool, typer.Option(
        "--reset", help="forget the state saved in --state-dir (merchants, payments, queues...) and start clean")] = False,
    max_workers: Annotated[Optional[int], typer.Option(
        help="concurrent invocations of an API function (default 8, or PAYGATE_DEV_MAX_WORKERS); "
             "functions behind queues get at least what their pollers need")] = None,
    parameter: Annotated[Optional[list[str]], typer.Option(
        metavar="Name=Value", help="a template parameter override (repeatable)")] = None,
) -> int:
    """Run the whole template.yaml locally, with no Docker."""
    from paygate_local.backends.moto.patches import UnsupportedMotoVersion
    from paygate_local.session import DevOptions, DevSession

    options = DevOptions(template=template_path(template), state_dir=Path(state_dir), port=port, backend=backend,
                         provider_port=provider_port, reset=reset, max_workers=max_workers,
                         parameters=dict(pairs(parameter, "--parameter")))
    try:
        return DevSession(options).run()
    except UnsupportedMotoVersion as exc:
        fail(str(exc), "paygate dev", 1)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        fail(f"127.0.0.1:{port} is already in use; pick another port with --port N (make run PORT=N), "
             f"or stop what listens there", "paygate dev", 1)
