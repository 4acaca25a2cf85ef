"""Start `paygate dev` as a child process and wait until it is ready (its dev.json exists).

Used by the e2e tests and the benchmark: the gateway runs exactly as `make run` runs it, in its own
process, and only the process started here is ever stopped. ``MiniStackDeployment`` is the same for
the gateway deployed into MiniStack: `paygate ministack` (as `make ministack` runs it), then `paygate
ministack deploy` (as `make deploy-ministack`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from paygate_local.devfile import DEPLOY_FILE, DEV_FILE, DeployInfo, DevInfo, GatewayInfo


class DevProcess:
    def __init__(self, state_dir: str | Path, *, port: int = 0, backend: str = "moto",
                 extra_args: Sequence[str] = (), ready_timeout: float = 90.0,
                 env: dict[str, str] | None = None, template: str | Path | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.template = Path(template) if template else None
        self.port, self.backend, self.extra_args = port, backend, list(extra_args)
        self.ready_timeout = ready_timeout
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._info: GatewayInfo | None = None

    @property
    def info(self) -> GatewayInfo:
        """What the gateway's file says (dev.json: a ``DevInfo``; a MiniStackDeployment's: a ``DeployInfo``)."""
        if self._info is None:
            raise RuntimeError(f"{self.info_file} is not read yet: start() first")
        return self._info

    @property
    def log_path(self) -> Path:
        return self.state_dir / "paygate-dev.out"

    @property
    def info_file(self) -> Path:
        """dev.json: what ``info`` was read from."""
        return self.state_dir / DEV_FILE

    def start(self) -> "DevProcess":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        dev_file = self.state_dir / DEV_FILE
        dev_file.unlink(missing_ok=True)
        root = Path(__file__).resolve().parents[2]
        command = [sys.executable, "-m", "paygate_local.cli", "dev", "--port", str(self.port),
                   "--state-dir", str(self.state_dir), "--backend", self.backend,
                   "--template", str(self.template or root / "template.yaml"), *self.extra_args]
        out = self.log_path.open("wb")
        self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=root,
                                        env={**os.environ, **(self.env or {})})
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"paygate dev exited with {self.process.returncode}:\n{self.output()}")
            if dev_file.exists():
                self._info = DevInfo.read(dev_file)
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MiniStackDeployment(DevProcess):
    """`paygate ministack` in its own process (MiniStack on a free port and the sandbox provider), then
    `paygate ministack deploy` of template.yaml into it with ``deploy_args``; ``info`` is the deploy's
    ministack.json. ``stop()`` ends the process started here, which stops its MiniStack."""

    def __init__(self, state_dir: str | Path, deploy_args: Sequence[str] = (), *, ready_timeout: float = 120.0,
                 deploy_timeout: float = 600.0) -> None:
        super().__init__(state_dir, backend="ministack", extra_args=deploy_args, ready_timeout=ready_timeout)
        self.deploy_timeout = deploy_timeout

    @property
    def log_path(self) -> Path:
        return self.state_dir / "paygate-ministack.out"

    @property
    def info_file(self) -> Path:
        return self.state_dir / DEPLOY_FILE

    def _paygate(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "paygate_local.cli", "ministack", *args, "--state-dir", str(self.state_dir)]

    def start(self) -> "MiniStackDeployment":
        from paygate_local.backends.ministack import SERVER_FILE

        self.state_dir.mkdir(parents=True, exist_ok=True)
        server_file = self.state_dir / "ministack" / SERVER_FILE
        root = Path(__file__).resolve().parents[2]
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(self._paygate("--port", str(free_port())), stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root)
        deadline = time.monotonic() + self.ready_timeout
        while not server_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"paygate ministack was not ready:\n{self.output()}")
            time.sleep(0.1)
        deploy = subprocess.run([*self._paygate("deploy"), *self.extra_args], cwd=root, capture_output=True,
                                text=True, timeout=self.deploy_timeout)
        if deploy.returncode != 0:
            self.stop()
            raise RuntimeError(f"paygate ministack deploy failed ({deploy.returncode}):\n{deploy.stdout[-6000:]}\n"
                               f"{deploy.stderr[-4000:]}\n{self.output()}")
        self._info = DeployInfo.read(self.info_file)
        return self
