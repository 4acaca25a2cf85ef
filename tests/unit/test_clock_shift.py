"""The second run of time-dependent tests really moves the clock (tests/conftest.py), for every clock
the code under test might read."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

REAL_START = time.time()  # when this module was imported, before any test moved the clock


@pytest.mark.clock_sensitive
def test_the_clock_is_moved_by_the_days_of_the_run(clock_shift: int) -> None:
    expected = REAL_START + clock_shift * 86400
    assert abs(time.time() - expected) < 3600
    assert abs(datetime.now(timezone.utc).timestamp() - expected) < 3600
    from moto.core.utils import utcnow  # moto's models judge ages by this clock

    assert abs(utcnow().replace(tzinfo=timezone.utc).timestamp() - expected) < 3600


def test_a_test_not_marked_runs_once_on_the_real_clock(clock_shift: int) -> None:
    assert clock_shift == 0 and abs(time.time() - REAL_START) < 3600
