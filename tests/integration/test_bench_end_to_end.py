"""The bench's whole chain on this tree's paygate dev: start metered, pay, read the meters, price, pause.

The figures are whatever this tree's pipeline does; what is checked is that every meter sees its part
of the same payments (the API function once per payment, the capacity meter the writes the workers'
calls made) and that a paused gateway is frozen.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.scenarios import Options, Run  # noqa: E402
from bench.system import Gateway  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("meter", ["inject", "inject-all"])
def test_a_metered_gateway_gives_per_payment_figures_and_can_be_frozen(tmp_path: Path, meter: str) -> None:
    """Both ways of metering this tree: its runtime's own counters (PAYGATE_METER=1) with bench's meters
    injected for the rest (what `make bench` does here), and every meter injected from outside, as
    `make bench-compare` does on a tree that meters nothing (tried here on this tree)."""
    options = Options(payments=3, concurrency=2, sequential=2, idle_seconds=0, timeout=60, warmup=1)
    with Gateway(ROOT, tmp_path / "state", meter=meter) as gateway:
        assert gateway.metering == meter
        run = Run("this tree", gateway.info["api_url"], gateway.info["api_key"], gateway.meter_dir,
                  gateway.logs_dir, options, gateway)
        run.open()
        try:
            run.warm_up()
            run.sequential()
            run.load()
        finally:
            run.close()

        gateway.pause()
        try:
            assert {p.status() for p in gateway.processes()} == {psutil.STATUS_STOPPED}
        finally:
            gateway.resume()

    summary = run.summary()
    assert summary["passed"]
    for name, payments in (("sequential", 2), ("load", 3)):
        figures = summary[name]
        usage = figures["usage"]
        assert figures["completed"] == payments
        assert usage["api_requests"] == 1  # one POST per payment, nothing else in the window
        assert usage["invocations"]["ApiFunction"] == 1
        assert usage["total_calls"] >= usage["aws_calls"].get("dynamodb", {}).get("TransactWriteItems", 0) >= 1
        assert usage["wru"] >= 1 and usage["rru"] > 0
        assert figures["cost_per_million"]["total"] > 0
    # one at a time, every SQS-triggered invocation carries one record
    sequential = summary["sequential"]["usage"]
    assert all(sequential["records_per_invocation"][fn] == 1 for fn in ("ProcessorFunction", "WebhooksFunction")
               if fn in sequential["invocations"])
