"""Hot reload: a saved change is served by the function's next invocation, with nothing else restarted.

``Reloader`` watches (watchfiles) every function's ``CodeUri`` and its layers' ``ContentUri``; a change
under one of them recycles the pools of the functions that use it (``FunctionPool.recycle``: idle
workers go at once, busy ones when their invocation ends; the template worker forks a child that
forgets the modules under the function's code and layers and imports them anew, the SDKs staying
imported) and warms a new worker from it. The backend, its tables and queues, the pollers and the API server are untouched: state and
queued messages stay. A module that no longer imports fails each invocation with the traceback in the
function's log (the worker's init error), until a save fixes it.

A change to template.yaml is compared with the template in force (``template_changes``): what can
change under a running gateway (a function's code path, handler, environment, timeout, memory,
layers; the API's routes) is applied; anything else (tables, queues, mappings, schedules, functions
added or removed) is said, with the need for a restart.

The watcher's thread wakes every ``STEP_MS`` to look for changes (watchfiles' own loop): about 0.05%
of a core while nothing changes, and a save seen within ``STEP_MS`` of its last write.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from paygate_local.template import FunctionSpec, Stack

log = logging.getLogger(__name__)

STEP_MS = 100  # how often the watcher looks; a burst of writes is one change once it pauses this long
TEMPLATE_STEP_MS = 300
# What a template change may alter in place, per function (everything else of a FunctionSpec, or of
# the stack, needs a restart). The routes are applied to the API server.
RELOADABLE = ("code_dir", "handler", "runtime", "timeout", "memory_size", "layer_dirs", "environment", "arn")


def template_changes(old: Stack, new: Stack) -> tuple[list[FunctionSpec], bool, list[str]]:
    """(functions whose spec changed in place, whether the routes changed, what needs a restart)."""
    restart: list[str] = []
    if old.tables() != new.tables():
        restart.append("tables")
    if old.queues() != new.queues():
        restart.append("queues")
    before = {f.logical_id: f for f in old.functions()}
    after = {f.logical_id: f for f in new.functions()}
    if before.keys() != after.keys():
        added, removed = sorted(after.keys() - before.keys()), sorted(before.keys() - after.keys())
        restart.append("functions " + ", ".join([f"+{n}" for n in added] + [f"-{n}" for n in removed]))
    changed: list[FunctionSpec] = []
    for lid in sorted(before.keys() & after.keys()):
        a, b = before[lid], after[lid]
        if (a.sqs_mappings, a.stream_mappings, a.schedules) != (b.sqs_mappings, b.stream_mappings, b.schedules):
            restart.append(f"{lid}'s event source mappings or schedules")
        if a.name != b.name:
            restart.append(f"{lid}'s name")
        if any(getattr(a, key) != getattr(b, key) for key in RELOADABLE):
            changed.append(b)
    routes = sorted((r.function, r.path, r.method) for f in before.values() for r in f.api_routes) != \
        sorted((r.function, r.path, r.method) for f in after.values() for r in f.api_routes)
    return changed, routes, restart


class Reloader:
    """Watches the runtime's code and template; ``say(line)`` tells the developer what it did."""

    def __init__(self, runtime: Any, say: Callable[[str], None]) -> None:
        self.runtime = runtime
        self.say = say
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.ready = threading.Event()  # both watchers are watching
        self.reloads = 0

    def start(self) -> Reloader:
        code = sorted(self._roots())
        template = self.runtime.template_path
        watching = [threading.Event(), threading.Event()]
        self._threads = [
            threading.Thread(target=self._watch, args=(code, True, STEP_MS, self._code_changed, watching[0]),
                             name="reload-code", daemon=True),
            threading.Thread(target=self._watch, args=([template.parent], False, TEMPLATE_STEP_MS,
                                                       self._template_changed, watching[1]),
                             name="reload-template", daemon=True)]
        for thread in self._threads:
            thread.start()
        threading.Thread(target=self._when_watching, args=(watching,), daemon=True).start()
        return self

    def _when_watching(self, watching: list[threading.Event]) -> None:
        for event in watching:
            event.wait(10)
        self.ready.set()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)

    def _roots(self) -> set[Path]:
        roots: set[Path] = set()
        for spec in self.runtime.functions.values():
            roots.add(spec.code_dir.resolve())
            roots.update(layer.resolve() for layer in spec.layer_dirs)
        return roots

    def _watch(self, paths: list[Path], recursive: bool, step: int, changed: Callable[[set[Path]], None],
               watching: threading.Event) -> None:
        from watchfiles import Change, DefaultFilter
        from watchfiles._rust_notify import RustNotify  # watch() itself, minus the wait for a first change

        keep = DefaultFilter()
        try:
            notify = RustNotify([str(p) for p in paths], False, False, 300, recursive, True)
        except Exception as exc:  # noqa: BLE001 - the gateway runs on without reload
            log.warning("hot reload is off: cannot watch %s: %s", paths, exc)
            self.say(f"paygate dev: hot reload is off: cannot watch {', '.join(map(str, paths))}: {exc}")
            watching.set()
            return
        watching.set()
        with notify:
            while not self._stop.is_set():
                raw = notify.watch(1600, step, 0, self._stop)
                if raw in ("stop", "signal"):
                    return
                if raw == "timeout":
                    continue
                paths_changed = {Path(path) for change, path in raw if keep(Change(change), path)}
                if paths_changed:
                    try:
                        changed(paths_changed)
                    except Exception:  # a reload that fails must not end the watching
                        log.exception("hot reload failed on %s", sorted(paths_changed))

    def _code_changed(self, paths: set[Path]) -> None:
        began = time.monotonic()
        touched = []
        for lid, spec in list(self.runtime.functions.items()):
            roots = [spec.code_dir.resolve(), *(layer.resolve() for layer in spec.layer_dirs)]
            if any(_under(path, roots) for path in paths):
                touched.append(lid)
        if not touched:
            return
        for path in paths:  # a save within the same second at the same size would look unchanged to a .pyc
            for stale in path.parent.glob(f"__pycache__/{path.stem}.*.pyc") if path.suffix == ".py" else ():
                stale.unlink(missing_ok=True)
        pools = [self.runtime.lambda_service.pools[lid] for lid in touched]
        threads = [threading.Thread(target=_reload_pool, args=(pool,), name=f"reload-{pool.spec.logical_id}",
                                    daemon=True) for pool in pools]
        for thread in threads:  # in parallel: a layer's change reloads every function that uses it
            thread.start()
        for thread in threads:
            thread.join(60)
        self.reloads += 1
        names = ", ".join(sorted(str(p.name) for p in paths)[:3]) + (" ..." if len(paths) > 3 else "")
        line = f"paygate dev: reloaded {', '.join(touched)} ({names}) in {(time.monotonic() - began) * 1000:.0f} ms"
        log.info("%s", line)
        self.say(line)

    def _template_changed(self, paths: set[Path]) -> None:
        template = self.runtime.template_path.resolve()
        if template not in {p.resolve() for p in paths}:
            return
        try:
            new = self.runtime.load_stack()
        except Exception as exc:  # noqa: BLE001 - a template being edited may not parse yet
            self.say(f"paygate dev: template.yaml changed but does not load ({exc}); nothing reloaded")
            return
        changed, routes, restart = template_changes(self.runtime.stack, new)
        if restart:
            self.say(f"paygate dev: template.yaml changed: {'; '.join(restart)}: restart paygate dev to apply "
                     f"(nothing of it was applied)")
            return
        if not changed and not routes:
            return
        self.runtime.apply_template(new, changed, routes)
        what = [spec.logical_id for spec in changed] + (["the API's routes"] if routes else [])
        self.say(f"paygate dev: template.yaml reloaded: {', '.join(what)}")


def _reload_pool(pool: Any) -> None:
    """The function's workers with the new code, one of them warm again before the next invocation."""
    pool.recycle()
    pool.prewarm()


def _under(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)
