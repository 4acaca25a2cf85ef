"""The local Lambda service: every function's pool of warm workers (``worker.py``), by logical id.

A pool grows on demand up to a cap, because the API receives concurrent requests: an invocation
takes an idle worker, waits a moment for a busy one to come free, or starts another. On Linux new
workers are forked from an initialised template worker (one cold start per function).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from paygate_local.lambda_.worker import DEFAULT_INIT_TIMEOUT, THROTTLED, InvocationResult, Worker, WorkerError
from paygate_local.observability.counters import RuntimeMeter
from paygate_local.template import FunctionSpec

log = logging.getLogger(__name__)

SPAWN_DELAY = 0.1  # how long an invocation waits for a busy worker before another one is started
# Fork new workers from an initialised template (Linux; PAYGATE_DEV_FORK_WORKERS=0 turns it off).
FORK_WORKERS = (sys.platform == "linux" and hasattr(socket, "send_fds")
                and os.environ.get("PAYGATE_DEV_FORK_WORKERS", "1") != "0")


class FunctionPool:
    """Warm workers of one function: up to ``max_workers`` invocations run at once."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], log_path: Path,
                 max_workers: int = 4, init_timeout: float = DEFAULT_INIT_TIMEOUT,
                 python: str = sys.executable, providers: dict[str, str] | None = None,
                 debug: dict | None = None):
        """``providers``: the payment providers' URLs, for the faults; ``debug``: run under debugpy
        (``{"port", "wait", "path"}``): one worker, started afresh (never forked), no init timeout
        while waiting for the client."""
        self.spec = spec
        self.python = python
        self.env = env
        self.log_path = log_path
        self.providers = providers or None
        self.debug = debug
        self.listening = threading.Event()  # under debug: debugpy listens on its port
        # ReservedConcurrentExecutions: an invocation beyond it is throttled (TooManyRequestsException).
        self.reserved = spec.reserved_concurrency
        self._running = 0
        self.max_workers = 1 if debug else max_workers if self.reserved is None else max(1, min(max_workers,
                                                                                                 self.reserved))
        self.init_timeout = None if debug and debug.get("wait") else init_timeout
        self._generation = 0  # a reload starts a new one: workers of an older one are not used again
        self._cond = threading.Condition()
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._starting = 0
        self._prewarming = 0  # a prewarm in progress: callers wait for it rather than start another
        self._closed = False
        # New workers are forked from an initialised template when the platform allows it.
        self._use_template = FORK_WORKERS and not debug
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
            self._release(worker, ran=False)  # idle before the waiters below wake up
        with self._cond:
            self._prewarming -= 1
            self._cond.notify_all()

    def invoke(self, event: Any, request_id: str | None = None, faults: list[dict] | None = None,
               on_injected: Callable[[int], None] | None = None,
               answer_within: float | None = None) -> InvocationResult:
        """One invocation. ``answer_within``: the caller's own timeout (API Gateway's); past it the result
        is ``late`` and the invocation goes on, its worker busy until it ends, as on AWS."""
        request_id = request_id or str(uuid.uuid4())
        if self.reserved is not None:
            with self._cond:
                if self._running >= self.reserved:
                    return InvocationResult(request_id, error=dict(THROTTLED))
                self._running += 1
        try:
            worker = self._acquire()
        except WorkerError as exc:
            self._done_running()
            return InvocationResult(request_id, error=exc.error)
        try:
            result = worker.invoke(event, request_id, self.spec.timeout, faults, on_injected, answer_within)
        except BaseException:
            self._release(worker)
            raise
        if result.late:
            threading.Thread(target=self._finish_late, args=(worker,), name=f"late-{self.spec.logical_id}",
                             daemon=True).start()
        else:
            self._release(worker)
        return result

    def _finish_late(self, worker: Worker) -> None:
        try:
            result = worker.finish()
            log.info("%s: an invocation answered late ended: %s", self.spec.logical_id,
                     "ok" if result.ok else result.error)
        finally:
            self._release(worker)

    def recycle(self) -> None:
        """The function's code changed: idle workers go now, busy ones when their invocation ends; the
        template imports the function's own modules anew (or goes, if it cannot); the next invocation
        gets a worker with the new code."""
        with self._cond:
            self._generation += 1
            idle, self._idle = self._idle, []
            for worker in idle:
                self._all.discard(worker)
            self._cond.notify_all()
        for worker in idle:  # all told at once: they exit in parallel, away from the caller
            worker.hang_up()
        threading.Thread(target=lambda: [self._retire(w) for w in idle], daemon=True).start()
        with self._template_lock:  # a fork meanwhile waits for the reloaded template
            template = self._template
            if template is None or not template.alive:
                return
            try:
                template.reload(self.init_timeout or DEFAULT_INIT_TIMEOUT)
                template.generation = self._generation  # type: ignore[attr-defined]
            except WorkerError:  # the next invocation starts afresh, and says why it fails
                self._template = None

    def _retire(self, worker: Worker) -> None:
        if self.debug:
            worker.end_group()  # debugpy's adapter too: the port is free for the next worker
        else:
            worker.close(grace=2.0)

    def _new_worker(self) -> Worker:
        worker = Worker(self.spec, self.env, self.log_path, self.python, debug=bool(self.debug))
        worker.generation = self._generation  # type: ignore[attr-defined]
        if self.debug:
            worker.on_listening = lambda port: self.listening.set()
        return worker

    def _init(self, worker: Worker, template: bool = False) -> None:
        worker.init(self.init_timeout, template=template, providers=self.providers, debug=self.debug)

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
            worker = self._new_worker()
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
            self._init(worker)
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
                template = self._template = self._new_worker()
                try:
                    self._init(template, template=True)
                except BaseException:
                    self._template = None
                    raise
            forked = Worker.forked_from(template)
            forked.generation = template.generation  # type: ignore[attr-defined]
            return forked

    def _done_running(self) -> None:
        if self.reserved is not None:
            with self._cond:
                self._running -= 1

    def _release(self, worker: Worker, ran: bool = True) -> None:
        if ran:
            self._done_running()
        stale = False
        with self._cond:
            current = getattr(worker, "generation", self._generation) == self._generation
            if worker.alive and not self._closed and current:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
                stale = worker.alive and not self._closed
                if not worker.alive:
                    worker.kill()  # reap it and close the socket
            self._cond.notify_all()
        if stale:  # its code was reloaded meanwhile
            self._retire(worker)

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
            self._retire(worker)
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
        self.faults: Any = None  # the chaos API's rules (paygate_local.controls.faults.Faults), under paygate dev

    def add(self, pool: FunctionPool) -> None:
        self.pools[pool.spec.logical_id] = pool

    def invoke(self, logical_id: str, event: Any, request_id: str | None = None,
               answer_within: float | None = None) -> InvocationResult:
        try:
            pool = self.pools[logical_id]
        except KeyError:
            raise KeyError(f"no function {logical_id!r}; known: {sorted(self.pools)}") from None
        rules, on_injected = self.faults.for_function(logical_id) if self.faults is not None else (None, None)
        result = pool.invoke(event, request_id, rules, on_injected, answer_within)
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
