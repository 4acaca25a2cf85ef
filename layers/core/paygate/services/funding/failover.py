"""A card payment's charge, attempt after attempt along its route.

The payment is at one attempt at a time (`paygate.domain.providers.attempts.current_attempt`), decided
from its recorded events only. The attempt's reference is the provider's idempotency key, so every
retry, redelivery or duplicate command of that attempt finds the first charge instead of making a
second. The payment moves to the next provider of its route only when the provider it is at took no
charge: it answered 5xx on every try, or could not be connected to, or (after a lost answer) its own
lookup by reference found nothing. That move (`payment.attempt_failed`) is one conditional write: of
two invocations racing, one records it and the other decides again from the new state, which names the
same next attempt and so the same idempotency key. A decline is final; an unknown outcome is settled at
its provider before any other is tried: a payment is charged by at most one provider.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import payment as domain
from paygate.domain.payment import Payment
from paygate.domain.providers.attempts import current_attempt
from paygate.domain.providers.health import THRESHOLD as BREAKER_THRESHOLD
from paygate.domain.providers.registry import DEFAULT_ROUTE
from paygate.ids import new_event_id, utc_now
from paygate.observability import count_error, count_provider, logger, metrics
from paygate.observability.tracing import marker_span
from paygate.services.commands.outcomes import Outcome, RetryLater
from paygate.services.funding.recording import processing_events, record_processing
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.provider import ChargeResult, ProviderRejected, ProviderUnavailable
from paygate.services.ports.records import EventMeta

if TYPE_CHECKING:
    from paygate.services.funding.card import CardFunding

IN_PROCESS_TRIES = 3
NO_TIME = "no time left in this invocation for a provider call"
UNAVAILABLE = ("provider_unavailable", "the payment provider could not be reached; no charge was confirmed")


def take(card: CardFunding, record: PaymentRecord, meta: EventMeta) -> Outcome:
    ctx = card.ctx
    while True:
        if not ctx.time_for_provider():
            # Earlier commands of this batch used the time up: come back at once rather than be cut off.
            return RetryLater(0, NO_TIME)
        attempt = current_attempt(record.state)
        if attempt is None:  # cannot be: the route's last provider is never failed over
            return card.finish(record, meta, None, failure=UNAVAILABLE)
        if _breaker_skips(card, record.state, attempt):
            record = _fail_over(card, record, meta, attempt, ProviderUnavailable("its breaker is open"))
            continue
        try:
            with marker_span(f"provider.attempt {attempt[0]}", {"payment.id": record.state.id,
                                                                "provider": attempt[0], "reference": attempt[1]}):
                result = _charge_with_retries(card, record.state, attempt)
        except ProviderRejected as exc:
            logger.error("provider refused the charge", extra={"reason": str(exc), "provider": attempt[0]})
            return card.finish(record, meta, attempt, failure=(
                "provider_rejected", "the payment provider refused the charge request"))
        except ProviderUnavailable as exc:
            count_error("provider_unavailable")
            count_provider("ProviderFailures", attempt[0])
            _record_health(card, attempt[0], unavailable=True)
            found = _no_charge_at(card, record.state, attempt, exc)
            if isinstance(found, ChargeResult):
                return card.record_result(record, found, meta, attempt)
            if found and _has_next(record.state, attempt):
                record = _fail_over(card, record, meta, attempt, exc)
                continue
            if ctx.last_attempt:
                logger.error("provider unavailable on the last attempt", extra={"attempt": ctx.attempt})
                return card.settle_unknown(record, meta, attempt, failure=UNAVAILABLE)
            delay = ctx.backoff()
            logger.warning("provider unavailable, will retry", extra={"attempt": ctx.attempt, "delay": delay,
                                                                      "provider": attempt[0]})
            record_processing(record, ctx.payments, meta, attempt)  # the merchant sees it in progress while we wait
            return RetryLater(delay, f"provider unavailable: {exc}")
        _record_health(card, attempt[0], unavailable=False)
        return card.record_result(record, result, meta, attempt)


def _breaker_skips(card: CardFunding, payment: Payment, attempt: tuple[str, str]) -> bool:
    """Whether the attempt's provider is skipped: its breaker is open (or half open with the trial
    taken by another processor), another provider of the route comes after it, and nothing was ever
    sent to it for this attempt (not recorded, and this is the command's first delivery)."""
    ctx = card.ctx
    if ctx.health is None or ctx.attempt > 1 or not _has_next(payment, attempt) \
            or any(a.reference == attempt[1] for a in payment.attempts):
        return False
    try:
        breaker = ctx.health.breaker(attempt[0])
        now = time.time()
        status = breaker.status(now, ctx.breaker_cooldown)
        if status == "up":
            return False
        if status == "half_open" and breaker.trial_free(now, ctx.breaker_cooldown) \
                and ctx.health.claim_trial(attempt[0], ctx.breaker_cooldown):
            logger.info("half-open trial", extra={"provider": attempt[0]})
            return False
    except Exception as exc:  # noqa: BLE001 - the breaker is advice: without it, the provider is tried
        logger.warning("provider health unreadable; trying the provider", extra={"reason": str(exc)[:200]})
        return False
    logger.warning("provider breaker open: skipped", extra={"provider": attempt[0], "status": status})
    return True


def _record_health(card: CardFunding, provider: str, *, unavailable: bool) -> None:
    if card.ctx.health is None:
        return
    try:
        in_a_row = card.ctx.health.record(provider, unavailable=unavailable)
    except Exception as exc:  # noqa: BLE001 - a count lost never fails a payment
        logger.warning("provider health not recorded", extra={"reason": str(exc)[:200]})
        return
    if unavailable and in_a_row == BREAKER_THRESHOLD:  # this attempt opened it: once per opening
        logger.error("provider breaker opened", extra={"provider": provider, "unavailable_in_a_row": in_a_row})
        metrics.add_metric(name="ProviderBreakerOpened", unit=MetricUnit.Count, value=1)


def _charge_with_retries(card: CardFunding, payment: Payment, attempt: tuple[str, str]) -> ChargeResult:
    """A few quick tries for transient faults, while the invocation has time for another full call.
    The attempt's reference is the provider's idempotency key, so a retry can never charge twice.
    A lost answer on any try makes the outcome unknown, even when the later tries were refused: the
    exception raised then says so (`charged_maybe`), and the payment is settled at this provider."""
    provider_id, reference = attempt
    provider = card.connector(provider_id)
    delay = 0.2
    charged_maybe = False
    for tries in range(1, IN_PROCESS_TRIES + 1):
        count_provider("ProviderAttempts", provider_id)
        try:
            return provider.charge(reference=reference, amount=payment.amount, currency=payment.currency,
                                   token=card.method.token, idempotency_key=reference)
        except ProviderUnavailable as exc:
            charged_maybe = charged_maybe or exc.charged_maybe
            if tries == IN_PROCESS_TRIES or not card.ctx.time_for_provider(delay):
                if charged_maybe and not exc.charged_maybe:
                    raise ProviderUnavailable(f"{exc} (an earlier try's answer was lost)", charged_maybe=True) from exc
                raise
            metrics.add_metric(name="ProviderRetries", unit=MetricUnit.Count, value=1)
            card.ctx.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _no_charge_at(card: CardFunding, payment: Payment, attempt: tuple[str, str],
                  exc: ProviderUnavailable) -> bool | ChargeResult:
    """Whether the provider surely took no charge for the attempt (True), may have (False), or did
    (the charge it holds). A 5xx answer or a refused connection took none; a lost answer is settled
    by the provider's own lookup, and when it cannot be asked, the payment stays with it. On a
    redelivery of the command a refusal proves nothing: an earlier delivery may have charged and died
    before recording it, so that is settled by the lookup too."""
    if not exc.charged_maybe and card.ctx.attempt == 1:
        return True
    if not _has_next(payment, attempt):
        return False
    try:
        found = card.connector(attempt[0]).find_charge(attempt[1], card.request(payment))
    except (ProviderUnavailable, ProviderRejected) as lookup:
        logger.warning("a lost answer could not be looked up; staying with the provider",
                       extra={"provider": attempt[0], "reason": str(lookup)})
        return False
    return True if found is None else found


def _has_next(payment: Payment, attempt: tuple[str, str]) -> bool:
    route = payment.route or DEFAULT_ROUTE
    number = next((i for i, a in enumerate(payment.attempts, 1) if a.reference == attempt[1]),
                  len(payment.attempts) + 1)
    return number < len(route)


def _fail_over(card: CardFunding, record: PaymentRecord, meta: EventMeta, attempt: tuple[str, str],
               exc: ProviderUnavailable) -> PaymentRecord:
    """`payment.attempt_failed` (with PROCESSING when the payment was NEW), one conditional write: a
    racing invocation that lost it decides again from the new state."""
    started, events = processing_events(record.state, attempt)
    failed, event = domain.fail_attempt(started, event_id=new_event_id(), now=utc_now(), provider=attempt[0],
                                        reference=attempt[1], code=UNAVAILABLE[0],
                                        message=f"the provider {attempt[0]} was unavailable; no charge was made")
    written = card.ctx.payments.append(record, [*events, event], failed, meta)
    metrics.add_metric(name="ProviderFailovers", unit=MetricUnit.Count, value=1)
    logger.warning("provider unavailable, failing over", extra={"provider": attempt[0], "reference": attempt[1],
                                                                "reason": str(exc)[:200],
                                                                "next": current_attempt(failed)})
    return written
