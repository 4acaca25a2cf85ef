"""The deterministic simulation (docs/simulation.md) at a small size: a fixed set of seeds holds every
invariant, the same seed gives the same history in another process, and each planted fault (a
mutation of a production module, tests/support/planted.py, unknown to the simulator) is caught by the
invariants within 20 seeds. Each run is its own process (the simulation sets its environment, its
clock and moto's state)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAYMENTS = 60


def run(*args: str, planted: str | None = None) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT / "infra")}
    command = ([sys.executable, str(ROOT / "tests" / "support" / "planted.py"), planted] if planted
               else [sys.executable, "-m", "paygate_sim"])
    done = subprocess.run([*command, *args, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert (done.returncode == 0) == all(v["violations"] == 0 for v in out["invariants"].values())
    return out


def violated(out: dict) -> set[str]:
    return {name for name, v in out["invariants"].items() if v["violations"]}


def test_seeds_hold_every_invariant_and_replay_to_the_same_history() -> None:
    first = run("--seed", "11", "--payments", str(PAYMENTS))
    assert violated(first) == set(), first["invariants"]
    assert first["payments"] == PAYMENTS and first["steps"] > 0 and first["checked"]["payments"] == PAYMENTS
    assert sum(first["faults"].values()) > 0, first["faults"]
    assert all(first["provider_calls"][p] > 0 for p in ("sandbox", "sandbox-b")), first["provider_calls"]
    again = run("--seed", "11", "--payments", str(PAYMENTS))
    assert again["history_hash"] == first["history_hash"] and again["steps"] == first["steps"]
    other = run("--seed", "12", "--payments", str(PAYMENTS))
    assert violated(other) == set(), other["invariants"]
    assert other["history_hash"] != first["history_hash"]


@pytest.mark.parametrize(("planted", "caught_by"), [
    ("charge_key_per_try", {"charged_at_most_once"}),
    ("skip_lookup", {"liveness"}),
    ("hold_resolved_twice", {"ledger_balanced", "holds_resolved_once"}),
    ("fail_over_unknown_outcome", {"charged_at_most_once"}),
    ("publish_before_write", {"webhooks_delivered_or_dead_lettered"}),
    ("stale_command_applies", {"charged_at_most_once", "money_matches_state"}),
])
def test_each_planted_fault_is_caught_within_20_seeds(planted: str, caught_by: set[str]) -> None:
    for seed in range(1, 21):
        out = run("--seed", str(seed), "--payments", str(PAYMENTS), planted=planted)
        if violated(out):
            assert violated(out) & caught_by, (planted, seed, out["invariants"])
            assert out["history_tail"], "a violation prints the history around it"
            return
    pytest.fail(f"{planted}: no invariant caught it in 20 seeds")
