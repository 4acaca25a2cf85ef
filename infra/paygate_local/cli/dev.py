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
    reload: Annotated[bool, typer.Option(
        "--reload/--no-reload", help="serve a saved change of a function's code, a layer or template.yaml "
                                     "without a restart (on by default)")] = True,
    debug: Annotated[Optional[list[str]], typer.Option(
        metavar="FUNCTION[,FUNCTION]", help="run these functions (logical ids) under debugpy, one warm worker "
                                            "each, their timeouts suspended while a debugger holds them")] = None,
    debug_wait: Annotated[bool, typer.Option(
        "--debug-wait", help="with --debug: each such worker waits for a debugger client before its init")] = False,
    faults: Annotated[Optional[Path], typer.Option(
        metavar="FILE", help="fault rules to start with: the chaos API's JSON ({control_url}/faults), or YAML")] = None,
) -> int:
    """Run the whole template.yaml locally, with no Docker."""
    from paygate_local.backends.moto.patches import UnsupportedMotoVersion
    from paygate_local.controls.dev import ControlError
    from paygate_local.session import DevOptions, DevSession

    debugged = tuple(name.strip() for text in debug or [] for name in text.split(",") if name.strip())
    if debug_wait and not debugged:
        fail("--debug-wait needs --debug FUNCTION", "paygate dev")
    options = DevOptions(template=template_path(template), state_dir=Path(state_dir), port=port, backend=backend,
                         provider_port=provider_port, reset=reset, max_workers=max_workers,
                         parameters=dict(pairs(parameter, "--parameter")), reload=reload, debug=debugged,
                         debug_wait=debug_wait, faults=faults)
    try:
        return DevSession(options).run()
    except ControlError as exc:
        fail(str(exc), "paygate dev", 2)
    except UnsupportedMotoVersion as exc:
        fail(str(exc), "paygate dev", 1)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        fail(f"127.0.0.1:{port} is already in use; pick another port with --port N (make run PORT=N), "
             f"or stop what listens there", "paygate dev", 1)
