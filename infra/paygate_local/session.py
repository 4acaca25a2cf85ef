"""The dev session: what `paygate dev` runs, from its state directory to its stop.

``DevSession(options).start()`` opens the state file, starts the sandbox provider (on the port it had),
the local runtime on the chosen backend (it restores what the state file kept), points the sandbox's
callbacks at the gateway, makes or finds the sandbox merchant, and writes dev.json (``DevInfo``) last,
so that dev.json exists only while everything answers. ``stop()`` removes dev.json and stops the runtime
gracefully; ``close()`` releases whatever was started. ``run()`` is the whole of `paygate dev`: all of
that around the wait for SIGINT or SIGTERM (a second one stops at once).
"""

from __future__ import annotations

import faulthandler
import json
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paygate_local.devfile import DevInfo, dev_file
from paygate_local.foreground import wait_for_stop
from paygate_local.merchants import create_merchant, merchants_repository

SANDBOX_B = "sandbox-b"
STOP_REPORT_SECONDS = 40.0  # a stop still going on after this prints every thread's stack


@dataclass(frozen=True)
class DevOptions:
    """`paygate dev`'s options."""

    template: Path
    state_dir: Path
    port: int = 3000  # the API's, on 127.0.0.1; 0 picks a free one
    backend: str = "moto"  # moto, localstack, or an endpoint URL
    provider_port: int = 0  # the sandbox provider's; 0: the one it had last time, else a free one
    reset: bool = False  # forget the saved state first
    max_workers: int | None = None  # concurrent invocations of an API function
    parameters: dict[str, str] = field(default_factory=dict)  # template parameter overrides
    reload: bool = True  # hot reload of the functions' code and of template.yaml
    debug: tuple[str, ...] = ()  # functions (logical ids) run under debugpy
    debug_wait: bool = False  # their workers wait for a debugger client before their init
    faults: Path | None = None  # fault rules to start with (the chaos API's JSON, or YAML)


class DevSession:
    def __init__(self, options: DevOptions) -> None:
        self.options = options
        self.state_dir = options.state_dir.resolve()
        self.dev_file = dev_file(self.state_dir)
        self.stopping = threading.Event()
        self.state: Any = None  # the StateFile
        self.sandbox: Any = None  # the SandboxProvider
        self.sandbox_b: Any = None  # the second one (provider id sandbox-b)
        self.runtime: Any = None  # the LocalRuntime
        self.controls: Any = None  # the DevControls: hot reload, debugger, faults
        self.info: DevInfo | None = None

    def start(self) -> DevInfo:
        """Everything up and answering, then dev.json written; its content."""
        from paygate_local.controls.dev import DevControls
        from paygate_local.observability import counters
        from paygate_local.runtime import TRACES_FILE, LocalRuntime
        from paygate_local.statefile import FILE_NAME, StateFile

        options, state_dir = self.options, self.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.dev_file.unlink(missing_ok=True)  # written again only when everything is ready
        if options.reset:
            reset_state(state_dir)
        self.state = state = StateFile(state_dir / FILE_NAME)
        self.sandbox = sandbox = start_sandbox(options.provider_port, state, state_dir / TRACES_FILE)
        # A second sandbox with its own charges (its records under their own names in the state file):
        # the failover target of a routing such as {"default": ["sandbox", "sandbox-b"]}.
        self.sandbox_b = sandbox_b = start_sandbox(0, NamedState(state, SANDBOX_B), state_dir / TRACES_FILE,
                                                   port_key=f"{SANDBOX_B}.port")
        providers = {"sandbox": sandbox.url, SANDBOX_B: sandbox_b.url}
        overrides = {"Mode": "dev", "ProviderUrl": sandbox.url, "ProviderUrls": json.dumps({SANDBOX_B: sandbox_b.url}),
                     **options.parameters}
        sizing = {"max_workers_per_function": options.max_workers} if options.max_workers else {}
        metering = counters.meter_dir(state_dir) if counters.metering_requested() else None  # PAYGATE_METER=1
        self.runtime = runtime = LocalRuntime(
            options.template.resolve(), state_dir, backend=options.backend, parameter_overrides=overrides,
            api_port=options.port, meter_dir=metering, state=state, providers={"sandbox": sandbox.url}, **sizing)
        self.controls = controls = DevControls(reload=options.reload, debug=options.debug,
                                               debug_wait=options.debug_wait, faults_file=options.faults)
        runtime.debug = controls.runtime_options({f.logical_id: f for f in runtime.stack.functions()},
                                                 runtime.lambda_envs_dir)
        runtime.start()
        controls.attach(runtime, say)
        # tok_async charges are settled by the sandbox calling the gateway back, signed with the
        # template's ProviderCallbackSecret (the sandbox's default unless overridden).
        secret = runtime.stack.parameters.get("ProviderCallbackSecret") or None
        sandbox.set_callback(f"{runtime.api_url}/callbacks/sandbox", secret)
        sandbox_b.set_callback(f"{runtime.api_url}/callbacks/{SANDBOX_B}", secret)
        env = runtime.env_for(runtime.api_function_ids()[0])
        region = env.get("AWS_REGION", "us-east-1")
        merchant = sandbox_merchant(state, options.backend, merchants_table=env["MERCHANTS_TABLE"],
                                    endpoint=runtime.aws_endpoint_url, region=region)
        self.info = DevInfo(
            api_url=runtime.api_url, api_key=merchant["api_key"], merchant_id=merchant["merchant_id"],
            aws_endpoint_url=runtime.aws_endpoint_url, provider_url=sandbox.url, providers=providers,
            backend=options.backend,
            parameters={k: v for k, v in overrides.items() if k != "ProviderCallbackSecret"}, region=region,
            merchants_table=env["MERCHANTS_TABLE"], logs_dir=str(state_dir / "logs"), state_file=str(state.path),
            pid=os.getpid(), **controls.info())
        controls.wait_ready()
        self.info.write(self.dev_file)
        return self.info

    def ready_message(self) -> str:
        info, restored = self.info, self.runtime.restored
        assert info is not None
        kept = (f"  state:    {info.state_file} (restored {restored.items} items, {restored.messages} queued "
                f"messages, {restored.stream_records} stream records in {restored.seconds:.2f} s)\n"
                if restored is not None and restored.items else f"  state:    {info.state_file}\n")
        controls = "".join(f"{line}\n" for line in self.controls.lines()) if self.controls else ""
        return (f"{controls}paygate dev is ready\n  API:      {info.api_url}\n  API key:  {info.api_key}\n"
                f"  merchant: {info.merchant_id}\n  AWS:      {info.aws_endpoint_url}\n"
                f"  provider: {info.provider_url} (sandbox-b: {info.providers.get(SANDBOX_B)})\n"
                f"  logs:     {info.logs_dir}\n{kept}"
                f"  ({self.dev_file}; Ctrl-C stops, and a restart with the same --state-dir carries on)")

    def stop(self) -> float:
        """dev.json removed, then what is under way finished and the state saved; the seconds it took."""
        self.dev_file.unlink(missing_ok=True)
        # A stop is bounded (GRACE_SECONDS, then everything is cut off); should it still be going on
        # well after that, say what every thread is doing rather than hang in silence.
        faulthandler.dump_traceback_later(STOP_REPORT_SECONDS, exit=False, file=sys.stderr)
        began = time.monotonic()
        if self.controls is not None:
            self.controls.stop()
        if self.runtime is not None:
            self.runtime.stop(graceful=True)
        return time.monotonic() - began

    def close(self) -> None:
        """Whatever was started, stopped at once (after ``stop()``, what is left of it)."""
        self.dev_file.unlink(missing_ok=True)
        try:
            if self.controls is not None:
                self.controls.stop()
            if self.runtime is not None:
                self.runtime.stop()
            for provider in (self.sandbox, self.sandbox_b):
                if provider is not None:
                    provider.stop()
            if self.state is not None:
                self.state.close()
        finally:
            faulthandler.cancel_dump_traceback_later()

    def on_signal(self, signum: int, frame: Any) -> None:
        if self.stopping.is_set():  # the second Ctrl-C: at once (what was accepted resumes from the last checkpoint)
            print("paygate dev: stopping at once; the next start resumes from the last checkpoint",
                  file=sys.stderr, flush=True)
            self.dev_file.unlink(missing_ok=True)
            os._exit(130)
        self.stopping.set()

    def run(self) -> int:
        """`paygate dev`: start, say so, wait for SIGINT or SIGTERM, stop; its exit status."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.on_signal)
        try:
            self.start()
            print(self.ready_message(), flush=True)
            wait_for_stop(self.stopping)
            print("paygate dev: stopping: finishing what is under way (Ctrl-C again stops at once)", flush=True)
            seconds = self.stop()
            print(f"paygate dev: stopped in {seconds:.1f} s; state saved", flush=True)
        finally:
            self.close()
        return 0

    def __enter__(self) -> DevSession:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def say(line: str) -> None:
    """What the runtime controls tell the developer (a reload, a template that needs a restart)."""
    print(line, file=sys.stderr, flush=True)


def reset_state(state_dir: Path) -> None:
    """``paygate dev --reset``: forget every saved state (the logs stay)."""
    from paygate_local.statefile import FILE_NAME

    for suffix in ("", "-wal", "-shm"):
        (state_dir / (FILE_NAME + suffix)).unlink(missing_ok=True)
    shutil.rmtree(state_dir / "localstack" / "state", ignore_errors=True)


class NamedState:
    """A view of the state file whose sandbox records are kept under a prefix: a second sandbox's
    charges, keys and refunds apart from the first's."""

    def __init__(self, state: Any, name: str) -> None:
        self.state, self.prefix = state, f"{name}:"

    def put_sandbox(self, kind: str, record_id: str, record: dict[str, Any]) -> None:
        self.state.put_sandbox(self.prefix + kind, record_id, record)

    def sandbox_records(self) -> Any:
        for kind, record_id, record in self.state.sandbox_records():
            if kind.startswith(self.prefix):
                yield kind[len(self.prefix):], record_id, record


def start_sandbox(port: int, state: Any, traces_file: Path | None = None, *, port_key: str = "sandbox.port") -> Any:
    """A sandbox provider with its saved charges, on the port it had (so that a restart changes
    nothing a function was told), or any free port when that one is taken now."""
    from sandbox_provider import SandboxProvider

    saved = state.state if isinstance(state, NamedState) else state
    wanted = port or saved.get(port_key) or 0
    try:
        sandbox = SandboxProvider(port=wanted, store=state, traces_file=traces_file).start()
    except OSError:
        if port or not wanted:
            raise
        print(f"paygate dev: note: the sandbox provider's port {wanted} is taken; it gets another",
              file=sys.stderr, flush=True)
        sandbox = SandboxProvider(port=0, store=state, traces_file=traces_file).start()
    saved.set(port_key, sandbox.port)
    return sandbox


def sandbox_merchant(state: Any, backend: str, **where: str) -> dict[str, str]:
    """The sandbox merchant and its key: the same across restarts on the same backend (the key is kept
    in the state file, beside dev.json that shows it); made anew when the backend has no such merchant."""
    from paygate.domain.accounts import hash_api_key

    name = f"sandbox.merchant.{backend}"
    saved = state.get(name)
    if saved and merchants_repository(**where).by_key_hash(hash_api_key(saved["api_key"])) is not None:
        return saved
    merchant = create_merchant("sandbox", **where)
    state.set(name, merchant)
    return merchant
