"""The `paygate` command: `paygate dev`, `merchants create`, `invoke`, `dlq`, `ministack`, `sandbox`..."""

from __future__ import annotations

import argparse
import errno
import faulthandler
import importlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any, Optional, Sequence

import typer

from paygate_local.merchants import client_kwargs, create_merchant, merchants_repository  # noqa: F401 - create_merchant: cli.create_merchant for callers

DEFAULT_STATE_DIR = ".paygate"
DEV_FILE = "dev.json"
MERCHANTS_TABLE_OUTPUT = "MerchantsTableName"  # the template's output that names the merchants table
STOP_REPORT_SECONDS = 40.0  # a stop still going on after this prints every thread's stack


def _repo_root() -> Path:
    """Where template.yaml lives: the working directory if it has one, else this checkout."""
    here = Path.cwd()
    if (here / "template.yaml").exists():
        return here
    return Path(__file__).resolve().parents[3]


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
    os.replace(tmp, path)


_client_kwargs = client_kwargs
_merchants = merchants_repository


def cmd_dev(args: argparse.Namespace) -> int:
    from paygate_local.backends.moto.patches import UnsupportedMotoVersion

    try:
        return _run_dev(args)
    except UnsupportedMotoVersion as exc:
        print(f"paygate dev: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"paygate dev: 127.0.0.1:{args.port} is already in use; pick another port with --port N "
              f"(make run PORT=N), or stop what listens there", file=sys.stderr)
        return 1


def _run_dev(args: argparse.Namespace) -> int:
    from paygate_local.metering import meter
    from paygate_local.runtime import TRACES_FILE, LocalRuntime
    from paygate_local.statefile import FILE_NAME, StateFile

    state_dir = Path(args.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    dev_file = state_dir / DEV_FILE
    dev_file.unlink(missing_ok=True)  # written again only when everything is ready
    if args.reset:
        reset_state(state_dir)
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stopping.is_set():  # the second Ctrl-C: at once (what was accepted resumes from the last checkpoint)
            print("paygate dev: stopping at once; the next start resumes from the last checkpoint",
                  file=sys.stderr, flush=True)
            dev_file.unlink(missing_ok=True)
            os._exit(130)
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    template = Path(args.template).resolve() if args.template else _repo_root() / "template.yaml"
    state = StateFile(state_dir / FILE_NAME)
    sandbox = _start_sandbox(args.provider_port, state, state_dir / TRACES_FILE)
    runtime: LocalRuntime | None = None
    try:
        overrides = {"Mode": "dev", "ProviderUrl": sandbox.url, **dict(args.parameter or [])}
        sizing = {"max_workers_per_function": args.max_workers} if args.max_workers else {}
        metering = meter.meter_dir(state_dir) if meter.metering_requested() else None  # PAYGATE_METER=1
        runtime = LocalRuntime(template, state_dir, backend=args.backend, parameter_overrides=overrides,
                               api_port=args.port, meter_dir=metering, state=state, **sizing)
        runtime.start()
        # tok_async charges are settled by the sandbox calling the gateway back, signed with the
        # template's ProviderCallbackSecret (the sandbox's default unless overridden).
        sandbox.set_callback(f"{runtime.api_url}/callbacks/sandbox",
                             runtime.stack.parameters.get("ProviderCallbackSecret") or None)
        env = runtime.env_for(runtime.api_function_ids()[0])
        region = env.get("AWS_REGION", "us-east-1")
        merchant = sandbox_merchant(state, args.backend, merchants_table=env["MERCHANTS_TABLE"],
                                    endpoint=runtime.aws_endpoint_url, region=region)
        info = {
            "api_url": runtime.api_url,
            "api_key": merchant["api_key"],
            "merchant_id": merchant["merchant_id"],
            "aws_endpoint_url": runtime.aws_endpoint_url,
            "provider_url": sandbox.url,
            "backend": args.backend,
            "parameters": {k: v for k, v in overrides.items() if k != "ProviderCallbackSecret"},
            "region": region,
            "merchants_table": env["MERCHANTS_TABLE"],
            "logs_dir": str(state_dir / "logs"),
            "state_file": str(state.path),
            "pid": os.getpid(),
        }
        write_json_atomically(dev_file, info)
        restored = runtime.restored
        kept = (f"  state:    {state.path} (restored {restored.items} items, {restored.messages} queued messages, "
                f"{restored.stream_records} stream records in {restored.seconds:.2f} s)\n"
                if restored is not None and restored.items else f"  state:    {state.path}\n")
        print(f"paygate dev is ready\n  API:      {info['api_url']}\n  API key:  {info['api_key']}\n"
              f"  merchant: {info['merchant_id']}\n  AWS:      {info['aws_endpoint_url']}\n"
              f"  provider: {info['provider_url']}\n  logs:     {info['logs_dir']}\n{kept}"
              f"  ({dev_file}; Ctrl-C stops, and a restart with the same --state-dir carries on)", flush=True)
        wait_for_stop(stopping)
        print("paygate dev: stopping: finishing what is under way (Ctrl-C again stops at once)", flush=True)
        dev_file.unlink(missing_ok=True)
        # A stop is bounded (GRACE_SECONDS, then everything is cut off); should it still be going on
        # well after that, say what every thread is doing rather than hang in silence.
        faulthandler.dump_traceback_later(STOP_REPORT_SECONDS, exit=False, file=sys.stderr)
        began = time.monotonic()
        runtime.stop(graceful=True)
        print(f"paygate dev: stopped in {time.monotonic() - began:.1f} s; state saved", flush=True)
    finally:
        dev_file.unlink(missing_ok=True)
        if runtime is not None:
            runtime.stop()
        sandbox.stop()
        state.close()
    return 0


def wait_for_stop(stopping: threading.Event, safety: float = 60.0) -> None:
    """Sleep in the main thread until a SIGINT or SIGTERM handler sets ``stopping``.

    Not ``stopping.wait()``: a signal the kernel hands to another thread (the runtime has many) only
    marks the Python handler as due, and a main thread asleep in a lock never runs it, so a stop could
    go unnoticed until a second signal. The signal module writes every signal to a wakeup pipe, from
    whichever thread got it; waking on that pipe runs the handler at once, with no polling."""
    read_end, write_end = os.pipe()
    for fd in (read_end, write_end):
        os.set_blocking(fd, False)
    previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    try:
        while not stopping.is_set():
            select.select([read_end], [], [], safety)  # the timeout is only a safety net
            try:
                os.read(read_end, 512)
            except BlockingIOError:
                pass
    finally:
        signal.set_wakeup_fd(previous)
        os.close(read_end)
        os.close(write_end)


def reset_state(state_dir: Path) -> None:
    """``paygate dev --reset``: forget every saved state (the logs stay)."""
    from paygate_local.statefile import FILE_NAME

    for suffix in ("", "-wal", "-shm"):
        (state_dir / (FILE_NAME + suffix)).unlink(missing_ok=True)
    shutil.rmtree(state_dir / "localstack" / "state", ignore_errors=True)


def _start_sandbox(port: int, state: Any, traces_file: Path | None = None) -> Any:
    """The sandbox provider with its saved charges, on the port it had (so that a restart changes
    nothing a function was told), or any free port when that one is taken now."""
    from sandbox_provider import SandboxProvider

    wanted = port or state.get("sandbox.port") or 0
    try:
        sandbox = SandboxProvider(port=wanted, store=state, traces_file=traces_file).start()
    except OSError:
        if port or not wanted:
            raise
        print(f"paygate dev: note: the sandbox provider's port {wanted} is taken; it gets another",
              file=sys.stderr, flush=True)
        sandbox = SandboxProvider(port=0, store=state, traces_file=traces_file).start()
    state.set("sandbox.port", sandbox.port)
    return sandbox


def sandbox_merchant(state: Any, backend: str, **where: str) -> dict[str, str]:
    """The sandbox merchant and its key: the same across restarts on the same backend (the key is kept
    in the state file, beside dev.json that shows it); made anew when the backend has no such merchant."""
    from paygate.domain.accounts import hash_api_key

    name = f"sandbox.merchant.{backend}"
    saved = state.get(name)
    if saved and _merchants(**where).by_key_hash(hash_api_key(saved["api_key"])) is not None:
        return saved
    merchant = create_merchant("sandbox", **where)
    state.set(name, merchant)
    return merchant


def stack_output(endpoint: str, region: str, stack_name: str, key: str) -> str | None:
    """One output of a deployed stack, or None when there is no such stack or output."""
    import boto3
    from botocore.exceptions import ClientError

    try:
        stack = boto3.client("cloudformation", **_client_kwargs(endpoint, region)).describe_stacks(
            StackName=stack_name)["Stacks"][0]
    except ClientError:
        return None
    return next((o["OutputValue"] for o in stack.get("Outputs", []) if o["OutputKey"] == key), None)


def cmd_merchants_create(args: argparse.Namespace) -> int:
    if not args.name.strip() or len(args.name) > 200:
        print("paygate: --name must be 1 to 200 characters", file=sys.stderr)
        return 2
    if args.endpoint:
        info = {"aws_endpoint_url": args.endpoint, "region": args.region,
                "merchants_table": stack_output(args.endpoint, args.region, args.stack_name, MERCHANTS_TABLE_OUTPUT)}
        if info["merchants_table"] is None:
            print(f"paygate: no stack {args.stack_name} with an output {MERCHANTS_TABLE_OUTPUT} at {args.endpoint} "
                  f"(deploy it first: make deploy-ministack)", file=sys.stderr)
            return 2
    else:
        info = _dev_info(args.state_dir)
        if info is None:
            return 2
    result = create_merchant(args.name, merchants_table=info["merchants_table"],
                             endpoint=info["aws_endpoint_url"], region=info.get("region", "us-east-1"))
    print(json.dumps(result))
    return 0


def cmd_ministack(args: argparse.Namespace) -> int:
    from paygate_local.backends import ministack

    return ministack.main(args)


def _dev_info(state_dir: str) -> dict[str, Any] | None:
    dev_file = Path(state_dir) / DEV_FILE
    if not dev_file.exists():
        print(f"paygate: {dev_file} not found: start `paygate dev --state-dir {state_dir}` first", file=sys.stderr)
        return None
    return json.loads(dev_file.read_text())


def cmd_dlq(args: argparse.Namespace) -> int:
    """The dead-letter queues of a running `paygate dev`: what they hold, and replaying the relay's."""
    import boto3

    dlq = importlib.import_module("paygate_local.cli.dlq")

    info = _dev_info(args.state_dir)
    if info is None:
        return 2
    kwargs = _client_kwargs(info["aws_endpoint_url"], info.get("region", "us-east-1"))
    sqs, streams = boto3.client("sqs", **kwargs), boto3.client("dynamodbstreams", **kwargs)
    template = Path(args.template).resolve() if args.template else _repo_root() / "template.yaml"
    queues = dlq.dead_letter_queues(template)
    urls = {lid: sqs.get_queue_url(QueueName=name)["QueueUrl"] for lid, name in queues.items()}
    if args.dlq_command == "list":
        for lid, visible, in_flight in dlq.queue_depths(sqs, urls):
            print(f"{lid:28} {visible:6} waiting {in_flight:6} in flight")
        return 0
    from paygate.adapters.dynamodb import PaymentChanges
    from paygate.adapters.sqs import SqsPublisher
    from paygate.services.relay import relay
    from paygate_local.template import Stack

    names = {q.logical_id: q.name for q in Stack.from_file(template, parameter_overrides={"Mode": "dev"}).queues()}
    commands_url = sqs.get_queue_url(QueueName=names["CommandsQueue"])["QueueUrl"]
    webhooks_url = sqs.get_queue_url(QueueName=names["WebhooksQueue"])["QueueUrl"]
    publisher = SqsPublisher(sqs)
    done = dlq.replay_relay(
        sqs=sqs, streams=streams, dlq_url=urls[dlq.RELAY_DLQ], max_messages=args.max,
        relay=lambda records: relay(records, decoder=PaymentChanges(), publisher=publisher,
                                    commands_queue_url=commands_url, webhooks_queue_url=webhooks_url))
    print(f"replayed {done.replayed_batches} failed relay batches ({done.replayed_records} stream records)")
    for why in done.left:
        print(f"left in {dlq.RELAY_DLQ}: {why}")
    return 0 if not done.left else 1


def cmd_invoke(args: argparse.Namespace) -> int:
    """The Docker-free `sam local invoke`: the result as JSON on stdout, the function's logs on stderr."""
    invoke = importlib.import_module("paygate_local.cli.invoke")

    template = Path(args.template).resolve() if args.template else _repo_root() / "template.yaml"
    known = invoke.known_functions(template)
    if args.function not in known:
        print(f"paygate invoke: no function {args.function!r} in {template}; its functions: {', '.join(known)}",
              file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if args.event == "-" else Path(args.event).read_text(encoding="utf-8")
        for old, new in args.replace or []:
            text = text.replace(old, new)
        event = json.loads(text) if text.strip() else {}
    except (OSError, ValueError) as exc:
        print(f"paygate invoke: cannot read the event {args.event}: {exc}", file=sys.stderr)
        return 2
    state_dir = Path(args.state_dir).resolve() if args.state_dir else None
    result = invoke.invoke(template, args.function, event, state_dir)
    print(json.dumps(result.payload if result.ok else result.error, indent=2), flush=True)
    return 0 if result.ok else 1


def cmd_sandbox(args: argparse.Namespace) -> int:
    import sandbox_provider as sandbox

    return sandbox.main(["--port", str(args.port)]) or 0


def _pairs(values: list[str] | None, option: str) -> list[tuple[str, str]]:
    """Repeatable ``Name=Value`` options."""
    pairs = []
    for text in values or []:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected Name=Value, got {text!r}", param_hint=option)
        pairs.append((key, value))
    return pairs


# The command line: typer (click) for parsing and help, rich for tables and live status lines. Each
# command is a thin shell over a cmd_* function, which the tests and the other tools also call.
app = typer.Typer(name="paygate", help="paygate: an asynchronous payment gateway", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
merchants_app = typer.Typer(help="manage merchants of a running `paygate dev`", no_args_is_help=True)
dlq_app = typer.Typer(help="the dead-letter queues of a running `paygate dev`", no_args_is_help=True)
ministack_app = typer.Typer(help="MiniStack on 127.0.0.1 (no Docker) and the sandbox provider, in the foreground; "
                                 "`paygate ministack deploy` deploys template.yaml into it")
app.add_typer(merchants_app, name="merchants")
app.add_typer(dlq_app, name="dlq")
app.add_typer(ministack_app, name="ministack")

StateDir = Annotated[str, typer.Option(help="the state directory of the `paygate dev` to use (its dev.json)")]
Template = Annotated[Optional[str], typer.Option(help="the SAM template (default: ./template.yaml)")]


@app.command()
def dev(
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
    return cmd_dev(argparse.Namespace(
        port=port, state_dir=state_dir, backend=backend, template=template, provider_port=provider_port,
        reset=reset, max_workers=max_workers, parameter=_pairs(parameter, "--parameter")))


@merchants_app.command("create")
def merchants_create(
    name: Annotated[str, typer.Option(help="the merchant's name")],
    state_dir: StateDir = DEFAULT_STATE_DIR,
    endpoint: Annotated[Optional[str], typer.Option(
        help="or a deployed stack's AWS endpoint (MiniStack, LocalStack): the merchants table is the "
             "stack's MerchantsTableName output")] = None,
    stack_name: Annotated[str, typer.Option(help="with --endpoint: the stack")] = "paygate",
    region: Annotated[str, typer.Option(help="with --endpoint: the region")] = "us-east-1",
) -> int:
    """Create a merchant and print its API key (shown once)."""
    return cmd_merchants_create(argparse.Namespace(
        name=name, state_dir=state_dir, endpoint=endpoint, stack_name=stack_name, region=region))


@ministack_app.callback(invoke_without_command=True)
def ministack_serve(
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
    return cmd_ministack(argparse.Namespace(state_dir=state_dir, port=port, provider_port=provider_port,
                                            persist=persist, ministack_command=None))


@ministack_app.command("deploy")
def ministack_deploy(
    ctx: typer.Context,
    state_dir: Annotated[Optional[str], typer.Option(help="as for paygate ministack")] = None,
    stack_name: Annotated[str, typer.Option(help="the stack's name")] = "paygate",
    parameter: Annotated[Optional[list[str]], typer.Option(
        metavar="Name=Value",
        help="a template parameter override (repeatable); Mode=dev and ProviderUrl are set")] = None,
) -> int:
    """sam build + sam deploy of template.yaml into the running MiniStack (localstack/deploy.py), a merchant;
    writes <state-dir>/ministack.json."""
    return cmd_ministack(argparse.Namespace(
        state_dir=state_dir or ctx.obj["state_dir"], ministack_command="deploy", stack_name=stack_name,
        parameter=_pairs(parameter, "--parameter")))


@dlq_app.command("list")
def dlq_list(state_dir: StateDir = DEFAULT_STATE_DIR, template: Template = None) -> int:
    """How many messages each dead-letter queue holds."""
    return cmd_dlq(argparse.Namespace(dlq_command="list", state_dir=state_dir, template=template))


@dlq_app.command("replay")
def dlq_replay(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    template: Template = None,
    max: Annotated[int, typer.Option("--max", help="at most this many DLQ messages")] = 1000,
) -> int:
    """Publish again what the relay failed to (RelayDLQ), once the fault is fixed."""
    return cmd_dlq(argparse.Namespace(dlq_command="replay", state_dir=state_dir, template=template, max=max))


@app.command()
def invoke(
    function: Annotated[str, typer.Argument(help="the function's logical id in the template, e.g. ApiFunction")],
    event: Annotated[str, typer.Argument(help="the event: a JSON file (events/<function>/*.json), or - for stdin")],
    state_dir: Annotated[Optional[str], typer.Option(
        help="use the backend of the paygate dev running from here (default: a fresh one for this call, "
             "gone after it)")] = None,
    replace: Annotated[Optional[list[str]], typer.Option(
        metavar="OLD=NEW", help="replace text in the event first (repeatable), e.g. "
                                "sk_test_REPLACE_WITH_A_KEY=<your key> or pay_REPLACE=<a payment id>")] = None,
    template: Template = None,
) -> int:
    """Run one function once with an event file, without Docker (like `sam local invoke`): the result on
    stdout, logs on stderr."""
    return cmd_invoke(argparse.Namespace(function=function, event=event, state_dir=state_dir,
                                         replace=_pairs(replace, "--replace"), template=template))


ApiUrl = Annotated[Optional[str], typer.Option(help="the gateway's API URL (default: the state directory's)")]
ApiKey = Annotated[Optional[str], typer.Option(help="a merchant's API key (default: the state directory's)")]


@app.command()
def listen(
    forward_to: Annotated[Optional[str], typer.Option(
        help="forward each verified webhook, unchanged, to this URL on 127.0.0.1 (its answer is the gateway's)")] = None,
    events: Annotated[Optional[str], typer.Option(help="only these event types, comma-separated (default: all)")] = None,
    max_events: Annotated[Optional[int], typer.Option(help="stop after this many webhooks")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="stop after this many seconds")] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="one JSON line per webhook")] = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> int:
    """Receive the gateway's webhooks here (like `stripe listen`): a temporary endpoint on 127.0.0.1, each
    webhook printed with its signature checked, optionally forwarded; the endpoint is removed on exit."""
    devcli = importlib.import_module("paygate_local.cli.listen")

    stopping = threading.Event()

    def on_event(received: Any) -> None:
        print(json.dumps(received.as_json()) if json_lines else devcli.describe(received), flush=True)
        if max_events is not None and len(listener.received) >= max_events:
            stopping.set()

    try:
        url, key = devcli.gateway(state_dir, api_url, api_key)
        listener = devcli.Listener(url, key, events=[e.strip() for e in events.split(",") if e.strip()]
                                   if events else None, forward_to=forward_to, on_event=on_event)
        listener.start()
    except devcli.CliError as exc:
        print(f"paygate listen: {exc}", file=sys.stderr)
        return 2
    except httpx_errors() as exc:
        print(f"paygate listen: cannot reach the gateway: {exc}", file=sys.stderr)
        return 2
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ready = {"ready": True, "endpoint_id": listener.endpoint_id, "url": listener.url, "forward_to": forward_to}
        print(json.dumps(ready) if json_lines else
              f"Ready: webhooks go to {listener.url} (endpoint {listener.endpoint_id}"
              f"{', forwarded to ' + forward_to if forward_to else ''}); Ctrl-C stops", flush=True)
        deadline = time.monotonic() + timeout if timeout else None
        while not stopping.wait(0.2):
            if deadline is not None and time.monotonic() > deadline:
                break
    finally:
        listener.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not json_lines:
        print(f"endpoint removed; {len(listener.received)} webhooks received", flush=True)
    return 0


def httpx_errors() -> type[Exception]:
    import httpx

    return httpx.HTTPError


@app.command()
def pay(
    amount: Annotated[int, typer.Option(help="in minor units (1050 = 10.50)")],
    currency: Annotated[str, typer.Option(help="ISO 4217")] = "USD",
    token: Annotated[str, typer.Option(help="a sandbox card token: tok_success, tok_decline, tok_flaky, ...")]
    = "tok_success",
    wallet: Annotated[Optional[str], typer.Option(help="pay from this wallet (wal_...) instead of a card")] = None,
    description: Annotated[Optional[str], typer.Option(help="the payment's description")] = None,
    timeout: Annotated[float, typer.Option(help="give up following it after this many seconds")] = 60.0,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> int:
    """Create a payment and follow it to its end with a live status line; exit 0 COMPLETED, 1 otherwise."""
    import httpx
    from rich.console import Console

    devcli = importlib.import_module("paygate_local.cli.listen")

    console, errors = Console(), Console(stderr=True)
    method = {"type": "wallet", "wallet_id": wallet} if wallet else {"type": "card", "token": token}
    body: dict[str, Any] = {"amount": amount, "currency": currency, "payment_method": method}
    if description:
        body["description"] = description
    try:
        url, key = devcli.gateway(state_dir, api_url, api_key)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
            payment = devcli.create_payment(api, body)
            with console.status(f"{payment['id']}: {payment['status']}") as status:
                final = devcli.follow_payment(api, payment["id"], timeout=timeout, on_status=lambda p: status.update(
                    f"{p['id']}: {p['status']}"))
            console.print(devcli.events_table(api, payment["id"]))
    except devcli.CliError as exc:
        errors.print(f"paygate pay: {exc}", highlight=False, soft_wrap=True)
        return 2
    except httpx.HTTPError as exc:
        errors.print(f"paygate pay: cannot reach the gateway: {exc}", highlight=False, soft_wrap=True)
        return 2
    if final is None:
        console.print(f"{payment['id']}: still not final after {timeout:g} s", highlight=False)
        return 1
    failure = final.get("failure") or {}
    reason = f" ({failure.get('code')}: {failure.get('message')})" if failure else ""
    console.print(f"{final['id']}: {final['status']}{reason}", highlight=False)
    return 0 if final["status"] == "COMPLETED" else 1


@app.command()
def trace(
    payment_id: Annotated[str, typer.Argument(help="the payment (pay_...)")],
    json_out: Annotated[bool, typer.Option("--json", help="the spans as JSON: trace_id, span_id, parent_span_id, "
                                                           "name, service, start, end, attributes")] = False,
    state_dir: Annotated[str, typer.Option(help="the state directory of the paygate dev that ran the payment "
                                                "(its traces/spans.jsonl)")] = DEFAULT_STATE_DIR,
) -> int:
    """One payment's trace: the waterfall of its spans across api, relay, processor, provider and webhooks."""
    from paygate_local.observability import trace as traces
    from paygate_local.runtime import TRACES_FILE

    try:
        spans = traces.payment_trace(Path(state_dir) / TRACES_FILE, payment_id)
    except traces.TraceError as exc:
        print(f"paygate trace: {exc}", file=sys.stderr)
        return 1
    if json_out:
        print(json.dumps([s.as_json() for s in spans], indent=2))
        return 0
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.width = 160  # piped: the whole waterfall, not 80 columns of it
    console.print(traces.render(spans))
    return 0


@app.command()
def logs(
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
    return cmd_logs(function=function, payment_id=payment_id, follow=follow, since=since, limit=limit,
                    json_lines=json_lines, state_dir=state_dir)


def cmd_logs(*, function: str | None, payment_id: str | None, follow: bool, since: int, limit: int | None,
             json_lines: bool, state_dir: str) -> int:
    import boto3

    from paygate_local.observability import logs as logs_mod

    info = _dev_info(state_dir)
    if info is None:
        return 2
    client = boto3.client("logs", **_client_kwargs(info["aws_endpoint_url"], info.get("region", "us-east-1")))
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


@app.command()
def dashboard(
    minutes: Annotated[int, typer.Option(help="the window: the last this many minutes")] = 60,
    name: Annotated[Optional[str], typer.Option(help="the dashboard (default: the backend's only one)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="the panels' values as JSON")] = False,
    svg: Annotated[Optional[Path], typer.Option(help="also save the view as an SVG picture here")] = None,
    grafana: Annotated[bool, typer.Option(
        "--grafana", help="print the Grafana dashboard made from template.yaml's (what docker compose provisions) "
                          "and exit; needs no gateway")] = False,
    template: Annotated[Optional[Path], typer.Option(help="with --grafana: the SAM template")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> int:
    """The template's CloudWatch dashboard (payments, processing time, retries, webhooks, errors, queue and
    DLQ depth) drawn in the terminal from the running gateway's backend."""
    from paygate_local.observability import dashboard as dash

    if grafana:
        print(json.dumps(grafana_dashboard_of(template or _repo_root() / "template.yaml"), indent=2))
        return 0
    import boto3

    info = _dev_info(state_dir)
    if info is None:
        return 2
    kwargs = _client_kwargs(info["aws_endpoint_url"], info.get("region", "us-east-1"))
    cloudwatch = boto3.client("cloudwatch", **kwargs)
    try:
        board, body = dash.load(cloudwatch, name)
    except dash.DashboardError as exc:
        print(f"paygate dashboard: {exc}", file=sys.stderr)
        return 1
    evaluator = dash.Evaluator(cloudwatch, boto3.client("logs", **kwargs), boto3.client("sqs", **kwargs),
                               minutes=minutes)
    panels = dash.evaluate(body, evaluator)
    if json_out:
        print(json.dumps({"dashboard": board, "minutes": minutes, "panels": [p.as_json() for p in panels]}, indent=2))
    else:
        from rich.console import Console

        console = Console(record=svg is not None)
        if not console.is_terminal:
            console.width = 130  # piped: two panels a row
        console.print(dash.render(board, panels, minutes))
        if svg is not None:
            console.save_svg(str(svg), title=f"paygate dashboard: {board}")
    return 0


def grafana_dashboard_of(template: Path) -> dict[str, Any]:
    """Grafana's copy of the template's dashboard, for the stack docker compose deploys (paygate, us-east-1)."""
    from paygate_local.observability import dashboard as dash
    from paygate_local.template import Stack

    stack = Stack.from_file(template, stack_name="paygate", region="us-east-1")
    (logical_id,) = stack.logical_ids("AWS::CloudWatch::Dashboard")
    return dash.grafana_dashboard(json.loads(stack.resolve(stack.properties(logical_id))["DashboardBody"]))


@app.command()
def sandbox(port: Annotated[int, typer.Option(help="the port on 127.0.0.1")] = 4010) -> int:
    """Run only the sandbox payment provider."""
    return cmd_sandbox(argparse.Namespace(port=port))


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

