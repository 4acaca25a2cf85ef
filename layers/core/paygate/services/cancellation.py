"""Cancel and void: the merchant's cancel is recorded at once, and settled by a command.

Why a command rather than writing CANCELED from the API: the processor charges first and records
the outcome after, so a CANCELED written while its charge is under way would lose the charge (money
taken for a canceled payment). The API only records `payment.cancel_requested` (a write conditioned on
the version, like every write). Its command runs in the payment's FIFO group, after any charge command
that came first; the processor never starts a charge once a cancel is requested; and the cancel
command asks the provider what it holds before it decides:

- a charge that took money: the payment ends COMPLETED (the cancel is answered by payment.completed);
- a pending charge: voided at the provider, then CANCELED (if it succeeded meanwhile the void is
  refused and the payment ends COMPLETED);
- no charge (or only a declined one): CANCELED.

Every write is conditioned on the version it was decided on, so the processor (or a provider callback)
and the cancel can never both win: whichever writes second re-reads and finds the payment final.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import payment as domain
from paygate.domain.accounts import Merchant
from paygate.domain.payment import EventType, Payment, PaymentEvent, PaymentStatus
from paygate.ids import new_event_id, utc_now
from paygate.observability import logger, metrics
from paygate.observability.tracing import span
from paygate.schemas.messages import Command
from paygate.services.errors import IdempotencyKeyInUse, InvalidState
from paygate.services.idempotency import IdempotentRequest
from paygate.services.outcomes import Done, Outcome, RetryLater
from paygate.services.payments import Accepted, get_owned
from paygate.services.ports import (
    ChargeResult,
    ConcurrencyConflict,
    EventMeta,
    KeyAlreadyUsed,
    KeyBusy,
    PaymentRecord,
    PaymentRepository,
    ProviderRejected,
    ProviderUnavailable,
)
from paygate.services.processing import WRITE_TRIES, CommandContext, backoff

# ------------------------------------------------------------------------------ the API's side


def request_cancel(payments: PaymentRepository, *, merchant: Merchant, payment_id: str,
                   request: IdempotentRequest | None, correlation_id: str | None) -> Accepted:
    """Record the merchant's cancel (202 with the payment right after its cancel was recorded).
    Terminal: InvalidState. A cancel already requested is answered the same way. With an
    Idempotency-Key, the key is written with the cancel (or alone, when the cancel was requested
    already) and the same request again replays the first answer, whatever the payment became."""
    if request is not None:
        used = payments.find_key(request.scope_key)
        if used is not None and used.expires_at >= request.now:
            return _replay(payments, merchant, request.replay_of(used))
    for _ in range(WRITE_TRIES):
        record = get_owned(payments, merchant, payment_id)
        payment = record.payment
        if payment.is_terminal:
            raise InvalidState(f"the payment is {payment.status} already and cannot be canceled", param="id")
        if payment.cancel_requested:
            replayed = False
            if request is not None:
                try:
                    payments.record_key(request.record(payment.id), request.now)
                except KeyAlreadyUsed as used_now:
                    request.replay_of(used_now.existing)  # this request's first use, or a 422
                    replayed = True
                except KeyBusy:
                    raise IdempotencyKeyInUse("a request with this Idempotency-Key is being processed right now; "
                                              "retry", param="Idempotency-Key") from None
            return Accepted(_as_canceled(record), replayed=replayed)
        # In the payment's trace: the cancel continues from the last span that wrote the payment.
        with span("payment.cancel_requested", record.trace_of(len(record.traces)),
                  {"payment.id": payment.id}) as traceparent:
            after, event = domain.request_cancel(payment, event_id=new_event_id(), now=utc_now())
            meta = EventMeta(traceparent, correlation_id)
            try:
                if request is None:
                    payments.append(record, [event], after, meta)
                else:
                    payments.append_with_key(record, [event], after, meta, request.record(payment.id), request.now)
            except ConcurrencyConflict:
                continue
            except KeyAlreadyUsed as used_now:
                return _replay(payments, merchant, request.replay_of(used_now.existing))  # type: ignore[union-attr]
            except KeyBusy:
                raise IdempotencyKeyInUse("a request with this Idempotency-Key is being processed right now; retry",
                                          param="Idempotency-Key") from None
        logger.info("cancel requested", extra={"payment_id": payment.id, "status": str(payment.status)})
        return Accepted(after)
    raise IdempotencyKeyInUse("the payment kept changing while the cancel was recorded; retry", param="id")


def _replay(payments: PaymentRepository, merchant: Merchant, payment_id: str) -> Accepted:
    """The first answer to a cancel, again."""
    return Accepted(_as_canceled(get_owned(payments, merchant, payment_id)), replayed=True)


def _as_canceled(record: PaymentRecord) -> Payment:
    """What a cancel is answered with: the payment right after its cancel was recorded."""
    states = domain.snapshots(record.events)
    for event, state in zip(record.events, states, strict=True):
        if event.type == EventType.CANCEL_REQUESTED:
            return state
    return record.payment


# ------------------------------------------------------------------------------ the command


def cancel_payment(command: Command, ctx: CommandContext) -> Outcome:
    """Settle a requested cancel by what the provider holds (see the module's docstring)."""
    for _ in range(WRITE_TRIES):
        record = ctx.payments.get(command.payment_id)
        if record is None or record.payment.is_terminal or not record.payment.cancel_requested:
            return Done("nothing to cancel")
        with span(command.type, command.traceparent, {"payment.id": command.payment_id, "order.id": command.order_id}) as traceparent:
            meta = EventMeta(traceparent, command.correlation_id)
            try:
                return _settle(record, ctx, meta)
            except ConcurrencyConflict:
                logger.info("the payment moved on while being canceled; deciding again")
            except ProviderUnavailable as exc:
                delay = backoff(ctx.attempt, ctx.backoff_base)
                logger.warning("provider unavailable while canceling, will retry",
                               extra={"attempt": ctx.attempt, "delay": delay})
                return RetryLater(delay, f"provider unavailable: {exc}")
    raise ConcurrencyConflict(f"payment {command.payment_id} kept changing")


def _settle(record: PaymentRecord, ctx: CommandContext, meta: EventMeta) -> Outcome:
    payment = record.payment
    if payment.is_wallet:
        from paygate.services.wallets import cancel_wallet_payment

        return cancel_wallet_payment(record, ctx, meta)
    found = ctx.provider.find_charge(payment.id)
    if found is not None and found.status == "pending":
        try:
            voided = ctx.provider.void(str(found.charge_id))
        except ProviderRejected:
            # No longer pending: it succeeded or was declined meanwhile. Ask again, then decide.
            found = ctx.provider.find_charge(payment.id)
        else:
            logger.info("pending charge voided", extra={"charge_id": voided.charge_id})
            found = None
    if found is not None and found.status == "pending":
        return RetryLater(backoff(ctx.attempt, ctx.backoff_base), "the charge is still pending at the provider")
    if found is not None and found.status == "succeeded":
        return _write(record, ctx, meta, _completed(payment, found))
    metrics.add_metric(name="PaymentsCanceled", unit=MetricUnit.Count, value=1)
    return _write(record, ctx, meta, [domain.cancel(payment, event_id=new_event_id(), now=utc_now())])


def _completed(payment: Payment, found: ChargeResult) -> list[tuple[Payment, PaymentEvent]]:
    """The charge was taken before the cancel could stop it: the payment ends COMPLETED."""
    logger.warning("the provider charged before the cancel; completing", extra={"charge_id": found.charge_id})
    steps = []
    if payment.status == PaymentStatus.NEW:
        payment, event = domain.start_processing(payment, event_id=new_event_id(), now=utc_now())
        steps.append((payment, event))
    steps.append(domain.complete(payment, event_id=new_event_id(), now=utc_now(), charge_id=found.charge_id))
    metrics.add_metric(name="PaymentsCompleted", unit=MetricUnit.Count, value=1)
    return steps


def _write(record: PaymentRecord, ctx: CommandContext, meta: EventMeta,
           steps: list[tuple[Payment, PaymentEvent]]) -> Outcome:
    final = steps[-1][0]
    ctx.payments.append(record, [event for _, event in steps], final, meta)
    logger.info("cancel settled", extra={"status": str(final.status)})
    return Done(str(final.status))
