"""`paygate dev`'s runtime controls, together: hot reload (``reload.py``), the debugger, and the chaos
API (``faults.py``, served by ``server.py`` at dev.json's ``control_url``).

``DevControls(options)`` checks the options against the template before anything starts
(``runtime_options``: what the LocalRuntime needs for them), ``attach(runtime)`` puts them in place
once the runtime runs, ``info()`` is what dev.json gains, ``lines()`` what `paygate dev` prints.
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path
from typing import Any

from paygate_local.controls.faults import Faults, RuleError, load_file

DEBUG_LISTEN_TIMEOUT = 60.0  # debugpy starts its adapter (a process) before it listens


class ControlError(Exception):
    """An option that cannot apply (an unknown function, a rules file that does not parse...)."""


class DevControls:
    def __init__(self, *, reload: bool = True, debug: tuple[str, ...] = (), debug_wait: bool = False,
                 faults_file: Path | None = None) -> None:
        self.reload, self.debug_functions, self.debug_wait = reload, tuple(debug), debug_wait
        self.faults_file = faults_file
        self.faults = Faults()
        self.debug_ports: dict[str, int] = {}
        self.server: Any = None
        self.reloader: Any = None

    def runtime_options(self, functions: dict[str, Any], envs_dir: Path | None = None) -> dict[str, Any]:
        """Check the options against the template's functions (logical id -> FunctionSpec); the
        LocalRuntime's ``debug`` argument."""
        from paygate_local.lambda_ import interpreters

        if self.faults_file is not None:
            try:
                self.faults.set(load_file(self.faults_file, set(functions)))
            except OSError as exc:
                raise ControlError(f"--faults {self.faults_file}: {exc.strerror or exc}") from None
            except RuleError as exc:
                raise ControlError(f"--faults {self.faults_file}: {exc.param}: {exc.message}") from None
        debug: dict[str, dict] = {}
        for name in self.debug_functions:
            if name not in functions:
                raise ControlError(f"--debug {name}: no such function; the template's: {', '.join(functions)}")
            chosen = interpreters.select(functions[name].runtime, envs_dir)
            path = interpreters.debugger_dir(chosen.runtime, envs_dir) if chosen.python != sys.executable else None
            if chosen.python != sys.executable and path is None:
                raise ControlError(f"--debug {name}: debugpy is not installed beside {chosen.runtime}'s "
                                   f"environment; run make setup")
            self.debug_ports[name] = free_port()
            debug[name] = {"port": self.debug_ports[name], "wait": self.debug_wait,
                           "path": str(path) if path else None}
        return debug

    def attach(self, runtime: Any, say: Any) -> None:
        """Faults into the Lambda service, the control server, the debugged workers listening, the watcher."""
        from paygate_local.controls.server import ControlServer

        runtime.lambda_service.faults = self.faults
        self.server = ControlServer(self.faults, set(runtime.functions), host=runtime.host).start()
        for name in self.debug_functions:
            pool = runtime.lambda_service.pools[name]
            if not pool.listening.is_set() and not pool.size:
                threading.Thread(target=pool.prewarm, name=f"debug-{name}", daemon=True).start()
            if not pool.listening.wait(DEBUG_LISTEN_TIMEOUT):
                raise ControlError(f"--debug {name}: debugpy did not listen within {DEBUG_LISTEN_TIMEOUT:.0f} s "
                                   f"(see {runtime.function_log(name)})")
        if self.reload:
            from paygate_local.controls.reload import Reloader

            self.reloader = Reloader(runtime, say).start()

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Until the watcher watches (a save from now on is seen)."""
        if self.reloader is not None:
            self.reloader.ready.wait(timeout)

    def info(self) -> dict[str, Any]:
        return {"control_url": self.server.url if self.server else None, "debug": dict(self.debug_ports)}

    def lines(self) -> list[str]:
        lines = [f"debugger: {name} on 127.0.0.1:{port}" + (" (waiting for a client before its init)"
                                                            if self.debug_wait else "")
                 for name, port in self.debug_ports.items()]
        if self.faults.listing()["rules"]:
            lines.append(f"faults: {len(self.faults.listing()['rules'])} rules from {self.faults_file}")
        return lines

    def stop(self) -> None:
        if self.reloader is not None:
            self.reloader.stop()
        if self.server is not None:
            self.server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
