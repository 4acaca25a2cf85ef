"""What the pollers of every event source share: a loop in a thread of its own, and the lines they
add to the function's log."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable

from paygate_local.lambda_.worker import InvocationResult
from paygate_local.observability import jsonlog

log = logging.getLogger(__name__)

Invoke = Callable[[str, dict], InvocationResult]  # the Lambda service: (logical id, event) -> result


def note(path: Path | None, level: str, message: str, **fields: Any) -> None:
    """A JSON line in the function's log file, next to what the function itself printed (and the
    same in the runtime's own log)."""
    getattr(log, level.lower(), log.info)("%s %s", message, fields or "")
    if path is not None:
        jsonlog.note(path, level, message, **fields)


class PollLoop:
    """A loop in its own thread until ``stop`` is set (composition, not a Thread subclass, so
    that our method names cannot clash with Thread's private ones). ``step`` returns False to end
    the loop early."""

    def __init__(self, name: str, stop: threading.Event, log_path: Path | None):
        self.name = name
        self._stop_event = stop
        self.log_path = log_path
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                if self.step() is False:
                    return
            except Exception as exc:  # the backend hiccupped or is going away: keep polling
                if self._stop_event.is_set():
                    return
                log.exception("%s: poll failed", self.name)
                note(self.log_path, "ERROR", f"{self.name}: poll failed: {exc!r}")
                self._stop_event.wait(1.0)

    def step(self) -> bool | None:
        raise NotImplementedError
