"""The cost model: public prices applied to what one payment uses, checked against issue 6's baseline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import pricing  # noqa: E402

# 5123448, one tok_success payment, one endpoint on all events, one payment at a time (issue 6):
# 18 AWS calls (13 DynamoDB, 5 SQS sends), 18 WRU, 7.5 RRU, 9 invocations (api 1, relay 3, processor 2,
# webhooks 3). Each of the 5 FIFO messages is received and deleted in a batch of its own: 5 + 5 + 5.
BASELINE_LOW_LOAD = {
    "api_requests": 1,
    "lambda_requests": 9,
    "lambda_gb_seconds": 9 * 0.5 * 0.090,  # 512 MB, about 90 ms an invocation
    "dynamodb_wru": 18,
    "dynamodb_rru": 7.5,
    "sqs_fifo_requests": 5 + 5 + 5,
    "sqs_standard_requests": 0,
}


def line(lines: list[pricing.CostLine], key: str) -> float:
    return next(item.per_million for item in lines if item.key == key)


def test_the_baseline_costs_about_32_dollars_per_million_payments_at_low_load() -> None:
    lines = pricing.cost_lines(BASELINE_LOW_LOAD)

    assert line(lines, "dynamodb_wru") == pytest.approx(11.25)  # the "DynamoDB writes $11"
    assert line(lines, "api_requests") == pytest.approx(3.50)
    assert line(lines, "dynamodb_rru") == pytest.approx(0.9375)
    assert line(lines, "sqs_fifo_requests") == pytest.approx(7.50)
    assert line(lines, "lambda_requests") == pytest.approx(1.80)
    assert line(lines, "lambda_gb_seconds") == pytest.approx(6.75, abs=0.01)
    assert 30 <= pricing.total(lines) <= 34


def test_batching_at_load_makes_it_cheaper() -> None:
    # At load the same work comes in batches: fewer invocations (about 40 ms of 512 MB in all per
    # payment), and a receive and a delete per batch rather than per message.
    high = {**BASELINE_LOW_LOAD, "lambda_requests": 1 + 0.3 + 0.4 + 0.6, "lambda_gb_seconds": 0.02,
            "sqs_fifo_requests": 5 + 1 + 1}
    assert pricing.total(pricing.cost_lines(high)) < pricing.total(pricing.cost_lines(BASELINE_LOW_LOAD))
    assert 18 <= pricing.total(pricing.cost_lines(high)) <= 21  # the "$19 at high load"


def test_unknown_quantities_are_left_out_not_priced_as_zero() -> None:
    lines = pricing.cost_lines({"dynamodb_wru": 10, "lambda_gb_seconds": None})
    assert [item.key for item in lines] == ["dynamodb_wru"]
    assert pricing.total(lines) == pytest.approx(6.25)


def test_every_price_says_where_it_comes_from() -> None:
    for price in pricing.PRICES.values():
        assert price.dollars > 0 and price.source.startswith("https://aws.amazon.com/")
