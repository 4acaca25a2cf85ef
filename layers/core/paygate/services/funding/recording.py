"""Writing an outcome, whatever moved the money: a payment through PROCESSING to its end, a refund
SUCCEEDED or FAILED, and the metrics that go with them."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import payment as domain
from paygate.domain import refund as refund_domain
from paygate.domain.payment import Payment, PaymentEvent, PaymentStatus
from paygate.ids import new_event_id, parse_time, utc_now
from paygate.observability import logger, metrics
from paygate.services.commands.outcomes import Done, Outcome
from paygate.services.ports.payments import PaymentRecord, PaymentRepository
from paygate.services.ports.records import EventMeta
from paygate.services.ports.refunds import RefundRecord, RefundRepository


def processing_events(payment: Payment, attempt: tuple[str, str] | None = None) -> tuple[Payment, list[PaymentEvent]]:
    """PROCESSING (with the card's attempt under way), unless the payment is in it already."""
    if payment.status == PaymentStatus.PROCESSING:
        return payment, []
    started, event = domain.start_processing(payment, event_id=new_event_id(), now=utc_now(), attempt=attempt)
    return started, [event]


def record_processing(record: PaymentRecord, payments: PaymentRepository, meta: EventMeta,
                      attempt: tuple[str, str] | None = None) -> None:
    started, events = processing_events(record.state, attempt)
    if events:
        payments.append(record, events, started, meta)


def finish(record: PaymentRecord, payments: PaymentRepository, meta: EventMeta, *,
           failure: tuple[str, str] | None = None, charge_id: str | None = None,
           attempt: tuple[str, str] | None = None) -> PaymentRecord:
    """PROCESSING (if not recorded yet) and the outcome, COMPLETED or FAILED, in one write (the
    outcome names the attempt: PROCESSING written with it need not)."""
    started, events = processing_events(record.state)
    now = utc_now()
    if failure is None:
        final, event = domain.complete(started, event_id=new_event_id(), now=now, charge_id=charge_id,
                                       attempt=attempt)
    else:
        final, event = domain.fail(started, event_id=new_event_id(), now=now, code=failure[0], message=failure[1],
                                   charge_id=charge_id, attempt=attempt)
    written = payments.append(record, [*events, event], final, meta)
    count_finished(record.state, final)
    logger.info("payment finished", extra={"status": str(final.status),
                                           "failure_code": failure[0] if failure else None})
    return written


def count_finished(first: Payment, final: Payment) -> None:
    """The metrics of a payment that ended: CANCELED, or COMPLETED or FAILED with the time it took."""
    if final.status == PaymentStatus.CANCELED:
        metrics.add_metric(name="PaymentsCanceled", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="PaymentsCompleted" if final.status == PaymentStatus.COMPLETED else "PaymentsFailed",
                       unit=MetricUnit.Count, value=1)
    elapsed_ms = (parse_time(final.updated_at) - parse_time(first.created_at)).total_seconds() * 1000
    metrics.add_metric(name="ProcessingTime", unit=MetricUnit.Milliseconds, value=elapsed_ms)


def succeed_refund(record: RefundRecord, payment: PaymentRecord, refunds: RefundRepository, meta: EventMeta,
                   provider_refund_id: str | None) -> Outcome:
    """SUCCEEDED, with `payment.refunded` on its payment (its `amount_refunded` grows), in one transaction."""
    refund = record.state
    now = utc_now()
    after, event = refund_domain.succeed(refund, event_id=new_event_id(), now=now,
                                         provider_refund_id=provider_refund_id)
    paid_back, payment_event = domain.record_refund(payment.state, event_id=new_event_id(), now=now,
                                                    refund_id=refund.id, amount=refund.amount)
    refunds.settle(record, [event], after, meta, payment=payment, payment_events=[payment_event],
                   payment_after=paid_back)
    metrics.add_metric(name="RefundsSucceeded", unit=MetricUnit.Count, value=1)
    logger.info("refund succeeded", extra={"refund_id": refund.id, "amount": refund.amount})
    return Done("SUCCEEDED")


def fail_refund(record: RefundRecord, payment: PaymentRecord | None, refunds: RefundRepository, meta: EventMeta,
                failure: tuple[str, str]) -> Outcome:
    """FAILED, and its reservation released in the same transaction (so it can be refunded again)."""
    refund = record.state
    after, event = refund_domain.fail(refund, event_id=new_event_id(), now=utc_now(), code=failure[0],
                                      message=failure[1])
    refunds.settle(record, [event], after, meta, payment=payment, release=refund.amount if payment else 0)
    metrics.add_metric(name="RefundsFailed", unit=MetricUnit.Count, value=1)
    logger.info("refund failed", extra={"refund_id": refund.id, "failure_code": failure[0]})
    return Done("FAILED")
