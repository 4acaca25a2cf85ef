"""The refund aggregate, the reservation arithmetic, and the payment's cancel and refund events: pure."""

import pytest

from paygate.domain import payment as p
from paygate.domain import refund as r
from paygate.domain.errors import AmountTooLarge, InvalidAmount, InvalidTransition
from paygate.domain.methods import CardMethod
from paygate.domain.money import Money


def payment(status="COMPLETED", amount=1000):
    opened, _ = p.open_payment(payment_id="pay_1", event_id="e1", merchant_id="mer_1", money=Money.of(amount, "usd"),
                               payment_method=CardMethod("tok_success"), now="t1")
    if status == "NEW":
        return opened
    started, _ = p.start_processing(opened, event_id="e2", now="t2")
    if status == "PROCESSING":
        return started
    return p.complete(started, event_id="e3", now="t3", charge_id="ch_1")[0]


# ------------------------------------------------------------------------------ reservation


@pytest.mark.parametrize("paid,reserved,requested,expected", [
    (1000, 0, None, 1000), (1000, 300, None, 700), (1000, 300, 700, 700), (1000, 0, 1, 1), (1000, 900, 100, 100)])
def test_a_refund_takes_what_is_asked_or_all_that_is_left(paid, reserved, requested, expected):
    assert r.refund_amount(paid, reserved, requested) == expected


@pytest.mark.parametrize("paid,reserved,requested,left", [
    (1000, 0, 1001, 1000), (1000, 1000, None, 0), (1000, 1000, 1, 0), (1000, 950, 100, 50), (1000, 0, 0, 1000)])
def test_more_than_is_left_is_refused_and_says_what_is_left(paid, reserved, requested, left):
    with pytest.raises(AmountTooLarge) as refused:
        r.refund_amount(paid, reserved, requested)
    assert refused.value.left == left


def test_the_ceiling_lets_exactly_as_many_refunds_fit_as_the_payment_holds():
    # Given 20 refunds of 100 on 1,000 applied one at a time under the accepting write's condition
    reserved, accepted = 0, 0
    for _ in range(20):
        if reserved <= r.reservation_ceiling(1000, 100):
            reserved += 100
            accepted += 1
    # Then exactly 10 fit and nothing beyond what was paid is ever reserved
    assert (accepted, reserved) == (10, 1000)


# ------------------------------------------------------------------------------ the refund


def test_a_refund_opens_pending_then_succeeds_and_folds_back_from_its_events():
    refund, created = r.open_refund(refund_id="re_1", event_id="e1", payment=payment(), amount=300, now="t1")
    assert (refund.status, refund.version, refund.amount, refund.currency) == ("PENDING", 1, 300, "USD")
    done, succeeded = r.succeed(refund, event_id="e2", now="t2", provider_refund_id="pre_1")
    assert (done.status, done.version, done.provider_refund_id) == ("SUCCEEDED", 2, "pre_1")
    assert [e.sequence for e in (created, succeeded)] == [1, 2]
    assert r.fold([succeeded, created]) == done
    with pytest.raises(InvalidTransition):
        r.fail(done, event_id="e3", now="t3", code="x", message="y")


def test_a_failed_refund_keeps_its_failure():
    refund, _ = r.open_refund(refund_id="re_1", event_id="e1", payment=payment(), amount=300, now="t1")
    failed, _ = r.fail(refund, event_id="e2", now="t2", code="provider_rejected", message="no")
    assert failed.status == "FAILED" and failed.failure.code == "provider_rejected" and failed.is_terminal


@pytest.mark.parametrize("status", ["NEW", "PROCESSING"])
def test_only_a_completed_payment_can_be_refunded(status):
    with pytest.raises(InvalidTransition):
        r.open_refund(refund_id="re_1", event_id="e1", payment=payment(status), amount=1, now="t1")


# ------------------------------------------------------------------------------ the payment's side


def test_a_succeeded_refund_adds_to_amount_refunded_never_past_what_was_paid():
    after, event = p.record_refund(payment(), event_id="e4", now="t4", refund_id="re_1", amount=600)
    assert (after.status, after.version, after.amount_refunded, event.sequence) == ("COMPLETED", 4, 600, 4)
    with pytest.raises(InvalidAmount):
        p.record_refund(after, event_id="e5", now="t5", refund_id="re_2", amount=401)


@pytest.mark.parametrize("status", ["NEW", "PROCESSING"])
def test_a_cancel_is_requested_without_changing_the_status(status):
    before = payment(status)
    after, event = p.request_cancel(before, event_id="ex", now="tx")
    assert (after.status, after.cancel_requested, event.type) == (before.status, True, "payment.cancel_requested")
    # and it can then end CANCELED, or COMPLETED when the provider had charged already
    assert p.cancel(after, event_id="ey", now="ty")[0].status == "CANCELED"


@pytest.mark.parametrize("ends", ["COMPLETED", "FAILED", "CANCELED"])
def test_a_terminal_payment_cannot_be_canceled(ends):
    started = payment("PROCESSING")
    final = {"COMPLETED": lambda: p.complete(started, event_id="e", now="t", charge_id="c")[0],
             "FAILED": lambda: p.fail(started, event_id="e", now="t", code="c", message="m")[0],
             "CANCELED": lambda: p.cancel(started, event_id="e", now="t")[0]}[ends]()
    with pytest.raises(InvalidTransition):
        p.request_cancel(final, event_id="ex", now="tx")
