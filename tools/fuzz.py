"""`make fuzz`: schemathesis against a running `paygate dev`, generated from its own /openapi.json.

    python -m tools.fuzz [--requests 1000] [--seed 1] [--state-dir DIR]

Starts `paygate dev` on a free port (or uses the one running from --state-dir), then runs schemathesis
(examples and fuzzing phases, every operation of the document, the API key of the sandbox
merchant) until the gateway has answered at least --requests requests, counted in its own API access
log. Checks: no server error (5xx), every status code, content type and body as the document says.
Webhook endpoints it creates point at a loopback address (tools/fuzz_hooks.py). Prints the request
count by status; exit status 0 when schemathesis found nothing, 1 when it did, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from paygate_local.devfile import GatewayInfo

ROOT = Path(__file__).resolve().parents[1]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
EXAMPLES_PER_ROUND = 60


def access_log(state_dir: Path) -> Path:
    return state_dir / "logs" / "api.log"


def answered(state_dir: Path) -> collections.Counter:
    """Requests the gateway answered so far, by status (its API access log, one JSON line each)."""
    counts: collections.Counter = collections.Counter()
    try:
        lines = access_log(state_dir).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return counts
    for line in lines:
        try:
            counts[json.loads(line)["status"]] += 1
        except (ValueError, KeyError, TypeError):
            continue
    return counts


def schemathesis_round(info: GatewayInfo, seed: int, examples: int, out: Any) -> int:
    """One schemathesis run; its exit status (0: nothing found)."""
    command = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{info.api_url}/openapi.json",
               "--url", info.api_url, "-H", f"Authorization: Bearer {info.api_key}",
               "--checks", CHECKS, "--phases", "examples,fuzzing", "--max-examples", str(examples),
               "--seed", str(seed), "--workers", "2", "--no-color", "--suppress-health-check", "all",
               "--request-timeout", "30"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tools.fuzz_hooks", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if out is not None:
        out.write(result.stdout)
        out.flush()
    return result.returncode


def fuzz(info: GatewayInfo, state_dir: Path, requests: int, seed: int, out: Any = None) -> tuple[int, collections.Counter]:
    """Rounds with growing seeds until ``requests`` were answered; (worst exit status, counts)."""
    before = answered(state_dir)
    status, round_ = 0, 0
    while True:
        status = max(status, schemathesis_round(info, seed + round_, EXAMPLES_PER_ROUND, out))
        round_ += 1
        counts = answered(state_dir) - before
        if sum(counts.values()) >= requests or status != 0 or round_ >= 50:
            return status, counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--state-dir", type=Path, help="a running paygate dev's state directory (else one is started)")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(ROOT / "infra"), str(ROOT / "layers" / "core")]
    from paygate_local.devfile import DevFileError, read_dev
    from paygate_local.devprocess import DevProcess

    dev = None
    if args.state_dir:
        state_dir = args.state_dir.resolve()
        try:
            info = read_dev(state_dir)
        except DevFileError as exc:
            print(f"fuzz: no running paygate dev in {state_dir}: {exc}", file=sys.stderr)
            return 2
    else:
        state_dir = Path(tempfile.mkdtemp(prefix="paygate-fuzz-")) / "state"
        dev = DevProcess(state_dir).start()
        info = dev.info
    try:
        status, counts = fuzz(info, state_dir, args.requests, args.seed, out=sys.stdout)
    finally:
        if dev is not None:
            dev.stop()
    by_status = ", ".join(f"{code}: {n}" for code, n in sorted(counts.items()))
    print(f"fuzz: {sum(counts.values())} requests answered ({by_status}); "
          f"server errors: {sum(n for code, n in counts.items() if code >= 500)}; schemathesis exit {status}")
    return 0 if status == 0 and not any(code >= 500 for code in counts) else 1


if __name__ == "__main__":
    sys.exit(main())
