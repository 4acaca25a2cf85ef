"""One warm worker process of a function, seen from the Lambda service, and what an invocation returns.

A worker is a fresh Python interpreter (the one the function's ``Runtime`` names, see
``interpreters.py``) running ``worker_main.py`` with the function's own environment and sys.path;
it imports the handler once and is kept warm, invoked over a socket pair (``protocol.py``). A worker
still busy at the function's Timeout is killed (with its process group) and the invocation reports
Lambda's timeout error. On Linux a new worker can instead be forked from an initialised template
worker (``Worker.forked_from``). The pools of workers are in ``pool.py``.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from paygate_local.lambda_.protocol import recv_message, send_message
from paygate_local.observability import jsonlog
from paygate_local.template import FunctionSpec

log = logging.getLogger(__name__)

WORKER_MAIN = str(Path(__file__).with_name("worker_main.py"))
DEFAULT_INIT_TIMEOUT = 60.0  # importing boto3 + powertools on a busy 2-core machine takes seconds
FORK_TIMEOUT = 10.0


@dataclass
class InvocationResult:
    """What an invocation returned: ``payload`` on success, Lambda's error object otherwise."""

    request_id: str
    payload: Any = None
    error: dict | None = None
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def timed_out(self) -> bool:
        return bool(self.error) and self.error.get("errorType") == "Sandbox.Timedout"

    @property
    def throttled(self) -> bool:
        return bool(self.error) and self.error.get("errorType") == THROTTLED["errorType"]

    @property
    def late(self) -> bool:
        """The caller stopped waiting (API Gateway's integration timeout); the invocation goes on."""
        return bool(self.error) and self.error.get("errorType") == LATE_ERROR["errorType"]


LATE_ERROR = {"errorType": "Gateway.IntegrationTimeout", "errorMessage": "Endpoint request timed out",
              "stackTrace": []}
# Lambda's answer to an invocation beyond the function's reserved concurrency (HTTP 429 from Invoke).
THROTTLED = {"errorType": "TooManyRequestsException", "errorMessage": "Rate Exceeded.",
             "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "stackTrace": []}


class WorkerError(Exception):
    """A worker could not be started or its handler could not be initialised."""

    def __init__(self, error: dict):
        super().__init__(error.get("errorMessage"))
        self.error = error


class Worker:
    """One warm worker process. Not thread-safe: a pool hands it to one caller at a time.

    Besides its answers a worker sends notes (``protocol.py``): a fault injected (given to the
    invocation's ``on_injected``), and, under a debugger, that debugpy listens (``on_listening``) or
    that a client attached or left: while one is attached the invocation's timeout is suspended."""

    on_listening: Callable[[int], None] | None = None
    debugger_attached = False

    def __init__(self, spec: FunctionSpec, env: dict[str, str], log_path: Path,
                 python: str = sys.executable, debug: bool = False):
        """Start the process on ``python``; ``init`` then imports the handler. ``debug``: the interpreter
        without frozen modules (a debugger's breakpoints in the stdlib need their sources)."""
        self.spec = spec
        self.log_path = log_path
        self._sock, child = socket.socketpair()
        try:
            with open(log_path, "ab") as log_file:
                self.proc = subprocess.Popen(
                    # -s: no user site-packages, as on Lambda (sys.path is the code, the layers and
                    # the interpreter's own environment).
                    [python, "-u", "-s", *(["-X", "frozen_modules=off"] if debug else []), WORKER_MAIN,
                     str(child.fileno())],
                    env=env,
                    cwd=str(spec.code_dir),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    pass_fds=(child.fileno(),),
                    start_new_session=True,  # its own process group: killed as a whole, spared Ctrl-C
                )
        except BaseException:
            self._sock.close()
            raise
        finally:
            child.close()

    @classmethod
    def forked_from(cls, template: Worker, timeout: float = FORK_TIMEOUT) -> Worker:
        """A new worker forked from ``template`` (a worker initialised with ``template=True``),
        ready to invoke. The caller holds the template for itself (one fork at a time)."""
        ours, theirs = socket.socketpair()
        deadline = time.monotonic() + timeout
        try:
            socket.send_fds(template._sock, [b"F"], [theirs.fileno()])
            reply = recv_message(template._sock, deadline)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        if not reply or reply.get("type") != "forked":
            ours.close()
            raise OSError(f"the {template.spec.logical_id} template did not fork: {reply!r}")
        worker = cls.__new__(cls)
        worker.spec, worker.log_path, worker._sock = template.spec, template.log_path, ours
        worker.proc = _ForkedProcess(int(reply["pid"]))
        try:
            ready = recv_message(ours, deadline)
        except (OSError, TimeoutError):
            ready = None
        if not ready or ready.get("type") != "ready":
            worker.kill()
            raise OSError(f"a worker forked from the {template.spec.logical_id} template did not start")
        return worker

    def init(self, init_timeout: float | None = DEFAULT_INIT_TIMEOUT, template: bool = False,
             providers: dict[str, str] | None = None, debug: dict | None = None) -> None:
        """Import the handler (Lambda's init phase); raises WorkerError and kills the worker on failure.
        A ``template`` worker then only forks new workers (``forked_from``). ``providers``: the payment
        providers' URLs (for the faults); ``debug``: run under debugpy (``{"port", "wait", "path"}``)."""
        paths = [str(p) for p in self.spec.python_paths]
        message: dict[str, Any] = {"type": "init", "handler": self.spec.handler, "paths": paths, "template": template}
        if providers:
            message["providers"] = providers
        if debug:
            message["debug"] = debug
        try:
            send_message(self._sock, message)
            deadline = None if init_timeout is None else time.monotonic() + init_timeout
            reply = self._reply(deadline)
        except TimeoutError:
            self.kill()
            raise WorkerError({"errorType": "Runtime.InitError",
                               "errorMessage": f"Init did not finish within {init_timeout:.0f} s",
                               "stackTrace": []}) from None
        except OSError:
            reply = None
        if reply is None:
            error = self._exit_error("init")
            self.kill()
            raise WorkerError(error)
        if reply.get("type") == "init_error":
            self.kill()
            raise WorkerError(reply["error"])

    def reload(self, timeout: float = DEFAULT_INIT_TIMEOUT) -> None:
        """A template's hot reload: a fork of it imports the function's own modules anew and becomes the
        template (the SDKs stay imported). Raises WorkerError (the code does not import; the template is
        then gone)."""
        try:
            self._sock.sendall(b"R")
            reply = recv_message(self._sock, time.monotonic() + timeout)
        except (OSError, TimeoutError):
            reply = None
        if not reply or reply.get("type") != "reloaded":
            self.kill()
            raise WorkerError((reply or {}).get("error") or {"errorType": "Runtime.InitError", "stackTrace": [],
                                                             "errorMessage": "the template did not reload"})
        old, self.proc = self.proc, _ForkedProcess(int(reply["pid"]))
        try:
            old.wait(timeout=5)  # it exits as its fork takes over
        except subprocess.TimeoutExpired:
            old.kill()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _reply(self, deadline: float | None, on_injected: Callable[[int], None] | None = None) -> dict | None:
        """The next answer, the notes before it handled; ``deadline`` (monotonic) moves on while a
        debugger holds the worker. Raises TimeoutError past it."""
        paused_at = time.monotonic() if self.debugger_attached else None
        while True:
            message = recv_message(self._sock, None if paused_at is not None else deadline)
            if message is None or message.get("type") not in ("injected", "debugger"):
                return message
            if message["type"] == "injected":
                if on_injected is not None:
                    on_injected(message["rule"])
            elif "listening" in message:
                if self.on_listening is not None:
                    self.on_listening(int(message["listening"]))
            elif message.get("attached"):
                self.debugger_attached = True
                paused_at = paused_at or time.monotonic()
            else:
                self.debugger_attached = False
                if paused_at is not None and deadline is not None:
                    deadline += time.monotonic() - paused_at  # the time held does not count
                paused_at = None

    def invoke(self, event: Any, request_id: str, timeout: float, faults: list[dict] | None = None,
               on_injected: Callable[[int], None] | None = None,
               answer_within: float | None = None) -> InvocationResult:
        """Run one invocation; on timeout or crash the worker is dead afterwards (check ``alive``).
        ``faults``: the chaos API's rules in force for it, ``on_injected(rule id)`` told each time one acts.
        ``answer_within`` (API Gateway's integration timeout): past it, a ``late`` result is returned while
        the invocation goes on; ``finish()`` then waits for its end (the worker is busy until then)."""
        started = time.monotonic()
        message = {
            "type": "invoke",
            "event": event,
            "request_id": request_id,
            "deadline_ms": int(time.time() * 1000 + timeout * 1000),
            "invoked_function_arn": self.spec.arn,
        }
        if faults:
            message["faults"] = faults
        try:
            send_message(self._sock, message)
        except OSError:
            return self._died(request_id, started)
        self._pending = (request_id, started, timeout, on_injected)
        return self._result(started + answer_within if answer_within and answer_within < timeout else None)

    def finish(self) -> InvocationResult:
        """The end of an invocation that was answered ``late``."""
        return self._result(None)

    def _result(self, answer_by: float | None) -> InvocationResult:
        request_id, started, timeout, on_injected = self._pending
        try:
            reply = self._reply(answer_by or started + timeout, on_injected)
        except TimeoutError:
            if answer_by is not None:
                return InvocationResult(request_id, error=dict(LATE_ERROR), duration_ms=(answer_by - started) * 1000)
            self.kill()
            error = {"errorType": "Sandbox.Timedout",
                     "errorMessage": f"Task timed out after {timeout:.2f} seconds", "stackTrace": []}
            jsonlog.note(self.log_path, "ERROR", error["errorMessage"], requestId=request_id)
            return InvocationResult(request_id, error=error, duration_ms=timeout * 1000)
        except OSError:
            reply = None
        if reply is None:  # the process died mid-invocation (os._exit, segfault, OOM...)
            return self._died(request_id, started)
        duration = (time.monotonic() - started) * 1000
        if reply.get("type") == "result":
            return InvocationResult(request_id, payload=reply.get("payload"), duration_ms=duration)
        return InvocationResult(request_id, error=reply.get("error"), duration_ms=duration)

    def _died(self, request_id: str, started: float) -> InvocationResult:
        error = self._exit_error(request_id)
        jsonlog.note(self.log_path, "ERROR", error["errorMessage"], requestId=request_id)
        self.kill()
        return InvocationResult(request_id, error=error, duration_ms=(time.monotonic() - started) * 1000)

    def _exit_error(self, request_id: str) -> dict:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        return {"errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                                f"exit status {code}",
                "stackTrace": []}

    def close(self, grace: float = 2.0) -> None:
        """Ask the worker to exit (closing the socket is the signal); kill it if it lingers."""
        self.hang_up()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group is the one it was started in
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.error("worker %s of %s did not die", self.proc.pid, self.spec.logical_id)
        self.hang_up()

    def end_group(self) -> None:
        """Close, then end what the worker started in its process group (debugpy's adapter, which a
        connected client would otherwise keep alive, with its port)."""
        self.close(grace=2.0)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def hang_up(self) -> None:
        """Close our end of the socket. shutdown() first: it wakes a thread blocked in recv on it
        (close alone does not) and makes the worker see EOF."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


class _ForkedProcess:
    """The part of Popen a Worker uses, for a worker forked by a template: the template's child,
    not ours, reaped by the kernel as soon as it ends (the template ignores SIGCHLD)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _running(self.pid):
            self.returncode = -1  # its real status went with it
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.01)
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z"
