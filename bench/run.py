"""`make bench`: start `paygate dev` on a free port, run bench/bench.py against it, stop it.

Extra arguments go to bench.py (e.g. `make bench BENCH_ARGS="--payments 500 --concurrency 16"`).
With `--state-dir DIR` of a gateway already running (`make run`), it benchmarks that one instead.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402
from paygate_local.devprocess import DevProcess  # noqa: E402


def main(argv: list[str]) -> int:
    if "--state-dir" in argv:
        return bench.main(argv)
    with tempfile.TemporaryDirectory(prefix="paygate-bench-") as state_dir:
        with DevProcess(state_dir) as dev:
            print(f"paygate dev ready at {dev.info['api_url']} (logs: {state_dir}/logs)", flush=True)
            return bench.main(["--state-dir", state_dir, *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
