"""Refunds: accepted with their amount reserved on the payment, then sent to the provider by a command.

Accepting is one transaction: the refund (PENDING, its first event), its Idempotency-Key, and the
reservation on the payment, an update conditioned on the payment being COMPLETED and on what is
reserved already leaving room for this amount (domain.refund.reservation_ceiling). Two refunds racing
can never both fit when only one does: DynamoDB checks the condition and adds the amount atomically.

The refund's command (`refund.process`, in its payment's FIFO group) asks the provider to refund,
with the refund's id as the provider's Idempotency-Key (a redelivered command finds the same refund,
never a second one), and records the outcome in one transaction with the payment's side: SUCCEEDED
adds `payment.refunded` to the payment (its `amount_refunded` grows); FAILED releases the reservation.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import payment as payment_domain
from paygate.domain import refund as domain
from paygate.domain.accounts import Merchant
from paygate.domain.errors import AmountTooLarge
from paygate.domain.payment import PaymentStatus
from paygate.domain.refund import Refund
from paygate.ids import new_event_id, new_id, utc_now
from paygate.observability import count_error, logger, metrics
from paygate.observability.tracing import span
from paygate.schemas.messages import Command
from paygate.services.errors import IdempotencyKeyInUse, InvalidRequest, InvalidState, NotFound
from paygate.services.idempotency import IdempotentRequest
from paygate.services.outcomes import Done, Outcome, RetryLater
from paygate.services.payments import get_owned
from paygate.services.ports import (
    ConcurrencyConflict,
    EventMeta,
    KeyAlreadyUsed,
    KeyBusy,
    PaymentRepository,
    ProviderRejected,
    ProviderUnavailable,
    RefundRecord,
    RefundRepository,
    RefundResult,
    ReservationRefused,
)
from paygate.services.processing import WRITE_TRIES, CommandContext, backoff

# A refused reservation is decided again from a fresh read: the payment's reservations may have
# changed (a refund failed and released its amount) between the read and the write.
ACCEPT_TRIES = 5


@dataclass(frozen=True)
class AcceptedRefund:
    refund: Refund
    replayed: bool = False


# ------------------------------------------------------------------------------ the API's side


def create_refund(payments: PaymentRepository, refunds: RefundRepository, *, merchant: Merchant,
                  payment_id: str, amount: int | None, request: IdempotentRequest,
                  correlation_id: str | None) -> AcceptedRefund:
    """Accept a refund of `amount` (None: all that is left) of a COMPLETED payment. A replay of the
    request that created a refund answers that refund, even once the payment has no room left."""
    for _ in range(ACCEPT_TRIES):
        owned = get_owned(payments, merchant, payment_id)
        payment = owned.payment
        try:
            if payment.status != PaymentStatus.COMPLETED:
                raise InvalidState(f"only a COMPLETED payment can be refunded; this one is {payment.status}",
                                   param="id")
            try:
                to_refund = domain.refund_amount(payment.amount, refunds.reserved(payment.id), amount)
            except AmountTooLarge as exc:
                raise InvalidRequest(str(exc), param="amount", code="amount_too_large") from None
        except (InvalidState, InvalidRequest):
            # Refused now; but if this very request was accepted before (the refund it created used
            # up the room), the key answers it. Looked up only here: an accepted refund costs no read.
            used = payments.find_key(request.scope_key)
            if used is not None and used.expires_at >= request.now:
                return AcceptedRefund(_as_first_answered(refunds, request.replay_of(used)), replayed=True)
            raise
        with span("refund.create", owned.trace_of(len(owned.traces)), {"payment.id": payment.id}) as traceparent:
            refund, event = domain.open_refund(refund_id=new_id("re"), event_id=new_event_id(), payment=payment,
                                               amount=to_refund, now=utc_now())
            record = RefundRecord(refund, (event,), (traceparent,), correlation_id)
            try:
                refunds.create(record, request.record(refund.id), request.now, payment_amount=payment.amount)
            except KeyAlreadyUsed as used:
                original = _as_first_answered(refunds, request.replay_of(used.existing))
                logger.info("idempotent replay", extra={"refund_id": original.id})
                return AcceptedRefund(original, replayed=True)
            except KeyBusy:
                raise IdempotencyKeyInUse("the payment is being refunded by other requests at this very moment; "
                                          "retry", param="Idempotency-Key") from None
            except ReservationRefused:
                logger.info("reservation refused; deciding again from a fresh read")
                continue
        logger.info("refund accepted", extra={"refund_id": refund.id, "payment_id": payment.id,
                                              "amount": refund.amount})
        metrics.add_metric(name="RefundsCreated", unit=MetricUnit.Count, value=1)
        return AcceptedRefund(refund)
    raise IdempotencyKeyInUse("the payment's refunds kept changing while this one was accepted; retry", param="id")


def _as_first_answered(refunds: RefundRepository, refund_id: str) -> Refund:
    found = refunds.get(refund_id)
    if found is None:  # the key and the refund are written together: this cannot happen
        raise RuntimeError(f"idempotency key refers to a missing refund {refund_id}")
    return domain.snapshots(found.events)[0]


def get_refund(refunds: RefundRepository, merchant: Merchant, refund_id: str) -> Refund:
    found = refunds.get(refund_id) if len(refund_id) <= 64 else None
    if found is None or found.refund.merchant_id != merchant.id:
        raise NotFound(f"no such refund: {refund_id!r}", param="id")
    return found.refund


def list_refunds(payments: PaymentRepository, refunds: RefundRepository, merchant: Merchant,
                 payment_id: str) -> list[Refund]:
    payment = get_owned(payments, merchant, payment_id).payment
    return refunds.for_payment(payment.id)


# ------------------------------------------------------------------------------ the command


def process_refund(command: Command, ctx: CommandContext) -> Outcome:
    """Refund at the provider (its Idempotency-Key is the refund's id) and record the outcome."""
    refunds = _refunds_of(ctx)
    for _ in range(WRITE_TRIES):
        record = refunds.get(str(command.refund_id))
        if record is None or record.refund.is_terminal or record.refund.version < command.expected_version:
            logger.info("stale or duplicate refund command ignored", extra={"refund_id": command.refund_id})
            return Done("stale")
        with span(command.type, command.traceparent, {"payment.id": command.payment_id, "order.id": command.order_id}) as traceparent:
            meta = EventMeta(traceparent, command.correlation_id)
            try:
                return _refund(record, refunds, ctx, meta)
            except ConcurrencyConflict:
                logger.info("the refund or its payment moved on; deciding again")
    raise ConcurrencyConflict(f"refund {command.refund_id} kept changing")


def _refund(record: RefundRecord, refunds: RefundRepository, ctx: CommandContext, meta: EventMeta) -> Outcome:
    refund = record.refund
    if ctx.time_left() < ctx.provider_timeout + 2:
        return RetryLater(0, "no time left in this invocation for a provider call")
    payment = ctx.payments.get(refund.payment_id)
    if payment is not None and payment.payment.is_wallet:
        from paygate.services.wallets import refund_to_wallet

        return refund_to_wallet(record, payment, refunds, ctx, meta)
    if payment is None or not payment.payment.provider_charge_id:
        return _fail(record, refunds, ctx, meta, ("charge_not_found", "the payment has no charge to refund"))
    try:
        result = ctx.provider.refund(charge_id=payment.payment.provider_charge_id, amount=refund.amount,
                                     idempotency_key=refund.id)
    except ProviderRejected as exc:
        logger.error("provider refused the refund", extra={"reason": str(exc)})
        return _fail(record, refunds, ctx, meta, ("provider_rejected", "the payment provider refused the refund"))
    except ProviderUnavailable as exc:
        count_error("provider_unavailable")
        if ctx.attempt >= ctx.max_attempts:
            return _settle_unknown(record, refunds, ctx, meta)
        delay = backoff(ctx.attempt, ctx.backoff_base)
        logger.warning("provider unavailable, refund will be retried", extra={"attempt": ctx.attempt, "delay": delay})
        return RetryLater(delay, f"provider unavailable: {exc}")
    return _succeed(record, refunds, ctx, meta, result)


def _succeed(record: RefundRecord, refunds: RefundRepository, ctx: CommandContext, meta: EventMeta,
             result: RefundResult) -> Outcome:
    refund = record.refund
    payment = ctx.payments.get(refund.payment_id)
    if payment is None:
        raise RuntimeError(f"refund {refund.id} of a missing payment")
    now = utc_now()
    after, event = domain.succeed(refund, event_id=new_event_id(), now=now, provider_refund_id=result.refund_id)
    paid_back, payment_event = payment_domain.record_refund(payment.payment, event_id=new_event_id(), now=now,
                                                            refund_id=refund.id, amount=refund.amount)
    refunds.settle(record, [event], after, meta, payment=payment, payment_events=[payment_event],
                   payment_after=paid_back)
    metrics.add_metric(name="RefundsSucceeded", unit=MetricUnit.Count, value=1)
    logger.info("refund succeeded", extra={"refund_id": refund.id, "amount": refund.amount})
    return Done("SUCCEEDED")


def _fail(record: RefundRecord, refunds: RefundRepository, ctx: CommandContext, meta: EventMeta,
          failure: tuple[str, str]) -> Outcome:
    """FAILED, and its reservation released in the same transaction (so it can be refunded again)."""
    refund = record.refund
    after, event = domain.fail(refund, event_id=new_event_id(), now=utc_now(), code=failure[0], message=failure[1])
    payment = ctx.payments.get(refund.payment_id)
    refunds.settle(record, [event], after, meta, payment=payment, release=refund.amount if payment else 0)
    metrics.add_metric(name="RefundsFailed", unit=MetricUnit.Count, value=1)
    logger.info("refund failed", extra={"refund_id": refund.id, "failure_code": failure[0]})
    return Done("FAILED")


def _settle_unknown(record: RefundRecord, refunds: RefundRepository, ctx: CommandContext,
                    meta: EventMeta) -> Outcome:
    """Before failing a refund, ask the provider whether it refunded after all (by our key)."""
    try:
        found = ctx.provider.find_refund(record.refund.payment_id, record.refund.id)
    except (ProviderUnavailable, ProviderRejected) as exc:
        logger.error("could not look the refund up; leaving it PENDING to be retried", extra={"reason": str(exc)})
        return RetryLater(backoff(ctx.attempt, ctx.backoff_base), "provider unavailable")
    if found is not None:
        return _succeed(record, refunds, ctx, meta, found)
    return _fail(record, refunds, ctx, meta, ("provider_unavailable",
                                              "the payment provider could not be reached; nothing was refunded"))


def settle_dead_refund(command: Command, ctx: CommandContext) -> Outcome:
    """A refund command that reached the dead-letter queue: settled by what the provider knows."""
    refunds = _refunds_of(ctx)
    for _ in range(WRITE_TRIES):
        record = refunds.get(str(command.refund_id))
        if record is None or record.refund.is_terminal:
            return Done("nothing to settle")
        with span("refund.dead_letter", command.traceparent, {"payment.id": command.payment_id}) as traceparent:
            try:
                outcome = _settle_unknown(record, refunds, ctx, EventMeta(traceparent, command.correlation_id))
            except ConcurrencyConflict:
                continue
        if isinstance(outcome, RetryLater):  # nobody retries a dead letter: the next reconciliation will
            logger.error("dead-lettered refund left PENDING: the provider cannot be asked")
            return Done("left pending")
        return outcome
    raise ConcurrencyConflict(f"refund {command.refund_id} kept changing")


def _refunds_of(ctx: CommandContext) -> RefundRepository:
    if ctx.refunds is None:
        raise RuntimeError("a refund command needs the refunds repository in its context")
    return ctx.refunds
