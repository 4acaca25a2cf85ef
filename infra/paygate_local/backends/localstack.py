"""LocalStack on this machine, without Docker: the AWS backend of ``paygate dev --backend localstack``.

``LocalStackHost(state_root).ensure()`` returns the endpoint URL. If something already answers
``http://127.0.0.1:<port>/_localstack/health`` (a LocalStack in Docker, or one a developer started),
it is used and never stopped. Otherwise ``localstack/setup-host.sh`` prepares the machine if needed
(``localstack_setup``), and ``python -m localstack.runtime.main`` is started from that venv, in its own
process group, with its output in ``<state_root>/localstack.log``; ``stop()`` ends it and everything
it started (``processes``).

What runs there: DynamoDB, DynamoDB Streams, SQS, CloudWatch, Logs and SNS (``SERVICES``). Lambda and
event source mappings do not: the local runtime still runs the functions, as it does with moto.
DynamoDB is DynamoDB Local (Java), with its own streams (see ``_streams_provider_env`` for why
not LocalStack's default, kinesis-backed ones).

Everything listens on 127.0.0.1 only. LocalStack's default gateway server ignores the host part of
GATEWAY_LISTEN, DynamoDB Local has no bind-address option (LocalStack passes only ``-port``) and
kinesis-mock hard-codes ``0.0.0.0``; so the process tree runs with ``LD_PRELOAD`` of a small shim
(``localstack/host/loopback_bind.c``) that turns a wildcard bind into a loopback bind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterable, TextIO

from paygate_local.backends.localstack_setup import (
    SETUP_SCRIPT,
    LocalStackError,
    localstack_home,
    run_setup,
    setup_needed,
)
from paygate_local.backends.processes import log_tail, port_in_use, start_server, start_time, stop_process_tree

log = logging.getLogger(__name__)

DEFAULT_PORT = 4566
# The account LocalStack puts everything in for the access key "test" (a 12-digit access key would
# be taken as the account id instead). ARNs the runtime resolves from the template must name it:
# a RedrivePolicy naming another account's DLQ makes ReceiveMessage fail with NonExistentQueue as
# soon as a message is due for the DLQ.
ACCOUNT_ID = "000000000000"
SERVICES = ("dynamodb", "dynamodbstreams", "sqs", "cloudwatch", "logs", "sns")
READY = ("available", "running")
KINESIS_MOCK_VERSION = "0.5.2"  # what setup-host.sh installs; LocalStack must not look for another
_STDERR = object()  # LocalStackHost(progress=...)'s default: sys.stderr when the host is made

# The environment variables the LocalStack process keeps from ours; nothing else leaks in
# (a developer's PYTHONPATH, AWS profile or LOCALSTACK_AUTH_TOKEN has no business there).
_KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "USER", "LOGNAME")


def health(url: str, timeout: float = 1.0, path: str = "/_localstack/health") -> dict[str, Any] | None:
    """LocalStack's health document (MiniStack's at ``/_ministack/health``), or None when nothing (or
    something else) answers."""
    try:
        with urllib.request.urlopen(f"{url}{path}", timeout=timeout) as response:
            document = json.loads(response.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return document if isinstance(document, dict) and isinstance(document.get("services"), dict) else None


def missing_services(document: dict[str, Any] | None, services: Iterable[str]) -> list[str]:
    """The wanted services that the health document does not report available or running."""
    states = (document or {}).get("services") or {}
    return [name for name in services if states.get(name) not in READY]


class LocalStackHost:
    """A LocalStack for this process: an existing one on ``port``, or one started (and owned) here."""

    def __init__(
        self,
        state_root: str | Path,
        port: int = DEFAULT_PORT,
        *,
        services: Iterable[str] = SERVICES,
        start_timeout: float = 90.0,
        setup_timeout: float = 900.0,
        streams_provider: str = "v2",
        extra_env: dict[str, str] | None = None,
        progress: TextIO | None | object = _STDERR,
        keep_state: bool = False,
    ):
        self.state_root = Path(state_root).resolve()
        self.port = int(port)
        self.services = tuple(services)
        self.start_timeout = start_timeout
        self.setup_timeout = setup_timeout
        if streams_provider not in ("v1", "v2"):
            raise ValueError(f"streams_provider must be 'v1' or 'v2', got {streams_provider!r}")
        self.streams_provider = streams_provider
        self.extra_env = dict(extra_env or {})
        # keep_state: what LocalStack holds is kept across its restarts (paygate dev's state dir):
        # DynamoDB Local and kinesis-mock keep their files, paygate's LocalStack plugin saves the rest
        # when LocalStack stops and loads it when it starts (localstack/host/paygate-state).
        self.keep_state = keep_state
        # Where setup-host.sh's lines are shown as they come: our stderr unless told (None: nowhere).
        self.progress = sys.stderr if progress is _STDERR else progress
        self.home = localstack_home()
        self.process: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    # ---------------------------------------------------------------- facts

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def owned(self) -> bool:
        """True when this object started the LocalStack it uses (and so ``stop()`` ends it)."""
        return self.process is not None

    @property
    def venv_python(self) -> Path:
        return self.home / "venv" / "bin" / "python"

    @property
    def filesystem_root(self) -> Path:
        return self.state_root / "filesystem"

    @property
    def log_path(self) -> Path:
        return self.state_root / "localstack.log"

    def health(self) -> dict[str, Any] | None:
        return health(self.url)

    # ---------------------------------------------------------------- setup

    def setup_needed(self) -> bool:
        return setup_needed(self.state_root, self.home)

    def setup(self) -> None:
        """Run localstack/setup-host.sh for this state root (``localstack_setup.run_setup``)."""
        run_setup(self.state_root, self.home, timeout=self.setup_timeout, progress=self.progress)

    # ---------------------------------------------------------------- lifecycle

    def ensure(self) -> str:
        """A healthy LocalStack on ``url``: the one that answers already, else one started here."""
        if self.process is not None:
            return self.url
        began = time.monotonic()
        self._wait_for_previous()
        document = self.health()
        if document is None and port_in_use(self.port):
            # Something holds the port: perhaps a LocalStack that is still starting. Give it time.
            document = self._wait_healthy(time.monotonic() + self.start_timeout, process=None)
            if document is None:
                raise LocalStackError(f"127.0.0.1:{self.port} is in use by something that does not answer "
                                      f"/_localstack/health; stop it or choose another port")
        if document is not None:
            missing = missing_services(document, self.services)
            if missing:
                document = self._wait_services(time.monotonic() + self.start_timeout)
                missing = missing_services(document, self.services)
            if missing:
                raise LocalStackError(f"the LocalStack on {self.url} does not offer {', '.join(missing)} "
                                      f"(its SERVICES setting?)")
            log.info("using the LocalStack that already runs on %s (version %s)", self.url,
                     document.get("version"))
            return self.url
        if self.setup_needed():
            self.setup()
        self._start()
        try:
            document = self._wait_healthy(time.monotonic() + self.start_timeout, process=self.process)
            if document is None:
                raise LocalStackError(f"LocalStack did not answer on {self.url} within "
                                      f"{self.start_timeout:.0f} s\n{self._log_tail()}")
            if missing_services(document, self.services):
                document = self._wait_services(time.monotonic() + self.start_timeout)
                missing = missing_services(document, self.services)
                if missing:
                    raise LocalStackError(f"LocalStack started without {', '.join(missing)}\n{self._log_tail()}")
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        log.info("LocalStack %s started on %s in %.1f s (pid %d, log %s)", document.get("version"), self.url,
                 self.startup_seconds, self.process.pid, self.log_path)
        return self.url

    @property
    def owner_file(self) -> Path:
        """The LocalStack this state root last started: its pid and start time, while it runs."""
        return self.state_root / "localstack.pid"

    def _wait_for_previous(self, timeout: float = 60.0) -> None:
        """A LocalStack this state root started before may still be stopping (its paygate dev died and
        it got SIGTERM: it is saving its state). Wait for it to go rather than take it for another one."""
        try:
            owner = json.loads(self.owner_file.read_text())
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + timeout
        while start_time(owner["pid"]) == owner["start"]:
            if time.monotonic() > deadline:
                raise LocalStackError(f"the LocalStack this state directory started before (pid {owner['pid']}) "
                                      f"is still running after {timeout:.0f} s; stop it first")
            time.sleep(0.1)
        self.owner_file.unlink(missing_ok=True)

    def environment(self) -> dict[str, str]:
        """The complete environment of the LocalStack process."""
        env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
        env.setdefault("PATH", os.defpath)
        shim = self.home / "build" / "loopback_bind.so"
        env.update({
            "OVERRIDE_IN_DOCKER": "0",  # these machines have /.dockerenv; LocalStack must not believe it
            "FILESYSTEM_ROOT": str(self.filesystem_root),
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",
            "SERVICES": ",".join(self.services),
            # Start them all before the gateway answers: health then means ready, and the first
            # CreateTable does not pay DynamoDB Local's JVM start (seconds) inside a client timeout.
            "EAGER_SERVICE_LOADING": "1",
            "DNS_ADDRESS": "0",  # no DNS server (it would bind port 53)
            "DISABLE_EVENTS": "1",  # no analytics
            "SKIP_SSL_CERT_DOWNLOAD": "1",  # the self-signed certificate will do; no network anyway
            "SQS_ENDPOINT_STRATEGY": "path",  # http://127.0.0.1:4566/queue/<region>/<account>/<name>
            "SQS_DISABLE_CLOUDWATCH_METRICS": "1",  # no internal PutMetricData per SQS call
            **_streams_provider_env(self.streams_provider),
            "LD_PRELOAD": str(shim),  # every listening socket on 127.0.0.1 (see the module docstring)
            "PYTHONUNBUFFERED": "1",
            **self._state_env(),
        })
        env.update(self.extra_env)
        return env

    @property
    def saved_state_dir(self) -> Path:
        """Where paygate's plugin saves LocalStack's stores (beside its data directory)."""
        return self.state_root / "state"

    def _state_env(self) -> dict[str, str]:
        if not self.keep_state:
            return {"DYNAMODB_IN_MEMORY": "1", "PERSISTENCE": "0"}  # state lives as long as the process
        return {
            "PERSISTENCE": "1",  # DynamoDB Local keeps its database file (items and streams) in the data dir
            "PAYGATE_LOCALSTACK_STATE": str(self.saved_state_dir),
        }

    def _start(self) -> None:
        self.state_root.mkdir(parents=True, exist_ok=True)
        self.filesystem_root.mkdir(parents=True, exist_ok=True)
        # LocalStack's own tmp dir holds what a previous run left (its state lives as long as the process).
        shutil.rmtree(self.filesystem_root / "tmp", ignore_errors=True)
        if not self.venv_python.exists():
            raise LocalStackError(f"{self.venv_python} is missing: run {SETUP_SCRIPT}")
        with open(self.log_path, "wb") as out:
            self.process = start_server([str(self.venv_python), "-m", "localstack.runtime.main"],
                                        cwd=self.state_root, env=self.environment(), out=out)
        self.owner_file.write_text(json.dumps({"pid": self.process.pid, "start": start_time(self.process.pid)}))
        log.info("starting LocalStack (pid %d) on %s, log %s", self.process.pid, self.url, self.log_path)

    def _wait_healthy(self, deadline: float, process: subprocess.Popen | None) -> dict[str, Any] | None:
        while True:
            document = self.health()
            if document is not None:
                return document
            if process is not None and process.poll() is not None:
                raise LocalStackError(f"LocalStack exited with {process.returncode} before it was healthy\n"
                                      f"{self._log_tail()}")
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def _wait_services(self, deadline: float) -> dict[str, Any] | None:
        while True:
            document = self.health()
            if not missing_services(document, self.services) or time.monotonic() > deadline:
                return document
            time.sleep(0.2)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the LocalStack started here (it stops DynamoDB Local and kinesis-mock itself), wait,
        then SIGKILL whatever of its process tree is left. Does nothing for a LocalStack not started here."""
        process, self.process = self.process, None
        if process is None:
            return
        stop_process_tree(process, "LocalStack", timeout)
        self.owner_file.unlink(missing_ok=True)
        log.info("LocalStack stopped")

    def __enter__(self) -> LocalStackHost:
        self.ensure()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)


def _streams_provider_env(provider: str) -> dict[str, str]:
    """How LocalStack implements DynamoDB Streams.

    ``v2`` (PROVIDER_OVERRIDE_DYNAMODB/DYNAMODBSTREAMS=v2, the default here): DynamoDB Local's own
    streams, no kinesis-mock, about twice the write throughput, ENABLED at once, and kept in DynamoDB
    Local's database file as each write is, so a restart loses no record (kinesis-mock saves only on
    an interval, never when it stops). Its records lose the type of an empty map: ``{"M": {}}`` in the
    item is ``{}`` in the stream's images (LocalStack 2026.3.0 with DynamoDB Local 2026-05-28), which
    the relay's decoder reads back as the empty map (``paygate.adapters.dynamodb.items.stream_image``).
    ``v1`` (LocalStack's own default): each table's stream is forwarded into a kinesis-mock stream.
    Writes made while that stream is still CREATING are lost, so provisioning waits for ENABLED
    (``provision.wait_table_stream_ready``); KINESIS_LATENCY=0 makes the window as short as it gets.
    """
    if provider == "v2":
        return {"PROVIDER_OVERRIDE_DYNAMODB": "v2", "PROVIDER_OVERRIDE_DYNAMODBSTREAMS": "v2"}
    return {"KINESIS_MOCK_VERSION": KINESIS_MOCK_VERSION, "KINESIS_LATENCY": "0", "KINESIS_PERSISTENCE": "0"}

