"""Servers started here as processes (LocalStack, MiniStack), and process trees by psutil: a server
or an installer and everything it starts, stopped as a whole.

A server runs as the leader of a session (and process group) of its own (``start_server``), so that
one signal reaches the group and nothing of ours is in it. Its children may still leave that group
(LocalStack starts DynamoDB Local and kinesis-mock in sessions of their own), so a stop also notes
the whole tree first (``descendants``: by parent, and by session for a process whose parent died)
and waits for each of those processes. A process is known by its pid and its start time (a
``psutil.Process`` checks both before it signals), so a pid reused by another process is never hit.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import BinaryIO

import psutil

log = logging.getLogger(__name__)


def start_server(command: list[str], *, cwd: Path, env: dict[str, str], out: BinaryIO) -> subprocess.Popen:
    """Start ``command`` in a session of its own, stdin closed, stdout and stderr into ``out``."""
    die_with_us = threading.current_thread() is threading.main_thread()
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True,
        # If this process dies without stopping it (SIGKILL), the server gets SIGTERM and cleans up.
        # Only from the main thread: the signal follows the thread that started it.
        preexec_fn=_die_with_parent if die_with_us else None,
    )


def port_in_use(port: int) -> bool:
    """Something listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def log_tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log, headed by its path, for an error message ("" when there is none)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return f"--- last lines of {path}:\n" + "\n".join(text[-lines:])


def start_time(pid: int) -> float | None:
    """When the process ``pid`` started (None when there is none): tells a pid from a reused one."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def descendants(root: int) -> dict[int, psutil.Process]:
    """Every process below ``root`` (its children, theirs...) and every other process of the session
    ``root`` leads (one whose parent has died is re-parented, but stays in its session), by pid."""
    found: dict[int, psutil.Process] = {}
    try:
        found.update((child.pid, child) for child in psutil.Process(root).children(recursive=True))
    except psutil.Error:
        pass
    for process in psutil.process_iter():
        if process.pid != root and process.pid not in found and _session(process.pid) == root:
            found[process.pid] = process
    return found


def stop_process_tree(process: subprocess.Popen, name: str, timeout: float = 20.0) -> None:
    """SIGTERM a process started by ``start_server`` and its group, wait, then SIGKILL whatever of its
    process tree is left. Only that process and what it started."""
    # Its children may run in sessions of their own: note them now, so that none outlives us if it
    # cannot stop them.
    tree = descendants(process.pid)
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        # It would stop them itself, but LocalStack's DynamoDB Local then takes seconds; in parallel is quicker.
        for child in tree.values():
            _signal(child, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) did not stop within %.0f s; killing it", name, process.pid, timeout)
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(10)
    left = _wait_gone(list(tree.values()), 5)
    for child in left:
        log.warning("killing %s's leftover child %d", name, child.pid)
        _signal(child, signal.SIGKILL)
    _wait_gone(left, 5)


def _wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every one of ``processes`` has ended, or ``timeout``; answers those still running."""
    deadline = time.monotonic() + timeout
    while True:
        left = [process for process in processes if _running(process)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def kill_tree(root: int) -> None:
    """SIGKILL ``root`` and its tree (``descendants``), at once."""
    tree = descendants(root)
    for child in tree.values():
        _signal(child, signal.SIGKILL)
    try:
        os.kill(root, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _running(process: psutil.Process) -> bool:
    """Still running: not ended (a zombie has: only its exit status waits for its parent), and its pid
    not reused."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the group the server leads (start_new_session)
    except ProcessLookupError:
        pass


def _signal(process: psutil.Process, sig: int) -> None:
    try:
        process.send_signal(sig)  # not if its pid now belongs to another process
    except psutil.Error:
        pass
