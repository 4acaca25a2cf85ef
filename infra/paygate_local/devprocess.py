"""Start `paygate dev` as a child process and wait until it is ready (its dev.json exists).

Used by the e2e tests and the benchmark: the gateway runs exactly as `make run` runs it, in its own
process, and only the process started here is ever stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from paygate_local.cli import DEV_FILE


class DevProcess:
    def __init__(self, state_dir: str | Path, *, port: int = 0, backend: str = "moto",
                 extra_args: Sequence[str] = (), ready_timeout: float = 90.0,
                 env: dict[str, str] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.port, self.backend, self.extra_args = port, backend, list(extra_args)
        self.ready_timeout = ready_timeout
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    @property
    def log_path(self) -> Path:
        return self.state_dir / "paygate-dev.out"

    def start(self) -> "DevProcess":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        dev_file = self.state_dir / DEV_FILE
        dev_file.unlink(missing_ok=True)
        root = Path(__file__).resolve().parents[2]
        command = [sys.executable, "-m", "paygate_local.cli", "dev", "--port", str(self.port),
                   "--state-dir", str(self.state_dir), "--backend", self.backend,
                   "--template", str(root / "template.yaml"), *self.extra_args]
        out = self.log_path.open("wb")
        self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=root,
                                        env={**os.environ, **(self.env or {})})
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"paygate dev exited with {self.process.returncode}:\n{self.output()}")
            if dev_file.exists():
                self.info = json.loads(dev_file.read_text())
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"paygate dev was not ready in {self.ready_timeout}s:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> "DevProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
