"""MiniStack on this machine, without Docker: the real SAM deploy of template.yaml, functions and all.

``paygate ministack`` (``make ministack``) starts MiniStack from ``localstack/.state/ministack`` (a
Python 3.12 venv with MiniStack and aws-sam-translator pinned by localstack/requirements-ministack.lock,
made by localstack/setup-deployer.sh) on ``127.0.0.1:4567``, and the sandbox provider beside it, and
writes ``<state-dir>/ministack/server.json`` once both answer. It runs in the foreground; Ctrl-C (or
SIGTERM) stops MiniStack and what it started, by MiniStack's pid only, as LocalStack's host mode does.

``paygate ministack deploy`` (``make deploy-ministack``) deploys the unmodified template into it with
the compose path's deployer (localstack/deploy.py: ``sam build`` + ``sam deploy``, its checks, a sandbox
merchant), with ``ProviderUrl`` the sandbox on the host, then tells the sandbox where the gateway's
callbacks go and writes ``<state-dir>/ministack.json``: the fields of ``paygate dev``'s dev.json
(``api_url``, ``api_key``, ``merchant_id``, ``aws_endpoint_url``, ``provider_url``, ``merchants_table``...).

MiniStack's CloudFormation applies the SAM transform with aws-sam-translator and runs each Python
function as a warm local process on its own interpreter (hence Python 3.12, the template's runtime:
the layer's compiled wheels are built for it). With ``--persist`` it keeps its state in
``<state-dir>/ministack/state`` across restarts, with a caveat: it saves the stream offsets of its
event source mappings but not the stream records, so records written just before a stop are skipped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from paygate_local.backends.localstack import health
from paygate_local.backends.localstack_setup import LOCALSTACK_DIR, localstack_home
from paygate_local.backends.processes import log_tail, port_in_use, start_server, stop_process_tree
from paygate_local.foreground import wait_for_stop, write_json_atomically

DEFAULT_PORT = 4567  # not LocalStack's 4566: both may run on one machine
SERVER_FILE = "server.json"  # <state-dir>/ministack/: the running MiniStack and sandbox
DEPLOY_FILE = "ministack.json"  # <state-dir>/: the deployed gateway, dev.json's fields
SETUP_SCRIPT = LOCALSTACK_DIR / "setup-deployer.sh"
DEPLOY_PY = LOCALSTACK_DIR / "deploy.py"
REPO_ROOT = LOCALSTACK_DIR.parent
# What MiniStack keeps of our environment; its functions inherit its environment, so nothing of a
# developer's (PYTHONPATH, an AWS profile) leaks into them.
_KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME")


class MiniStackError(RuntimeError):
    """MiniStack could not be started, found healthy, or deployed into."""


class MiniStackHost:
    """MiniStack on ``127.0.0.1:port``, started (and owned) here, its files under ``root``."""

    def __init__(self, root: str | Path, port: int = DEFAULT_PORT, *, persist: bool = False,
                 start_timeout: float = 60.0) -> None:
        self.root = Path(root).resolve()
        self.port = int(port)
        self.persist = persist
        self.start_timeout = start_timeout
        self.venv = localstack_home() / "ministack"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "ministack.log"

    def environment(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
        env.setdefault("PATH", os.defpath)
        env.update({
            "BIND_HOST": "127.0.0.1", "GATEWAY_PORT": str(self.port),
            "MINISTACK_HOST": "127.0.0.1",  # the host in the URLs it hands out (queue URLs...)
            "TMPDIR": str(self.root / "tmp"),  # its functions' code and its pid file
            "S3_DATA_DIR": str(self.root / "s3"), "STATE_DIR": str(self.root / "state"),
            "PERSIST_STATE": "1" if self.persist else "0",
            "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
        })
        return env

    def start(self) -> str:
        """Start MiniStack and wait until its CloudFormation answers; returns its URL."""
        executable = self.venv / "bin" / "ministack"
        if not executable.exists():
            raise MiniStackError(f"{executable} is missing: run `bash {SETUP_SCRIPT}` (make localstack-setup)")
        if port_in_use(self.port):
            raise MiniStackError(f"127.0.0.1:{self.port} is in use; stop what listens there or pick another "
                                 f"port (--port N, make ministack MINISTACK_PORT=N)")
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.process = start_server([str(executable)], cwd=self.root, env=self.environment(), out=out)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            document = health(self.url, timeout=2.0, path="/_ministack/health")
            if (document or {}).get("services", {}).get("cloudformation") == "available":
                return
            if self.process is not None and self.process.poll() is not None:
                raise MiniStackError(f"MiniStack exited with {self.process.returncode}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise MiniStackError(f"MiniStack did not answer on {self.url} in {self.start_timeout:.0f} s\n"
                                     f"{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM MiniStack's process group (it ends its function processes), then SIGKILL what is left."""
        process, self.process = self.process, None
        if process is not None:
            stop_process_tree(process, "MiniStack", timeout)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def __enter__(self) -> MiniStackHost:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ------------------------------------------------------------------------------------ paygate ministack


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_json_atomically(path, data)


def prepare() -> None:
    """localstack/setup-deployer.sh: the deployer and MiniStack venvs (quick once done)."""
    result = subprocess.run(["bash", str(SETUP_SCRIPT)], stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise MiniStackError(f"{SETUP_SCRIPT} failed ({result.returncode}); see above")


def serve(state_dir: Path, port: int, provider_port: int, persist: bool) -> int:
    """MiniStack and the sandbox provider until SIGINT or SIGTERM."""
    from sandbox_provider import SandboxProvider

    root = state_dir / "ministack"
    server_file = root / SERVER_FILE
    server_file.unlink(missing_ok=True)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stopping.set())
    prepare()
    ministack = MiniStackHost(root, port, persist=persist)
    began = time.monotonic()
    ministack.start()
    try:
        with SandboxProvider(port=provider_port) as sandbox:
            info = {"aws_endpoint_url": ministack.url, "provider_url": sandbox.url, "pid": os.getpid(),
                    "ministack_pid": ministack.process.pid, "log": str(ministack.log_path),
                    "persist": persist}
            _write_json(server_file, info)
            print(f"MiniStack is ready in {time.monotonic() - began:.1f} s\n"
                  f"  AWS:      {ministack.url}  (aws --endpoint-url {ministack.url} ...)\n"
                  f"  provider: {sandbox.url}\n  log:      {ministack.log_path}\n"
                  f"  ({server_file}; `make deploy-ministack` deploys template.yaml into it; Ctrl-C stops)",
                  flush=True)
            wait_for_stop(stopping)
            print("paygate ministack: stopping", flush=True)
    finally:
        server_file.unlink(missing_ok=True)
        ministack.stop()
    return 0


def _set_sandbox_callback(provider_url: str, callback_url: str, secret: str | None) -> None:
    body = json.dumps({"url": callback_url, **({"secret": secret} if secret else {})}).encode()
    request = urllib.request.Request(f"{provider_url}/callback", data=body, method="PUT",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def deploy(state_dir: Path, stack_name: str, parameters: list[tuple[str, str]]) -> int:
    """localstack/deploy.py into the running MiniStack, then the sandbox's callback and ministack.json."""
    root = state_dir / "ministack"
    try:
        server = json.loads((root / SERVER_FILE).read_text())
    except (OSError, ValueError):
        print(f"paygate ministack deploy: {root / SERVER_FILE} not found: start MiniStack first "
              f"(`make ministack`, or `paygate ministack --state-dir {state_dir}`)", file=sys.stderr)
        return 2
    prepare()
    deployer = localstack_home() / "deployer" / "bin"
    out = root / "deployed.json"
    out.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PAYGATE_", "PYTHON"))}
    env.update({"PATH": f"{deployer}{os.pathsep}{env.get('PATH', os.defpath)}", "SAM_CLI_TELEMETRY": "0"})
    overrides = dict(parameters)
    command = [str(deployer / "python"), str(DEPLOY_PY), "--endpoint", server["aws_endpoint_url"],
               "--stack-name", stack_name, "--out", str(out),
               "--build-dir", str(root / "build"), "--sam-cache-dir", str(root / "sam-cache"),
               "--parameter", f"ProviderUrl={server['provider_url']}",
               *[arg for name, value in overrides.items() for arg in ("--parameter", f"{name}={value}")]]
    began = time.monotonic()
    if subprocess.run(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL).returncode != 0:
        print(f"paygate ministack deploy: localstack/deploy.py failed (see above; MiniStack's log: {server['log']})",
              file=sys.stderr)
        return 1
    info = json.loads(out.read_text())
    # tok_async results come back through the deployed API, signed with ProviderCallbackSecret.
    _set_sandbox_callback(server["provider_url"], f"{info['api_url']}/callbacks/sandbox",
                          overrides.get("ProviderCallbackSecret"))
    info.update({"backend": "ministack", "providers": {"sandbox": server["provider_url"]},
                 "parameters": {"Mode": "dev", "ProviderUrl": server["provider_url"],
                 **{k: v for k, v in overrides.items() if k != "ProviderCallbackSecret"}},
                 "ministack_log": server["log"], "deploy_seconds": round(time.monotonic() - began, 1)})
    _write_json(state_dir / DEPLOY_FILE, info)
    print(f"paygate ministack deploy: deployed in {info['deploy_seconds']} s; {state_dir / DEPLOY_FILE}", flush=True)
    return 0

