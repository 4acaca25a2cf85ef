import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "core"))
sys.path.insert(0, str(ROOT / "infra"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "unit"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

# Powertools metrics need a namespace; tests never send to AWS.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "PaygateTest")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tests")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


# Tests of time-dependent code (the log shipper, EMF, reconciliation's threshold, idempotency expiry,
# event retention) carry @pytest.mark.clock_sensitive and run twice: today, and with this process's
# clock moved 90 days ahead (time-machine: time.time, datetime.now and moto's own clock move with it).
# A fixed date that a test hands to code measuring age against the clock fails the second run long
# before the calendar catches up with it.
CLOCK_SHIFTS = {"today": 0, "90-days-ahead": 90}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("clock_sensitive"):
        metafunc.parametrize("clock_shift", list(CLOCK_SHIFTS.values()), ids=list(CLOCK_SHIFTS), indirect=True)


@pytest.fixture(autouse=True)
def clock_shift(request: pytest.FixtureRequest):
    """Days this test's clock is moved ahead (0 but for the clock_sensitive tests' second run). Autouse,
    so it is in place before the test's other fixtures (moto, tables, keys) read the time."""
    days = getattr(request, "param", 0)
    if not days:
        yield 0
        return
    import time_machine

    with time_machine.travel(datetime.now(timezone.utc) + timedelta(days=days), tick=True):
        yield days
