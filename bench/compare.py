"""Side by side: the same scenarios against this tree's ``paygate dev`` and a baseline tree's, in one run.

    python -m bench.compare --baseline /work/baseline [--payments 200] [--sequential 30] ... [--json]
    make bench-compare BASELINE=/work/baseline

Both gateways are started, each from its own tree with its own venv, and driven by this tree's
client. They share the machine's noise by taking turns: scenario by scenario (warm-up, one at a
time, at load, idle), one gateway runs while the other's whole process tree is frozen (SIGSTOP),
so it takes no CPU; the order alternates from one scenario to the next. The cold imports are
measured round-robin over both trees' functions. Meter figures come from each gateway's own
metering where it has it, and from bench's meters injected into it for the rest (``--meter``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import report
from .cli import add_common_arguments, guarded, make_run, options_of
from .scenarios import Run
from .system import METER_MODES, THIS_TREE, Gateway, ImportTarget, import_targets, probe_import, summarize_imports


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark this tree and a baseline tree side by side.")
    add_common_arguments(parser)
    parser.add_argument("--baseline", type=Path, required=True, help="the baseline tree (with its own .venv)")
    parser.add_argument("--tree", type=Path, default=THIS_TREE, help="the tree compared (default: this one)")
    parser.add_argument("--meter", default="auto", choices=METER_MODES,
                        help="how each gateway is metered (default auto)")
    return parser.parse_args(argv)


def take_turns(runs: list[Run], step: str, first: int) -> None:
    """Run ``step`` on each run in turn, starting with ``runs[first]``; the others are frozen meanwhile."""
    order = runs[first:] + runs[:first]
    for run in order:
        assert run.gateway is not None
        run.gateway.resume()
        try:
            getattr(run, step)()
        finally:
            run.gateway.pause()


def compare(args: argparse.Namespace) -> dict[str, Any]:
    options = options_of(args)
    trees = [args.baseline.resolve(), args.tree.resolve()]
    with tempfile.TemporaryDirectory(prefix="paygate-compare-") as tmp:
        gateways = [Gateway(tree, Path(tmp) / name, meter=args.meter, label=f"{name}: {tree}")
                    for name, tree in zip(("baseline", "this"), trees, strict=True)]
        runs: list[Run] = []
        try:
            for gateway in gateways:
                gateway.start()
                print(f"bench: {gateway.label} ready (metering: {gateway.metering})", file=sys.stderr, flush=True)
                runs.append(make_run(gateway.label, gateway, gateway.state_dir, options))
                gateway.pause()
            steps = ["open", "warm_up"] + (["sequential"] if options.sequential else []) + ["load", "close", "idle"]
            for index, step in enumerate(steps):
                take_turns(runs, step, index % 2)
            interpreters = [run.read()["interpreters"] if run.meter_dir else None for run in runs]
        finally:
            for gateway in gateways:
                gateway.stop()
    summaries = [{"tree": str(tree), "metering": gateway.metering, **run.summary()}
                 for tree, gateway, run in zip(trees, gateways, runs, strict=True)]
    if args.import_runs > 0:
        targets = [import_targets(tree, seen) for tree, seen in zip(trees, interpreters, strict=True)]
        for summary, result in zip(summaries, _interleaved_imports(targets, args.import_runs), strict=True):
            summary["imports"] = result
    return {"order": "scenario by scenario, alternating which goes first", "baseline": summaries[0],
            "this": summaries[1], "passed": all(s["passed"] for s in summaries)}


def _interleaved_imports(targets: list[list[ImportTarget]], runs: int) -> list[dict[str, Any]]:
    """Both trees' cold imports, one fresh process per sample, each target of one tree next to the same
    target of the other, run after run (so that both see the same moments of the machine's noise)."""
    samples: list[dict[str, list[float]]] = [{t.label: [] for t in tree} for tree in targets]
    for _ in range(runs):
        for position in range(max(len(tree) for tree in targets)):
            for index, tree in enumerate(targets):
                if position < len(tree):
                    samples[index][tree[position].label].append(probe_import(tree[position]))
    return [summarize_imports(tree, per_label, runs) for tree, per_label in zip(targets, samples, strict=True)]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = guarded(lambda: compare(args))
    if isinstance(result, int):
        return result
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(report.render(result["baseline"]), report.render(result["this"]), report.render_compare(result),
              sep="\n\n" + "=" * 100 + "\n\n")
    return 0 if result["passed"] else 1

if __name__ == "__main__":
    sys.exit(main())
