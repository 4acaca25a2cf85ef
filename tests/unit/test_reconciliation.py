"""Reconciliation (pure, with fakes) and the schedule expressions the local runtime runs."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from paygate.services.triggered.reconciliation import reconcile
from paygate_local.template import TemplateError, rate_seconds

# Reconciliation's threshold: also run 90 days ahead (tests/conftest.py).
pytestmark = pytest.mark.clock_sensitive


class Index:
    def __init__(self, ids):
        self.ids, self.asked = ids, []

    def in_progress_since(self, before, limit):
        self.asked.append((before, limit))
        return self.ids


class Published:
    def __init__(self):
        self.messages = []

    def publish(self, queue_url, messages):
        self.messages += list(messages)


def test_payments_left_processing_get_one_settle_command_each_per_window():
    index, published = Index(["pay_a", "pay_b"]), Published()
    now = datetime(2026, 11, 23, 12, 0, 30, tzinfo=timezone.utc)
    run = reconcile(index, published, commands_queue_url="q.fifo", now=now, older_than_seconds=600)
    assert run.checked == ["pay_a", "pay_b"]
    assert index.asked == [("2026-11-23T11:50:30.000Z", 100)]  # updated before now - 10 minutes
    assert [(m.group_id, json.loads(m.body)["type"]) for m in published.messages] == [
        ("pay_a", "payment.settle"), ("pay_b", "payment.settle")]
    again = Published()
    reconcile(index, again, commands_queue_url="q.fifo", now=now.replace(second=59), older_than_seconds=600)
    assert [m.deduplication_id for m in again.messages] == [m.deduplication_id for m in published.messages]


def test_nothing_stuck_sends_nothing():
    published = Published()
    assert reconcile(Index([]), published, commands_queue_url="q", now=datetime.now(timezone.utc),
                     older_than_seconds=1).checked == []
    assert published.messages == []


@pytest.mark.parametrize("expression, seconds", [("rate(1 minute)", 60), ("rate(5 minutes)", 300),
                                                 ("rate(2 hours)", 7200), ("rate(1 day)", 86400),
                                                 ("cron(0 12 * * ? *)", None)])
def test_rate_expressions(expression, seconds):
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize("bad", ["rate(0 minutes)", "rate(1 fortnight)", "rate(x minutes)", "rate(5)"])
def test_a_malformed_rate_is_a_template_error(bad):
    with pytest.raises(TemplateError):
        rate_seconds(bad)
