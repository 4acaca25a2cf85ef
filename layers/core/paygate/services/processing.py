"""The processor: runs a payment's commands against the payment provider.

`process_payment` is the whole charge in one command: it reads the payment, charges it, and records
PROCESSING together with the provider's answer in one write. PROCESSING is recorded on its own only
when the answer is not final: the charge is pending at the provider, or the provider is unavailable
and the command comes back later. A copy of the command that comes again (a crash, a redelivery)
finds the payment where the last write left it and resumes from there; the payment id is the
provider's idempotency key, so a charge is never made twice.

Commands of one payment share a FIFO message group, so two of them never run at once; the
conditional write (on the version read) still guards against any other writer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import payment as domain
from paygate.domain.payment import Payment, PaymentEvent, PaymentStatus
from paygate.ids import new_event_id, parse_time, utc_now
from paygate.observability import count_error, logger, metrics
from paygate.observability.tracing import span
from paygate.schemas.messages import Command
from paygate.services.outcomes import Done, Outcome, RetryLater
from paygate.services.ports import (
    ChargeResult,
    ConcurrencyConflict,
    EventMeta,
    OrderRepository,
    PaymentProvider,
    PaymentRecord,
    PaymentRepository,
    ProviderRejected,
    ProviderUnavailable,
    RefundRepository,
    WalletStore,
)

IN_PROCESS_TRIES = 3
MAX_BACKOFF_SECONDS = 900
WRITE_TRIES = 3  # re-read and decide again when another writer moved the payment first

_DECLINE_MESSAGES = {
    "card_declined": "the card was declined",
    "insufficient_funds": "the card has insufficient funds",
}


@dataclass(frozen=True)
class CommandContext:
    """What a command needs besides the payment: its delivery, the provider, the limits of time."""

    payments: PaymentRepository
    provider: PaymentProvider
    attempt: int = 1  # which delivery of the command this is (SQS's receive count, for a FIFO queue)
    max_attempts: int = 5
    backoff_base: int = 5
    provider_timeout: float = 10.0
    time_left: Callable[[], float] = lambda: 30.0
    sleep: Callable[[float], None] = time.sleep
    refunds: RefundRepository | None = None  # refund commands (services/refunds.py) only
    wallets: WalletStore | None = None  # wallet payments (services/wallets.py)
    orders: OrderRepository | None = None  # order commands (services/orders.py)


def backoff(attempt: int, base: int) -> int:
    """Seconds before delivery `attempt + 1` of a command: base, 2*base, 4*base ... capped."""
    return min(base * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)


def process_payment(command: Command, ctx: CommandContext) -> Outcome:
    for _ in range(WRITE_TRIES):
        record = ctx.payments.get(command.payment_id)
        if record is None:
            logger.warning("command for an unknown payment", extra={"command": command.type})
            return Done("unknown payment")
        payment = record.payment
        if payment.is_wallet:
            from paygate.services.wallets import process_wallet_payment

            return process_wallet_payment(command, ctx, first_read=record)
        if payment.is_terminal or payment.version < command.expected_version:
            # Terminal: a copy that comes after the work was done. Behind the command: cannot happen
            # with one write per change, but never act on a state older than the command's.
            logger.info("stale or duplicate command ignored",
                        extra={"expected_version": command.expected_version, "version": payment.version,
                               "status": str(payment.status)})
            metrics.add_metric(name="StaleCommands", unit=MetricUnit.Count, value=1)
            return Done("stale")
        if payment.cancel_requested:
            # Never charge a payment the merchant canceled: its cancel command (next in this payment's
            # FIFO group) asks the provider what it holds and settles it (services/cancellation.py).
            logger.info("cancel requested: not charging")
            return Done("cancel requested")
        with span(command.type, command.traceparent, {"payment.id": command.payment_id, "order.id": command.order_id}) as traceparent:
            meta = EventMeta(traceparent, command.correlation_id)
            try:
                return _charge(record, ctx, meta)
            except ConcurrencyConflict:
                logger.info("the payment moved on while being processed; deciding again")
    raise ConcurrencyConflict(f"payment {command.payment_id} kept changing")


def _charge(record: PaymentRecord, ctx: CommandContext, meta: EventMeta) -> Outcome:
    payment = record.payment
    if ctx.time_left() < ctx.provider_timeout + 2:
        # Earlier commands of this batch used the time up: come back at once rather than be cut off.
        return RetryLater(0, "no time left in this invocation for a provider call")
    method = payment.payment_method
    if method.get("type") != "card":
        return _finish(record, ctx, meta, failure=("payment_method_unsupported",
                       f"payment method {method.get('type')!r} cannot be charged yet"))
    try:
        result = _charge_with_retries(payment, ctx)
    except ProviderRejected as exc:
        logger.error("provider refused the charge", extra={"reason": str(exc)})
        return _finish(record, ctx, meta, failure=(
            "provider_rejected", "the payment provider refused the charge request"))
    except ProviderUnavailable as exc:
        count_error("provider_unavailable")
        if ctx.attempt >= ctx.max_attempts:
            logger.error("provider unavailable on the last attempt", extra={"attempt": ctx.attempt})
            return settle_unknown(record, ctx, meta, failure=(
                "provider_unavailable", "the payment provider could not be reached; no charge was confirmed"))
        delay = backoff(ctx.attempt, ctx.backoff_base)
        logger.warning("provider unavailable, will retry", extra={"attempt": ctx.attempt, "delay": delay})
        _record_processing(record, ctx, meta)  # the merchant sees it in progress while we wait
        return RetryLater(delay, f"provider unavailable: {exc}")
    return _record_result(record, result, ctx, meta)


def _record_result(record: PaymentRecord, result: ChargeResult, ctx: CommandContext, meta: EventMeta) -> Outcome:
    if result.status == "succeeded":
        return _finish(record, ctx, meta, charge_id=result.charge_id)
    if result.status == "declined":
        code = result.decline_code or "card_declined"
        return _finish(record, ctx, meta, charge_id=result.charge_id,
                       failure=(code, _DECLINE_MESSAGES.get(code, "the card was declined")))
    logger.info("charge pending at the provider", extra={"charge_id": result.charge_id})
    _record_processing(record, ctx, meta)
    return Done("pending at the provider")


def _charge_with_retries(payment: Payment, ctx: CommandContext) -> ChargeResult:
    """A few quick tries for transient faults, while the invocation has time for another full call.
    The payment id is the provider's idempotency key, so a retry can never charge twice."""
    delay = 0.2
    for tries in range(1, IN_PROCESS_TRIES + 1):
        try:
            return ctx.provider.charge(
                reference=payment.id, amount=payment.amount, currency=payment.currency,
                token=str(payment.payment_method.get("token")), idempotency_key=payment.id,
            )
        except ProviderUnavailable:
            if tries == IN_PROCESS_TRIES or ctx.time_left() < ctx.provider_timeout + delay + 2:
                raise
            metrics.add_metric(name="ProviderRetries", unit=MetricUnit.Count, value=1)
            ctx.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _processing_events(payment: Payment) -> tuple[Payment, list[PaymentEvent]]:
    """PROCESSING, unless the payment is in it already."""
    if payment.status == PaymentStatus.PROCESSING:
        return payment, []
    started, event = domain.start_processing(payment, event_id=new_event_id(), now=utc_now())
    return started, [event]


def _record_processing(record: PaymentRecord, ctx: CommandContext, meta: EventMeta) -> None:
    started, events = _processing_events(record.payment)
    if events:
        ctx.payments.append(record, events, started, meta)


def _finish(record: PaymentRecord, ctx: CommandContext, meta: EventMeta, *,
            failure: tuple[str, str] | None = None, charge_id: str | None = None) -> Outcome:
    """PROCESSING (if not recorded yet) and the outcome, in one write."""
    payment = record.payment
    started, events = _processing_events(payment)
    now = utc_now()
    if failure is None:
        final, event = domain.complete(started, event_id=new_event_id(), now=now, charge_id=charge_id)
    else:
        final, event = domain.fail(started, event_id=new_event_id(), now=now, code=failure[0],
                                   message=failure[1], charge_id=charge_id)
    ctx.payments.append(record, [*events, event], final, meta)
    metrics.add_metric(name="PaymentsCompleted" if failure is None else "PaymentsFailed",
                       unit=MetricUnit.Count, value=1)
    elapsed_ms = (parse_time(now) - parse_time(payment.created_at)).total_seconds() * 1000
    metrics.add_metric(name="ProcessingTime", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    logger.info("payment finished", extra={"status": str(final.status),
                                           "failure_code": failure[0] if failure else None})
    return Done(str(final.status))


def settle_unknown(record: PaymentRecord, ctx: CommandContext, meta: EventMeta, *,
                   failure: tuple[str, str]) -> Outcome:
    """Before giving up on a payment, ask the provider whether it charged after all (a timeout can
    hide a charge): a charge found completes the payment, a pending one leaves it processing, and
    only when none is found, or the provider cannot even be asked, does it end FAILED."""
    try:
        found = ctx.provider.find_charge(record.payment.id)
    except (ProviderUnavailable, ProviderRejected) as exc:
        logger.error("could not look the charge up before failing the payment", extra={"reason": str(exc)})
        found = None
    if found is not None and found.status == "succeeded":
        logger.warning("the provider had charged after all; completing", extra={"charge_id": found.charge_id})
        return _finish(record, ctx, meta, charge_id=found.charge_id)
    if found is not None:
        _record_processing(record, ctx, meta)
        return Done("pending at the provider")
    return _finish(record, ctx, meta, failure=failure)


def fail_dead_command(command: Command, ctx: CommandContext) -> Outcome:
    """A command that kept failing reached the dead-letter queue: end its payment, never stuck.

    What the provider knows decides: a charge found completes the payment, a pending one leaves it
    processing, and only when there is none does it end FAILED `processing_error`."""
    for _ in range(WRITE_TRIES):
        record = ctx.payments.get(command.payment_id)
        if record is None or record.payment.is_terminal:
            return Done("nothing to end")
        try:
            with span("payment.dead_letter", command.traceparent, {"payment.id": command.payment_id}) as traceparent:
                if record.payment.is_wallet:
                    from paygate.services.wallets import end_dead_wallet_payment

                    return end_dead_wallet_payment(record, ctx, EventMeta(traceparent, command.correlation_id))
                return settle_unknown(record, ctx, EventMeta(traceparent, command.correlation_id),
                                      failure=("processing_error",
                                               "the payment could not be processed; no charge was confirmed"))
        except ConcurrencyConflict:
            continue
    raise ConcurrencyConflict(f"payment {command.payment_id} kept changing")


def settle_payment(command: Command, ctx: CommandContext) -> Outcome:
    """The provider called back about a payment's charge: record what the provider holds now.

    The callback is only the signal (its signature checked by the callbacks function); the provider's
    own lookup decides, so a callback that is late, repeated or racing the processor's answer changes
    nothing twice: a terminal payment is left as it is, a charge still pending leaves it PROCESSING.
    It runs in the payment's FIFO group, after the command that charged."""
    for _ in range(WRITE_TRIES):
        record = ctx.payments.get(command.payment_id)
        if record is None or record.payment.is_terminal:
            return Done("nothing to settle")
        if record.payment.cancel_requested:
            return Done("cancel requested: its command settles it")
        if record.payment.is_wallet:  # no charge at the provider: its own command settles it
            return Done("a wallet payment")
        with span(command.type, command.traceparent, {"payment.id": command.payment_id, "order.id": command.order_id}) as traceparent:
            meta = EventMeta(traceparent, command.correlation_id)
            try:
                found = ctx.provider.find_charge(record.payment.id)
            except ProviderUnavailable as exc:
                return RetryLater(backoff(ctx.attempt, ctx.backoff_base), f"provider unavailable: {exc}")
            except ProviderRejected as exc:
                logger.error("the provider refused the charge lookup", extra={"reason": str(exc)})
                return Done("lookup refused")
            if found is None or found.status not in ("succeeded", "declined"):
                return Done("pending at the provider")
            try:
                return _record_result(record, found, ctx, meta)
            except ConcurrencyConflict:
                logger.info("the payment moved on while being settled; deciding again")
    raise ConcurrencyConflict(f"payment {command.payment_id} kept changing")


def leave_dead_settle(command: Command, ctx: CommandContext) -> Outcome:
    """A settle command that kept failing: nothing is lost by dropping it (the charge stays at the
    provider; the next callback, or a lookup, settles the payment)."""
    logger.warning("settle command dead-lettered; the payment stays as it is")
    return Done("left as it is")
