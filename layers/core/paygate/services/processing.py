"""The processor: executes one command against one payment, through the payment provider.

Each step is its own command, started by the event of the step before (created -> start_processing,
processing -> charge), so a crash between two steps never strands a payment: the event is in the
outbox and its command comes again. A command carries the version it expects; any other version
means a duplicate or a stale copy, which is acknowledged and does nothing.
"""

from __future__ import annotations

import time
from typing import Callable

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import payment as domain
from paygate.domain.payment import Payment, PaymentStatus
from paygate.ids import new_id, parse_time, utc_now
from paygate.observability import count_error, logger, metrics
from paygate.observability.tracing import span
from paygate.schemas.messages import Command
from paygate.services.outcomes import Done, Outcome, RetryLater
from paygate.services.ports import (
    ChargeResult,
    ConcurrencyConflict,
    EventMeta,
    PaymentProvider,
    PaymentRepository,
    ProviderRejected,
    ProviderUnavailable,
)

IN_PROCESS_TRIES = 3
MAX_BACKOFF_SECONDS = 900


def backoff(attempt: int, base: int) -> int:
    """Seconds before delivery `attempt + 1` of a command: base, 2*base, 4*base ... capped."""
    return min(base * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)


def handle_command(
    command: Command,
    *,
    attempt: int,
    max_attempts: int,
    backoff_base: int,
    payments: PaymentRepository,
    provider: PaymentProvider,
    remaining_seconds: Callable[[], float] = lambda: 30.0,
    provider_timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    payment = payments.get(command.payment_id)
    if payment is None:
        logger.warning("command for an unknown payment", extra={"command": command.type})
        return Done("unknown payment")
    if payment.version != command.expected_version or payment.is_terminal:
        logger.info("stale or duplicate command ignored",
                    extra={"expected_version": command.expected_version, "version": payment.version})
        metrics.add_metric(name="StaleCommands", unit=MetricUnit.Count, value=1)
        return Done("stale")

    with span(command.type, command.traceparent) as traceparent:
        meta = EventMeta(traceparent, command.correlation_id)
        try:
            if command.type == "payment.start_processing":
                return _start(payment, payments, meta)
            return _charge(payment, payments, provider, meta, attempt=attempt, max_attempts=max_attempts,
                           backoff_base=backoff_base, remaining_seconds=remaining_seconds,
                           provider_timeout=provider_timeout, sleep=sleep)
        except ConcurrencyConflict:
            # Someone else moved this payment on first; their event drives what comes next.
            return Done("lost a race; the newer version wins")


def _start(payment: Payment, payments: PaymentRepository, meta: EventMeta) -> Outcome:
    if payment.status != PaymentStatus.NEW:
        return Done("already started")
    new, event = domain.start_processing(payment, event_id=new_id("evt"), now=utc_now())
    payments.append(new, event, meta)
    return Done("processing")


def _charge(
    payment: Payment, payments: PaymentRepository, provider: PaymentProvider, meta: EventMeta, *,
    attempt: int, max_attempts: int, backoff_base: int, remaining_seconds: Callable[[], float],
    provider_timeout: float, sleep: Callable[[float], None],
) -> Outcome:
    if payment.status != PaymentStatus.PROCESSING:
        return Done("not processing")
    method = payment.payment_method
    if remaining_seconds() < provider_timeout + 2:
        # Earlier commands of this batch used the time up: come back at once rather than be cut off.
        return RetryLater(0, "no time left in this invocation for a provider call")
    if method.get("type") != "card":
        return _finish(payment, payments, meta, failure=("payment_method_unsupported",
                       f"payment method {method.get('type')!r} cannot be charged yet"))
    try:
        result = _charge_with_retries(payment, provider, remaining_seconds, provider_timeout, sleep)
    except ProviderRejected as exc:
        logger.error("provider refused the charge", extra={"reason": str(exc)})
        return _finish(payment, payments, meta, failure=(
            "provider_rejected", "the payment provider refused the charge request"))
    except ProviderUnavailable as exc:
        count_error("provider_unavailable")
        if attempt >= max_attempts:
            logger.error("provider unavailable on the last attempt", extra={"attempt": attempt})
            return _settle_unknown(payment, payments, provider, meta, failure=(
                "provider_unavailable", "the payment provider could not be reached; no charge was confirmed"))
        delay = backoff(attempt, backoff_base)
        logger.warning("provider unavailable, will retry", extra={"attempt": attempt, "delay": delay})
        return RetryLater(delay, f"provider unavailable: {exc}")
    if result.status == "succeeded":
        return _finish(payment, payments, meta, charge_id=result.charge_id)
    if result.status == "declined":
        code = result.decline_code or "card_declined"
        return _finish(payment, payments, meta, failure=(code, _DECLINE_MESSAGES.get(code, "the card was declined")),
                       charge_id=result.charge_id)
    logger.info("charge pending at the provider", extra={"charge_id": result.charge_id})
    return Done("pending at the provider")


_DECLINE_MESSAGES = {
    "card_declined": "the card was declined",
    "insufficient_funds": "the card has insufficient funds",
}


def _charge_with_retries(
    payment: Payment, provider: PaymentProvider, remaining_seconds: Callable[[], float],
    provider_timeout: float, sleep: Callable[[float], None],
) -> ChargeResult:
    """A few quick tries for transient faults, while the invocation has time for another full call.
    The payment id is the provider's idempotency key, so a retry can never charge twice."""
    delay = 0.2
    for tries in range(1, IN_PROCESS_TRIES + 1):
        try:
            return provider.charge(
                reference=payment.id, amount=payment.amount, currency=payment.currency,
                token=str(payment.payment_method.get("token")), idempotency_key=payment.id,
            )
        except ProviderUnavailable:
            if tries == IN_PROCESS_TRIES or remaining_seconds() < provider_timeout + delay + 2:
                raise
            metrics.add_metric(name="ProviderRetries", unit=MetricUnit.Count, value=1)
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _finish(
    payment: Payment, payments: PaymentRepository, meta: EventMeta, *,
    failure: tuple[str, str] | None = None, charge_id: str | None = None,
) -> Outcome:
    now = utc_now()
    if failure is None:
        new, event = domain.complete(payment, event_id=new_id("evt"), now=now, charge_id=charge_id)
        metrics.add_metric(name="PaymentsCompleted", unit=MetricUnit.Count, value=1)
    else:
        new, event = domain.fail(payment, event_id=new_id("evt"), now=now, code=failure[0],
                                 message=failure[1], charge_id=charge_id)
        metrics.add_metric(name="PaymentsFailed", unit=MetricUnit.Count, value=1)
    payments.append(new, event, meta)
    elapsed_ms = (parse_time(now) - parse_time(payment.created_at)).total_seconds() * 1000
    metrics.add_metric(name="ProcessingTime", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    logger.info("payment finished", extra={"status": str(new.status),
                                           "failure_code": failure[0] if failure else None})
    return Done(str(new.status))


def _settle_unknown(payment: Payment, payments: PaymentRepository, provider: PaymentProvider,
                    meta: EventMeta, *, failure: tuple[str, str]) -> Outcome:
    """Before giving up on a payment, ask the provider whether it charged after all (a timeout can
    hide a charge): a charge found completes the payment, a pending one leaves it processing, and
    only when none is found, or the provider cannot even be asked, does it end FAILED."""
    try:
        found = provider.find_charge(payment.id)
    except (ProviderUnavailable, ProviderRejected) as exc:
        logger.error("could not look the charge up before failing the payment", extra={"reason": str(exc)})
        found = None
    if found is not None and found.status == "succeeded":
        logger.warning("the provider had charged after all; completing", extra={"charge_id": found.charge_id})
        return _finish(payment, payments, meta, charge_id=found.charge_id)
    if found is not None:
        return Done("pending at the provider")
    return _finish(payment, payments, meta, failure=failure)


def fail_dead_command(command: Command, *, payments: PaymentRepository, provider: PaymentProvider) -> Outcome:
    """A command that kept failing reached the dead-letter queue: end its payment, never stuck.

    A payment still NEW never reached the provider; it goes through PROCESSING to FAILED, the only
    way the transition table allows. One in PROCESSING is settled by what the provider knows."""
    for _ in range(5):
        payment = payments.get(command.payment_id)
        if payment is None or payment.is_terminal:
            return Done("nothing to end")
        try:
            with span("payment.dead_letter", command.traceparent) as traceparent:
                meta = EventMeta(traceparent, command.correlation_id)
                if payment.status == PaymentStatus.NEW:
                    payment, event = domain.start_processing(payment, event_id=new_id("evt"), now=utc_now())
                    payments.append(payment, event, meta)
                return _settle_unknown(payment, payments, provider, meta, failure=(
                    "processing_error", "the payment could not be processed; no charge was confirmed"))
        except ConcurrencyConflict:
            continue
    raise ConcurrencyConflict(f"payment {command.payment_id} kept changing")
