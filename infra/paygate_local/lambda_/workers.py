"""The local Lambda service: warm worker processes per function, invoked over a socket pair.

Each function gets a small pool of worker processes (fresh Python interpreters running
``worker_main.py``: the one its ``Runtime`` names, see ``lambda_envs.py``), each with the
function's own environment and sys.path, its handler imported once and kept warm. A pool grows on demand up to a cap, because the API receives concurrent
requests. A worker still busy at the function's Timeout is killed (with its process group) and the
invocation reports Lambda's timeout error; the next invocation starts a fresh worker.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from paygate_local.lambda_.worker_main import recv_message, send_message
from paygate_local.metering.meter import RuntimeMeter
from paygate_local.template import FunctionSpec

log = logging.getLogger(__name__)

WORKER_MAIN = str(Path(__file__).with_name("worker_main.py"))
DEFAULT_INIT_TIMEOUT = 60.0  # importing boto3 + powertools on a busy 2-core machine takes seconds
SPAWN_DELAY = 0.1  # how long an invocation waits for a busy worker before another one is started
FORK_TIMEOUT = 10.0
# Fork new workers from an initialised template (Linux; PAYGATE_DEV_FORK_WORKERS=0 turns it off).
FORK_WORKERS = (sys.platform == "linux" and hasattr(socket, "send_fds")
                and os.environ.get("PAYGATE_DEV_FORK_WORKERS", "1") != "0")


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


class WorkerError(Exception):
    """A worker could not be started or its handler could not be initialised."""

    def __init__(self, error: dict):
        super().__init__(error.get("errorMessage"))
        self.error = error


def _log_line(log_path: Path, level: str, message: str, **fields: Any) -> None:
    """Lines the runtime itself adds to a function's log (timeouts, crashes), as JSON."""
    line = {"level": level, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "message": message, "source": "paygate_local", **fields}
    with open(log_path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")


class Worker:
    """One warm worker process. Not thread-safe: a pool hands it to one caller at a time."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], log_path: Path,
                 python: str = sys.executable):
        """Start the process on ``python``; ``init`` then imports the handler."""
        self.spec = spec
        self.log_path = log_path
        self._sock, child = socket.socketpair()
        try:
            with open(log_path, "ab") as log_file:
                self.proc = subprocess.Popen(
                    # -s: no user site-packages, as on Lambda (sys.path is the code, the layers and
                    # the interpreter's own environment).
                    [python, "-u", "-s", WORKER_MAIN, str(child.fileno())],
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

    def init(self, init_timeout: float = DEFAULT_INIT_TIMEOUT, template: bool = False) -> None:
        """Import the handler (Lambda's init phase); raises WorkerError and kills the worker on failure.
        A ``template`` worker then only forks new workers (``forked_from``)."""
        paths = [str(p) for p in self.spec.python_paths]
        try:
            send_message(self._sock, {"type": "init", "handler": self.spec.handler, "paths": paths,
                                      "template": template})
            reply = recv_message(self._sock, time.monotonic() + init_timeout)
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

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def invoke(self, event: Any, request_id: str, timeout: float) -> InvocationResult:
        """Run one invocation; on timeout or crash the worker is dead afterwards (check ``alive``)."""
        started = time.monotonic()
        deadline = started + timeout
        message = {
            "type": "invoke",
            "event": event,
            "request_id": request_id,
            "deadline_ms": int(time.time() * 1000 + timeout * 1000),
            "invoked_function_arn": self.spec.arn,
        }
        try:
            send_message(self._sock, message)
            reply = recv_message(self._sock, deadline)
        except TimeoutError:
            self.kill()
            error = {"errorType": "Sandbox.Timedout",
                     "errorMessage": f"Task timed out after {timeout:.2f} seconds", "stackTrace": []}
            _log_line(self.log_path, "ERROR", error["errorMessage"], requestId=request_id)
            return InvocationResult(request_id, error=error, duration_ms=timeout * 1000)
        except OSError:
            reply = None
        duration = (time.monotonic() - started) * 1000
        if reply is None:  # the process died mid-invocation (os._exit, segfault, OOM...)
            error = self._exit_error(request_id)
            _log_line(self.log_path, "ERROR", error["errorMessage"], requestId=request_id)
            self.kill()
            return InvocationResult(request_id, error=error, duration_ms=duration)
        if reply.get("type") == "result":
            return InvocationResult(request_id, payload=reply.get("payload"), duration_ms=duration)
        return InvocationResult(request_id, error=reply.get("error"), duration_ms=duration)

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


class FunctionPool:
    """Warm workers of one function: up to ``max_workers`` invocations run at once."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], log_path: Path,
                 max_workers: int = 4, init_timeout: float = DEFAULT_INIT_TIMEOUT,
                 python: str = sys.executable):
        self.spec = spec
        self.python = python
        self.env = env
        self.log_path = log_path
        self.max_workers = max_workers
        self.init_timeout = init_timeout
        self._cond = threading.Condition()
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._starting = 0
        self._prewarming = 0  # a prewarm in progress: callers wait for it rather than start another
        self._closed = False
        # New workers are forked from an initialised template when the platform allows it.
        self._use_template = FORK_WORKERS
        self._template: Worker | None = None
        self._template_lock = threading.Lock()

    @property
    def size(self) -> int:
        with self._cond:
            return len(self._all) + self._starting

    @property
    def pids(self) -> list[int]:
        """Process ids of this function's live workers (for tests and diagnostics)."""
        with self._cond:
            return [w.proc.pid for w in self._all if w.alive]

    def prewarm(self) -> None:
        """Start one worker now (call from a background thread) so the first request is fast."""
        with self._cond:
            if self._closed or self._all or self._starting:
                return
            self._starting += 1
            self._prewarming += 1
        try:
            worker = self._spawn()
        except Exception as exc:
            log.warning("prewarming %s failed: %s", self.spec.logical_id, exc)
            worker = None
        if worker is not None:
            self._release(worker)  # idle before the waiters below wake up
        with self._cond:
            self._prewarming -= 1
            self._cond.notify_all()

    def invoke(self, event: Any, request_id: str | None = None) -> InvocationResult:
        request_id = request_id or str(uuid.uuid4())
        try:
            worker = self._acquire()
        except WorkerError as exc:
            return InvocationResult(request_id, error=exc.error)
        try:
            return worker.invoke(event, request_id, self.spec.timeout)
        finally:
            self._release(worker)

    def _acquire(self) -> Worker:
        # A new worker costs a cold start (half a second of CPU or more); when every worker is
        # busy, one is often free again within milliseconds. So a caller waits a moment for one
        # before starting another: a burst of short invocations is served by the warm workers,
        # while a backlog, or a slow invocation, still gets a new worker after SPAWN_DELAY.
        spawn_at: float | None = None
        with self._cond:
            while True:
                if self._closed:
                    raise WorkerError({"errorType": "Runtime.Shutdown",
                                       "errorMessage": "the local runtime is stopping",
                                       "stackTrace": []})
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive:
                        return worker
                    self._all.discard(worker)
                if self._prewarming:
                    self._cond.wait()  # two cold starts at once would only slow each other down
                    continue
                if len(self._all) + self._starting < self.max_workers:
                    if not self._all and not self._starting:
                        self._starting += 1  # nothing to wait for
                        break
                    now = time.monotonic()
                    spawn_at = spawn_at or now + SPAWN_DELAY
                    if now >= spawn_at:
                        self._starting += 1
                        break
                    self._cond.wait(spawn_at - now)
                    continue
                self._cond.wait()
        return self._spawn()

    def _spawn(self) -> Worker:
        """Start and initialise a worker; the caller has counted it in ``_starting``.

        Forked from the template when there is one (made on first need: the one cold start);
        otherwise a fresh process, registered before its (slow) init so that ``close`` can kill
        it meanwhile.
        """
        if self._use_template:
            try:
                forked = self._fork()
            except WorkerError:  # the handler cannot be imported: say so, as a fresh worker would
                with self._cond:
                    self._starting -= 1
                    self._cond.notify_all()
                raise
            except Exception as exc:
                log.warning("%s: forking a worker failed (%s); starting fresh workers from now on",
                            self.spec.logical_id, exc)
                self._use_template = False
                template, self._template = self._template, None
                if template is not None:
                    template.close()
                forked = None
            if forked is not None:
                with self._cond:
                    self._starting -= 1
                    self._all.add(forked)
                    closed = self._closed
                    self._cond.notify_all()
                if closed:
                    forked.kill()
                    raise WorkerError({"errorType": "Runtime.Shutdown",
                                       "errorMessage": "the local runtime is stopping", "stackTrace": []})
                return forked
        try:
            worker = Worker(self.spec, self.env, self.log_path, self.python)
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()
            raise
        with self._cond:
            self._starting -= 1
            self._all.add(worker)
            closed = self._closed
        if closed:
            worker.kill()
        try:
            if closed:
                raise WorkerError({"errorType": "Runtime.Shutdown",
                                   "errorMessage": "the local runtime is stopping", "stackTrace": []})
            worker.init(self.init_timeout)
        except BaseException:
            with self._cond:
                self._all.discard(worker)
                self._cond.notify_all()
            raise
        return worker

    def _fork(self) -> Worker | None:
        """A worker forked from the template (started and initialised here the first time)."""
        with self._template_lock:
            template = self._template
            if template is None or not template.alive:
                if self._closed:
                    return None
                template = self._template = Worker(self.spec, self.env, self.log_path, self.python)
                try:
                    template.init(self.init_timeout, template=True)
                except BaseException:
                    self._template = None
                    raise
            return Worker.forked_from(template)

    def _release(self, worker: Worker) -> None:
        with self._cond:
            if worker.alive and not self._closed:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
                if not worker.alive:
                    worker.kill()  # reap it and close the socket
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        for worker in workers:  # hanging up on every worker first lets them all exit in parallel
            worker.hang_up()
        for worker in workers:
            worker.close(grace=2.0)
        # The template last: it reaps the workers it forked, which end only now. (Not under the
        # template lock: a template still initialising is stopped too, and its init then fails.)
        template, self._template = self._template, None
        if template is not None:
            template.close(grace=2.0)


class LambdaService:
    """All functions' pools, by logical id."""

    def __init__(self, meter: RuntimeMeter | None = None) -> None:
        self.pools: dict[str, FunctionPool] = {}
        self.meter = meter or RuntimeMeter(None)
        self.listeners: list[Callable[[str], None]] = []  # told each invocation's logical id once it ends

    def add(self, pool: FunctionPool) -> None:
        self.pools[pool.spec.logical_id] = pool

    def invoke(self, logical_id: str, event: Any, request_id: str | None = None) -> InvocationResult:
        try:
            pool = self.pools[logical_id]
        except KeyError:
            raise KeyError(f"no function {logical_id!r}; known: {sorted(self.pools)}") from None
        result = pool.invoke(event, request_id)
        records = event.get("Records") if isinstance(event, dict) else None
        self.meter.invoked(logical_id, duration_ms=result.duration_ms, name=pool.spec.name,
                           memory_mb=pool.spec.memory_size, records=len(records) if isinstance(records, list) else 0,
                           error=not result.ok)
        for listener in self.listeners:
            listener(logical_id)
        return result

    def pids(self) -> dict[str, list[int]]:
        return {lid: pool.pids for lid, pool in self.pools.items()}

    def prewarm(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=p.prewarm, name=f"prewarm-{lid}", daemon=True)
                   for lid, p in self.pools.items()]
        for t in threads:
            t.start()
        return threads

    def close(self) -> None:
        pools = list(self.pools.values())
        threads = [threading.Thread(target=p.close, daemon=True) for p in pools]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
