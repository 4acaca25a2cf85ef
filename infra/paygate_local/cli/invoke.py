"""`paygate invoke FUNCTION EVENT.json`: one function run once with one event, without Docker (what
`sam local invoke` does in a container).

The function runs in a worker process as under `paygate dev`: its template environment, a real
Lambda context (request id, deadline, ARN, remaining time), on its Runtime's interpreter. Its AWS
calls go to the backend of the `paygate dev` running from the state directory, or, when none is,
to a fresh embedded backend (moto) with the template's tables and queues and the sandbox provider,
started for this one invocation and gone after it. The result is printed as JSON on stdout; the
function's own output (its logs) goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from paygate_local import devfile
from paygate_local.cli.options import Template, pairs, template_path

if TYPE_CHECKING:
    from paygate_local.lambda_.worker import InvocationResult

LOCALSTACK_ACCOUNT_ID = "000000000000"


def invoke_command(
    function: Annotated[str, typer.Argument(help="the function's logical id in the template, e.g. ApiFunction")],
    event: Annotated[str, typer.Argument(help="the event: a JSON file (events/<function>/*.json), or - for stdin")],
    state_dir: Annotated[Optional[str], typer.Option(
        help="use the backend of the paygate dev running from here (default: a fresh one for this call, "
             "gone after it)")] = None,
    replace: Annotated[Optional[list[str]], typer.Option(
        metavar="OLD=NEW", help="replace text in the event first (repeatable), e.g. "
                                "sk_test_REPLACE_WITH_A_KEY=<your key> or pay_REPLACE=<a payment id>")] = None,
    template: Template = None,
    debug: Annotated[bool, typer.Option(
        "--debug", help="run it under debugpy (its timeout suspended while a debugger holds it); prints "
                        "`debugger: FUNCTION on 127.0.0.1:PORT` on stderr")] = False,
    debug_port: Annotated[int, typer.Option(help="with --debug: the port (default: a free one)")] = 0,
    debug_wait: Annotated[bool, typer.Option(
        "--debug-wait", help="with --debug: wait for a debugger client before the function's init")] = False,
) -> int:
    """Run one function once with an event file, without Docker (like `sam local invoke`): the result on
    stdout, logs on stderr."""
    replacements = pairs(replace, "--replace")
    if (debug_wait or debug_port) and not debug:
        print("paygate invoke: --debug-wait and --debug-port go with --debug", file=sys.stderr)
        return 2
    path = template_path(template)
    known = known_functions(path)
    if function not in known:
        print(f"paygate invoke: no function {function!r} in {path}; its functions: {', '.join(known)}",
              file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if event == "-" else Path(event).read_text(encoding="utf-8")
        for old, new in replacements:
            text = text.replace(old, new)
        payload = json.loads(text) if text.strip() else {}
    except (OSError, ValueError) as exc:
        print(f"paygate invoke: cannot read the event {event}: {exc}", file=sys.stderr)
        return 2
    debugging = {"port": debug_port, "wait": debug_wait} if debug else None
    result = invoke(path, function, payload, Path(state_dir).resolve() if state_dir else None, debugging)
    print(json.dumps(result.payload if result.ok else result.error, indent=2), flush=True)
    return 0 if result.ok else 1


@dataclass(frozen=True)
class Target:
    """Where the function's AWS calls go, and the parameters its template is resolved with."""

    backend_url: str
    region: str
    overrides: dict[str, str]
    account_id: str | None = None


def running_dev(state_dir: Path) -> devfile.DevInfo | None:
    """The dev.json of a `paygate dev` that is running from ``state_dir``, or None."""
    try:
        info = devfile.read_dev(state_dir)
        os.kill(info.pid, 0)
    except (devfile.DevFileError, OSError):
        return None
    return info


def target_of(info: devfile.DevInfo) -> Target:
    return Target(backend_url=info.aws_endpoint_url, region=info.region,
                  overrides={"Mode": "dev", "ProviderUrl": info.provider_url, **info.parameters},
                  account_id=LOCALSTACK_ACCOUNT_ID if info.backend == "localstack" else None)


def run_function(template: Path, logical_id: str, event: Any, target: Target,
                 log_path: Path = Path("/dev/stderr"), debug: dict | None = None) -> InvocationResult:
    """Invoke ``logical_id`` once with ``event`` against ``target``; its output goes to ``log_path``.
    ``debug`` (``{"port", "wait"}``): under debugpy."""
    from paygate_local.lambda_ import interpreters as lambda_envs
    from paygate_local.lambda_.environment import function_env
    from paygate_local.lambda_.worker import DEFAULT_INIT_TIMEOUT, InvocationResult, Worker, WorkerError
    from paygate_local.template import Stack

    where = {"account_id": target.account_id} if target.account_id else {}
    stack = Stack.from_file(template, region=target.region, parameter_overrides=target.overrides, **where)
    spec = stack.function(logical_id)
    chosen = lambda_envs.select(spec.runtime)
    worker = Worker(spec, function_env(spec, target.backend_url, target.region), log_path, python=chosen.python,
                    debug=debug is not None)
    if debug is not None:
        from paygate_local.controls.dev import free_port

        path = lambda_envs.debugger_dir(chosen.runtime) if chosen.python != sys.executable else None
        debug = {"port": debug.get("port") or free_port(), "wait": bool(debug.get("wait")),
                 "path": str(path) if path else None}
        worker.on_listening = lambda port: print(f"debugger: {logical_id} on 127.0.0.1:{port}"
                                                 + (" (waiting for a client)" if debug["wait"] else ""),
                                                 file=sys.stderr, flush=True)
    try:
        worker.init(None if debug and debug["wait"] else DEFAULT_INIT_TIMEOUT, debug=debug)
        return worker.invoke(event, str(uuid.uuid4()), float(spec.timeout))
    except WorkerError as exc:
        return InvocationResult("init", error=exc.error)
    finally:
        worker.end_group() if debug else worker.close()


def invoke(template: Path, logical_id: str, event: Any, state_dir: Path | None,
           debug: dict | None = None) -> InvocationResult:
    """Against the `paygate dev` running from ``state_dir``, else a fresh backend for this call."""
    info = running_dev(state_dir) if state_dir is not None else None
    if info is not None:
        print(f"paygate invoke: {logical_id} against the paygate dev running from {state_dir} "
              f"({info.aws_endpoint_url})", file=sys.stderr, flush=True)
        return run_function(template, logical_id, event, target_of(info), debug=debug)
    from paygate_local.runtime import LocalRuntime
    from sandbox_provider import SandboxProvider

    print(f"paygate invoke: {logical_id} against a fresh embedded backend (no paygate dev running"
          f"{f' from {state_dir}' if state_dir else ''})", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="paygate-invoke-") as scratch, SandboxProvider() as sandbox:
        from paygate_local.template import load_template

        declared = load_template(template).get("Parameters") or {}  # another template may have neither
        overrides = {k: v for k, v in {"Mode": "dev", "ProviderUrl": sandbox.url}.items() if k in declared}
        with LocalRuntime(template, scratch, parameter_overrides=overrides, api_port=0, prewarm=False) as runtime:
            assert runtime.aws_endpoint_url is not None
            return run_function(template, logical_id, event,
                                Target(runtime.aws_endpoint_url, runtime.region, overrides), debug=debug)


def known_functions(template: Path) -> list[str]:
    from paygate_local.template import Stack

    return [f.logical_id for f in Stack.from_file(template, parameter_overrides={"Mode": "dev"}).functions()]
