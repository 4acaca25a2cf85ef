"""What a server run in the foreground (`paygate dev`, `paygate ministack`) needs: the JSON file that says
it is ready, written whole or not at all, and a main thread that wakes for the signal that stops it."""

from __future__ import annotations

import json
import os
import select
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """``path`` holds all of ``data`` or what it held before: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
    os.replace(tmp, path)


def wait_for_stop(stopping: threading.Event, safety: float = 60.0) -> None:
    """Sleep in the main thread until a SIGINT or SIGTERM handler sets ``stopping``.

    Not ``stopping.wait()``: a signal the kernel hands to another thread (the runtime has many) only
    marks the Python handler as due, and a main thread asleep in a lock never runs it, so a stop could
    go unnoticed until a second signal. The signal module writes every signal to a wakeup pipe, from
    whichever thread got it; waking on that pipe runs the handler at once, with no polling."""
    read_end, write_end = os.pipe()
    for fd in (read_end, write_end):
        os.set_blocking(fd, False)
    previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    try:
        while not stopping.is_set():
            select.select([read_end], [], [], safety)  # the timeout is only a safety net
            try:
                os.read(read_end, 512)
            except BlockingIOError:
                pass
    finally:
        signal.set_wakeup_fd(previous)
        os.close(read_end)
        os.close(write_end)
