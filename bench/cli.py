"""``make bench``: start this tree's ``paygate dev``, run every scenario metered, print the figures.

    python -m bench.cli [--payments 200] [--concurrency 8] [--sequential 30] [--idle-seconds 20]
                        [--import-runs 5] [--meter auto|native|inject|inject-all|off] [--tree DIR] [--json]
    python -m bench.cli --state-dir .paygate    # a gateway already running: no idle CPU; the meter
                                                # figures if it was started metered (make run-metered)

A gateway started by hand is metered when started through bench's injector, which sets
PAYGATE_METER=1 and adds the meters the tree's runtime does not have (DynamoDB capacity, the
workers' AWS calls): ``make run-metered``, i.e. ``.venv/bin/python bench/inject/metered_dev.py dev
--state-dir .paygate [paygate dev's options]``. ``PAYGATE_METER=1 make run`` alone gives only the
runtime's own counters (invocations, API and SQS requests), no AWS calls nor WRU/RRU.

Scenarios, in order: a warm-up (2 payments, not counted); ``--sequential`` payments one at a time
(POST one, wait for its ``payment.completed`` webhook, then the next); ``--payments`` payments from
``--concurrency`` clients; ``--idle-seconds`` of idleness (CPU of the whole process tree); then the
cold import of each function's handler. After each scenario the bench waits until the meter
counters stop moving, and divides what they counted by the payments made.

Exit status: 0 when every payment's webhook arrived with a valid signature; 1 when a webhook is
missing, a signature failed or a POST was not accepted; 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from . import coldstart, pricing, report
from .client import BenchError
from .scenarios import Options, Run
from .system import METER_MODES, THIS_TREE, Gateway, GatewayError, cold_imports, import_targets


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--payments", type=int, default=200, help="payments at load (default 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients at load (default 8)")
    parser.add_argument("--sequential", type=int, default=30,
                        help="payments made one at a time (default 30; 0 skips)")
    parser.add_argument("--idle-seconds", type=float, default=20.0,
                        help="idle CPU measured over this long (default 20; 0 skips)")
    parser.add_argument("--import-runs", type=int, default=5,
                        help="fresh processes per cold-import measurement (default 5; 0 skips)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for the webhooks after the last POST (default 120)")
    parser.add_argument("--token", default="tok_success", help="sandbox card token (default tok_success), or 'wallet': payments from "
                             "16 topped-up customers' wallets")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark paygate dev end to end: throughput, latency, "
                                                 "AWS calls, capacity, price, idle CPU, cold imports.")
    add_common_arguments(parser)
    parser.add_argument("--tree", type=Path, default=THIS_TREE, help="the tree to run (default: this one)")
    parser.add_argument("--meter", default="auto", choices=METER_MODES,
                        help="how paygate dev is metered: native (PAYGATE_METER=1 alone), inject (bench's meters "
                             "for what the tree does not meter itself), inject-all, off; default auto: native "
                             "for a tree that meters everything itself, else inject")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="benchmark the gateway already running from this state dir instead of starting one; "
                             "metered if started by `make run-metered` (.venv/bin/python bench/inject/metered_dev.py "
                             "dev --state-dir DIR)")
    args = parser.parse_args(argv)
    if args.payments < 1 or args.concurrency < 1 or args.sequential < 0 or args.timeout <= 0:
        parser.error("--payments and --concurrency must be at least 1, --sequential >= 0, --timeout positive")
    return args


def options_of(args: argparse.Namespace) -> Options:
    return Options(payments=args.payments, concurrency=args.concurrency, sequential=args.sequential,
                   idle_seconds=args.idle_seconds, timeout=args.timeout, token=args.token)


def make_run(label: str, gateway: Gateway | None, state_dir: Path, options: Options) -> Run:
    info = gateway.info if gateway else json.loads((state_dir / "dev.json").read_text())
    if gateway is not None:
        meter_dir = gateway.meter_dir if gateway.metering != "off" else None
    else:  # a gateway started by hand: metered if started through bench/inject/metered_dev.py
        meter_dir = state_dir / "meter" if (state_dir / "meter" / "runtime.json").exists() else None
    logs_dir = Path(info["logs_dir"]) if info.get("logs_dir") else None
    return Run(label, info["api_url"], info["api_key"], meter_dir, logs_dir, options, gateway)


def run_all(run: Run) -> None:
    run.open()
    try:
        run.warm_up()
        if run.options.sequential:
            run.sequential()
        run.load()
    finally:
        run.close()
    run.idle()


def bench(args: argparse.Namespace) -> dict[str, Any]:
    options = options_of(args)
    if args.state_dir is not None:
        try:
            run = make_run("running gateway", None, args.state_dir, options)
        except (OSError, ValueError, KeyError) as err:
            raise BenchError(f"{args.state_dir}/dev.json: {err}") from None
        run_all(run)
        return {"tree": str(args.state_dir), "metering": "as started" if run.meter_dir else "off", **run.summary()}
    tree = args.tree.resolve()
    with tempfile.TemporaryDirectory(prefix="paygate-bench-") as state_dir:
        with Gateway(tree, Path(state_dir), meter=args.meter) as gateway:
            print(f"bench: paygate dev of {tree} ready at {gateway.info['api_url']} "
                  f"(metering: {gateway.metering})", file=sys.stderr, flush=True)
            run = make_run(tree.name, gateway, Path(state_dir), options)
            run_all(run)
            interpreters = run.read()["interpreters"] if run.meter_dir else None
            cold = coldstart.api_cold_start(import_targets(tree, interpreters), gateway.info, args.import_runs)
        summary = {"tree": str(tree), "metering": gateway.metering, **run.summary()}
        if cold:
            summary["cold_start"] = cold
    if args.import_runs > 0:
        summary["imports"] = cold_imports(import_targets(tree, interpreters), args.import_runs)
    summary["prices"] = {key: {"item": p.item, "dollars": p.dollars, "unit": p.unit, "source": p.source}
                         for key, p in pricing.PRICES.items()}
    summary["prices_checked"] = pricing.PRICES_CHECKED
    return summary


def guarded(work: Callable[[], dict[str, Any]]) -> dict[str, Any] | int:
    """``work()``, or the exit status of the error that stopped it (2: could not run)."""
    try:
        return work()
    except (BenchError, GatewayError) as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2
    except httpx.HTTPError as err:
        print(f"bench: cannot reach the API: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    summary = guarded(lambda: bench(args))
    if isinstance(summary, int):
        return summary
    print(json.dumps(summary, indent=2) if args.json else report.render(summary))
    return 0 if summary["passed"] else 1

if __name__ == "__main__":
    sys.exit(main())
