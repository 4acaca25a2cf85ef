"""Process trees (``paygate_local.backends.processes``), with real processes: a server started in a
session of its own stops with everything it started, even a child in a session of its own that
ignores SIGTERM, and a grandchild whose parent died."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
from proc_info import alive

from paygate_local.backends.processes import descendants, kill_tree, start_server, start_time, stop_process_tree

# The server: a child in a session of its own that ignores SIGTERM (a JVM that does not stop in
# time), and a grandchild that ignores it too and whose parent has exited (re-parented away from
# the server, but still in its session). It prints their pids, then waits for its own SIGTERM.
SERVER = textwrap.dedent("""
    import subprocess, sys, time
    STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(120)"
    PARENT = ("import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', %r], stdout=subprocess.PIPE); "
              "p.stdout.readline(); print(p.pid, flush=True)" % STUBBORN)
    child = subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True, stdout=subprocess.PIPE)
    child.stdout.readline()
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE)
    orphan = int(parent.stdout.readline())
    parent.wait()
    print(child.pid, orphan, flush=True)
    time.sleep(120)
""")


def start(tmp_path: Path) -> tuple[subprocess.Popen, int, int]:
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = start_server([sys.executable, "-c", SERVER], cwd=tmp_path, env=dict(os.environ), out=out)
    deadline = time.monotonic() + 30
    while not log.read_text().strip():
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    child, orphan = (int(pid) for pid in log.read_text().split())
    return server, child, orphan


def test_a_server_stops_with_everything_it_started(tmp_path: Path):
    server, child, orphan = start(tmp_path)
    assert os.getsid(server.pid) == server.pid != os.getsid(0)  # a session of its own
    tree = descendants(server.pid)
    assert {child, orphan} <= set(tree), tree  # the orphan by its session: its parent is gone
    assert psutil.Process(orphan).ppid() != server.pid

    began = time.monotonic()
    stop_process_tree(server, "the server", timeout=10)
    assert server.returncode is not None and time.monotonic() - began < 10  # SIGTERM was enough for it
    assert [pid for pid in tree if alive(pid)] == []  # its SIGTERM-deaf children killed after


def test_kill_tree_kills_a_process_and_everything_below_it_at_once(tmp_path: Path):
    server, child, orphan = start(tmp_path)
    kill_tree(server.pid)
    assert server.wait(10) == -9
    deadline = time.monotonic() + 10
    while (alive(child) or alive(orphan)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child) and not alive(orphan)


def test_start_time_tells_a_process_from_another_with_its_pid():
    assert start_time(os.getpid()) == psutil.Process().create_time()
    assert start_time(2**22 + 1) is None  # above pid_max: no such process
