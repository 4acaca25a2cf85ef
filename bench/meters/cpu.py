"""How much CPU a process and everything it started use: for "idle paygate dev uses at most 1% of
a core", and for the benchmark's CPU time per payment.

    python -m bench.meters.cpu PID [--seconds 30]    # from the tree's root; prints the percent of one core

The process tree is read again at the end, so workers started meanwhile count too (their whole
CPU time, since they did not exist at the start); a process that ended meanwhile is left out.
"""

from __future__ import annotations

import argparse
import sys
import time

import psutil


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time (user + system, seconds) of ``pid`` and each of its descendants, by pid."""
    root = psutil.Process(pid)
    times: dict[int, float] = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            cpu = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        times[process.pid] = cpu.user + cpu.system
    return times


def measure_cpu(pid: int, seconds: float) -> float:
    """Percent of one core that ``pid`` and its descendants used over the next ``seconds``."""
    before = tree_cpu_seconds(pid)
    started = time.monotonic()
    time.sleep(seconds)
    after = tree_cpu_seconds(pid)
    elapsed = time.monotonic() - started
    used = sum(t - before.get(p, 0.0) for p, t in after.items())
    return 100.0 * used / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.meters.cpu",
                                     description="percent of one core used by a process tree")
    parser.add_argument("pid", type=int)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    print(f"{measure_cpu(args.pid, args.seconds):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
