"""Cancel and void: the merchant's cancel is recorded at once, and settled by a command.

Why a command rather than writing CANCELED from the API: the processor charges first and records
the outcome after, so a CANCELED written while its charge is under way would lose the charge (money
taken for a canceled payment). The API only records `payment.cancel_requested` (a write conditioned on
the version, like every write). Its command runs in the payment's FIFO group, after any charge command
that came first; the processor never starts a charge once a cancel is requested; and the cancel
command asks the payment's funding (services/funding) to settle it by what is known:

- a card: a charge that took money ends the payment COMPLETED (the cancel is answered by
  payment.completed); a pending charge is voided at the provider, then CANCELED (if it succeeded
  meanwhile the void is refused and the payment ends COMPLETED); no charge (or a declined one): CANCELED;
- a wallet: a hold is released with CANCELED (unless a bill's biller was paid: then it is captured).

Every write is conditioned on the version it was decided on, so the processor (or a provider callback)
and the cancel can never both win: whichever writes second re-reads and finds the payment final.
"""

from __future__ import annotations

from paygate.domain import payment as domain
from paygate.domain.accounts import Merchant
from paygate.domain.payment import EventType, Payment
from paygate.ids import new_event_id, utc_now
from paygate.observability import logger
from paygate.observability.tracing import span
from paygate.schemas.messages import Command
from paygate.services.commands.context import WRITE_TRIES, CommandContext
from paygate.services.commands.outcomes import Done, Outcome, RetryLater
from paygate.services.errors import IdempotencyKeyInUse, InvalidState
from paygate.services.funding.factory import funding_for
from paygate.services.idempotency import IdempotentRequest
from paygate.services.payments import Accepted, get_owned
from paygate.services.ports.idempotency import KeyAlreadyUsed, KeyBusy
from paygate.services.ports.payments import PaymentRecord, PaymentRepository
from paygate.services.ports.provider import ProviderUnavailable
from paygate.services.ports.records import ConcurrencyConflict, EventMeta

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
        payment = record.state
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
        with span("payment.cancel_requested", record.last_trace,
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
    return record.state


# ------------------------------------------------------------------------------ the command


def cancel_payment(command: Command, ctx: CommandContext) -> Outcome:
    """Settle a requested cancel by what the provider holds, or release the hold (see the module's
    docstring): the payment's funding decides how."""
    for _ in range(WRITE_TRIES):
        record = ctx.payments.get(command.payment_id)
        if record is None or record.state.is_terminal or not record.state.cancel_requested:
            return Done("nothing to cancel")
        with span(command.type, command.traceparent, {"payment.id": command.payment_id,
                                                      "order.id": command.order_id}) as traceparent:
            try:
                return funding_for(record.state.payment_method, ctx).cancel(
                    record, EventMeta(traceparent, command.correlation_id))
            except ConcurrencyConflict:
                logger.info("the payment moved on while being canceled; deciding again")
            except ProviderUnavailable as exc:
                delay = ctx.backoff()
                logger.warning("provider unavailable while canceling, will retry",
                               extra={"attempt": ctx.attempt, "delay": delay})
                return RetryLater(delay, f"provider unavailable: {exc}")
    raise ConcurrencyConflict(f"payment {command.payment_id} kept changing")
