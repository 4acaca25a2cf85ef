"""python -m paygate_sim --seed N --payments M [--json]: one simulation run (docs/simulation.md)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null, *saved):
            os.close(fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paygate_sim", description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    parser.add_argument("--no-faults", action="store_true", help="the same workload without faults")
    args = parser.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":  # set and iteration orders are part of the history
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "paygate_sim", *(argv if argv is not None else sys.argv[1:])])
    from paygate_sim.run import simulate

    with quiet():  # the functions' logs and metrics (their handlers hold the streams they found at import)
        out = simulate(args.seed, args.payments, faults_on=not args.no_faults)
    ok = all(v["violations"] == 0 for v in out["invariants"].values())
    if not args.json:
        for line in out.get("history_tail", []):
            print(line, file=sys.stderr)
        if not ok:
            print(f"invariant violated: reproduce with `make simulate SEED={args.seed} PAYMENTS={args.payments}`",
                  file=sys.stderr)
    out.pop("history_tail", None) if args.json and ok else None
    print(json.dumps(out, separators=(",", ":")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
