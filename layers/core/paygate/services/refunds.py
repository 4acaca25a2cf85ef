"""Refunds: accepted with their amount reserved on the payment, then sent to the provider by a command.

Accepting is one transaction: the refund (PENDING, its first event), its Idempotency-Key, and the
reservation on the payment, an update conditioned on the payment being COMPLETED and on what is
reserved already leaving room for this amount (domain.refund.reservation_ceiling). Two refunds racing
can never both fit when only one does: DynamoDB checks the condition and adds the amount atomically.

The refund's command (`refund.process`, in its payment's FIFO group) hands the refund to its payment's
funding (services/funding): a card's is refunded at the provider, with the refund's id as the
provider's Idempotency-Key (a redelivered command finds the same refund, never a second one); a
wallet payment's goes back to the wallet. The outcome is recorded in one transaction with the
payment's side: SUCCEEDED adds `payment.refunded` to the payment (its `amount_refunded` grows);
FAILED releases the reservation.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import refund as domain
from paygate.domain.accounts import Merchant
from paygate.domain.errors import AmountTooLarge
from paygate.domain.payment import PaymentStatus
from paygate.domain.refund import Refund
from paygate.ids import new_event_id, new_id, utc_now
from paygate.observability import logger, metrics
from paygate.observability.tracing import span
from paygate.schemas.messages import Command
from paygate.services.commands.context import WRITE_TRIES, CommandContext
from paygate.services.commands.outcomes import Done, Outcome, RetryLater
from paygate.services.errors import IdempotencyKeyInUse, InvalidRequest, InvalidState, NotFound
from paygate.services.funding.factory import funding_for
from paygate.services.funding.recording import fail_refund
from paygate.services.idempotency import IdempotentRequest
from paygate.services.payments import get_owned
from paygate.services.ports.idempotency import KeyAlreadyUsed, KeyBusy
from paygate.services.ports.payments import PaymentRepository
from paygate.services.ports.records import ConcurrencyConflict, EventMeta, Record
from paygate.services.ports.refunds import RefundRecord, RefundRepository, ReservationRefused

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
        payment = owned.state
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
        with span("refund.create", owned.last_trace, {"payment.id": payment.id}) as traceparent:
            refund, event = domain.open_refund(refund_id=new_id("re"), event_id=new_event_id(), payment=payment,
                                               amount=to_refund, now=utc_now())
            record: RefundRecord = Record(refund, (event,), (traceparent,), correlation_id)
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
    if found is None or found.state.merchant_id != merchant.id:
        raise NotFound(f"no such refund: {refund_id!r}", param="id")
    return found.state


def list_refunds(payments: PaymentRepository, refunds: RefundRepository, merchant: Merchant,
                 payment_id: str) -> list[Refund]:
    payment = get_owned(payments, merchant, payment_id).state
    return refunds.for_payment(payment.id)


# ------------------------------------------------------------------------------ the command


def process_refund(command: Command, ctx: CommandContext) -> Outcome:
    """Give the refund's amount back, as its payment's funding does (at the provider, with the refund's
    id as its Idempotency-Key; or to the wallet), and record the outcome."""
    for _ in range(WRITE_TRIES):
        record = ctx.refunds.get(str(command.refund_id))
        if record is None or record.state.is_terminal or record.state.version < command.expected_version:
            logger.info("stale or duplicate refund command ignored", extra={"refund_id": command.refund_id})
            return Done("stale")
        with span(command.type, command.traceparent, {"payment.id": command.payment_id,
                                                      "order.id": command.order_id}) as traceparent:
            meta = EventMeta(traceparent, command.correlation_id)
            try:
                if not ctx.time_for_provider():
                    return RetryLater(0, "no time left in this invocation for a provider call")
                payment = ctx.payments.get(record.state.payment_id)
                if payment is None:
                    return fail_refund(record, None, ctx.refunds, meta,
                                       ("charge_not_found", "the payment has no charge to refund"))
                return funding_for(payment.state.payment_method, ctx).refund(record, payment, meta)
            except ConcurrencyConflict:
                logger.info("the refund or its payment moved on; deciding again")
    raise ConcurrencyConflict(f"refund {command.refund_id} kept changing")


def settle_dead_refund(command: Command, ctx: CommandContext) -> Outcome:
    """A refund command that reached the dead-letter queue: settled by what is known (the provider is
    asked whether it refunded), never retried (the next reconciliation would)."""
    for _ in range(WRITE_TRIES):
        record = ctx.refunds.get(str(command.refund_id))
        if record is None or record.state.is_terminal:
            return Done("nothing to settle")
        with span("refund.dead_letter", command.traceparent, {"payment.id": command.payment_id}) as traceparent:
            meta = EventMeta(traceparent, command.correlation_id)
            try:
                payment = ctx.payments.get(record.state.payment_id)
                if payment is None:
                    outcome = fail_refund(record, None, ctx.refunds, meta,
                                          ("charge_not_found", "the payment has no charge to refund"))
                else:
                    outcome = funding_for(payment.state.payment_method, ctx).end_dead_refund(record, payment, meta)
            except ConcurrencyConflict:
                continue
        if isinstance(outcome, RetryLater):  # nobody retries a dead letter: the next reconciliation will
            logger.error("dead-lettered refund left PENDING: the provider cannot be asked")
            return Done("left pending")
        return outcome
    raise ConcurrencyConflict(f"refund {command.refund_id} kept changing")
