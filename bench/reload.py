"""`make bench-reload`: how soon a saved change is served by `paygate dev`'s hot reload.

A copy of the gateway (template.yaml, functions/, layers/core) runs under `paygate dev` in a temporary
directory; the API function's code is saved with a new summary for /health, N times, and after each
save /openapi.json is asked for in a tight loop (every 10 ms) until it shows the new text. The figure is
the time from the save (the file's write returning) to the first answer with the new code: the watcher
seeing the change, the old workers going, a new one importing the function anew, and the first request.

    python -m bench.reload [--saves 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "infra")]

from paygate_local.devprocess import DevProcess  # noqa: E402


def copy_gateway(where: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copy(ROOT / "template.yaml", where / "template.yaml")
    shutil.copytree(ROOT / "functions", where / "functions", ignore=ignore)
    shutil.copytree(ROOT / "layers" / "core", where / "layers" / "core", ignore=ignore)
    return where / "template.yaml"


def summary(client: httpx.Client) -> str | None:
    answer = client.get("/openapi.json")
    return answer.json()["paths"]["/health"]["get"]["summary"] if answer.status_code == 200 else None


def measure(saves: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="paygate-bench-reload-") as scratch:
        template = copy_gateway(Path(scratch))
        app = template.parent / "functions" / "api" / "app.py"
        with DevProcess(Path(scratch) / "state", template=template) as dev, \
                httpx.Client(base_url=dev.info.api_url, timeout=30) as client:
            assert summary(client) == "Health check"
            latencies, previous = [], "Health check"
            for n in range(1, saves + 1):
                wanted = f"Health check {n}"
                text = app.read_text().replace(f'summary="{previous}"', f'summary="{wanted}"', 1)
                time.sleep(0.5)  # the previous reload's rewarming done: each save is measured alone
                began = time.monotonic()
                app.write_text(text)
                while summary(client) != wanted:
                    if time.monotonic() - began > 30:
                        raise SystemExit(f"save {n} was not served within 30 s:\n{dev.output()}")
                    time.sleep(0.01)
                latencies.append((time.monotonic() - began) * 1000)
                previous = wanted
    ordered = sorted(latencies)
    return {"saves": saves, "median_ms": round(statistics.median(ordered), 0),
            "p90_ms": round(ordered[max(0, int(len(ordered) * 0.9) - 1)], 0),
            "min_ms": round(ordered[0], 0), "max_ms": round(ordered[-1], 0)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reload", description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.saves)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"hot reload, save -> first answer with the new code, over {result['saves']} saves: "
              f"median {result['median_ms']:.0f} ms, p90 {result['p90_ms']:.0f} ms "
              f"(min {result['min_ms']:.0f}, max {result['max_ms']:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
