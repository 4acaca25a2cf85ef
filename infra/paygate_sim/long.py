"""python -m paygate_sim.long --minutes T --payments M [--first-seed S]: seed after seed, each in its
own process, for as long as asked; one JSON line per seed, then the totals. Exit 1 if any seed broke
an invariant (its line says how to replay it)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paygate_sim.long", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--first-seed", type=int, default=1)
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.minutes * 60
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    faults: Counter[str] = Counter()
    failed: list[int] = []
    seeds = steps = cpu = 0
    seed = args.first_seed
    while time.monotonic() < deadline:
        done = subprocess.run([sys.executable, "-m", "paygate_sim", "--seed", str(seed), "--payments",
                               str(args.payments), "--json"], env=env, capture_output=True, text=True)
        out = json.loads(done.stdout.strip().splitlines()[-1])
        broken = {k: v for k, v in out["invariants"].items() if v["violations"]}
        print(json.dumps({"seed": seed, "ok": not broken, "history_hash": out["history_hash"], "steps": out["steps"],
                          "cpu_seconds": out["cpu_seconds"], **({"violated": broken, "replay":
                          f"make simulate SEED={seed} PAYMENTS={args.payments}"} if broken else {})}), flush=True)
        faults.update(out["faults"])
        seeds, steps, cpu = seeds + 1, steps + out["steps"], cpu + out["cpu_seconds"]
        if broken:
            failed.append(seed)
        seed += 1
    print(json.dumps({"seeds": seeds, "payments_each": args.payments, "failed_seeds": failed, "steps": steps,
                      "cpu_seconds": round(cpu, 1), "faults": dict(sorted(faults.items()))}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
