"""checkov on template.yaml (as `make lint` runs it): no failed check, and every skip says why in the
template itself and is explained in docs/deploying.md, so a reviewer reads the reason where they look."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from paygate_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"


@pytest.fixture(scope="module")
def report() -> dict:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make setup` installs it (requirements-checkov.lock)")
    done = subprocess.run([str(CHECKOV), "-f", "template.yaml", "--framework", "cloudformation", "--skip-download",
                           "-o", "json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def skips_in_template() -> dict[str, list[tuple[str, str]]]:
    """Logical id -> [(check id, comment)] of every ``Metadata: checkov: skip`` in the template."""
    found = {}
    for lid, resource in load_template(ROOT / "template.yaml")["Resources"].items():
        skips = (((resource.get("Metadata") or {}).get("checkov") or {}).get("skip")) or []
        if skips:
            found[lid] = [(s["id"], s.get("comment", "")) for s in skips]
    return found


def test_checkov_fails_no_check(report: dict):
    summary = report["summary"]
    failed = [(r["check_id"], r["resource"]) for r in report["results"]["failed_checks"]]
    assert summary["failed"] == 0 and not failed, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 90  # tables, queues, topic, log groups, roles: checked, not skipped


def test_every_skip_is_one_the_template_states_with_its_reason(report: dict):
    skipped = {(r["check_id"], r["resource"].split(".")[-1]) for r in report["results"]["skipped_checks"]}
    stated = {(check, lid) for lid, skips in skips_in_template().items() for check, _ in skips}
    assert skipped == stated
    for lid, skips in skips_in_template().items():
        for check, comment in skips:
            assert len(comment.split()) >= 12, f"{lid} skips {check} without saying why"


def test_every_skipped_check_is_explained_in_the_deploying_guide():
    guide = (ROOT / "docs" / "deploying.md").read_text()
    for check in {check for skips in skips_in_template().values() for check, _ in skips}:
        assert f"`{check}`" in guide, check
