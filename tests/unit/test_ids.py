"""Ids that sort by time: the merchant's event list is one range of them."""

from __future__ import annotations

import pytest

from paygate import ids
from paygate.ids import new_sorted_id


@pytest.fixture(autouse=True)
def _own_clock(monkeypatch):
    """These tests set the clock far ahead: the ids made after them go back to the real one."""
    monkeypatch.setattr(ids, "_last_sorted", (0, 0))


def test_sorted_ids_sort_by_time_and_have_the_usual_length():
    earlier, later = new_sorted_id("evt", now_ms=1_800_000_000_000), new_sorted_id("evt", now_ms=1_800_000_000_001)
    assert earlier < later and len(earlier) == len("evt_") + 24
    assert earlier[4:12] != later[4:12] and earlier[4:].isalnum()


def test_ids_made_in_one_millisecond_keep_the_order_they_were_made_in():
    made = [new_sorted_id("evt", now_ms=1_900_000_000_000) for _ in range(1000)]
    assert made == sorted(made) and len(set(made)) == 1000


def test_a_clock_that_steps_back_never_makes_an_id_sort_before_the_last():
    first = new_sorted_id("att", now_ms=2_000_000_000_000)
    assert new_sorted_id("att", now_ms=1_000_000_000_000) > first
