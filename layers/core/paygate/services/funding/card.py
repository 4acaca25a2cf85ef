"""Card payments: charged through the provider's connector.

The whole charge is one command: the payment read, charged, and PROCESSING recorded together with the
provider's answer in one write. PROCESSING is recorded on its own only when the answer is not final:
the charge is pending at the provider, or the provider is unavailable and the command comes back
later. The payment id is the provider's idempotency key, so a retried charge finds the first charge
instead of making a second; before giving up, the provider is asked whether it charged after all.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import payment as domain
from paygate.domain.accounts import Merchant
from paygate.domain.methods import CardMethod, Destination
from paygate.domain.payment import Payment, PaymentEvent, PaymentStatus
from paygate.domain.providers.attempts import charge_holder
from paygate.ids import new_event_id, utc_now
from paygate.observability import count_error, logger, metrics
from paygate.services.commands.context import CommandContext
from paygate.services.commands.outcomes import Done, Outcome, RetryLater
from paygate.services.errors import InvalidRequest
from paygate.services.funding import failover
from paygate.services.funding.recording import fail_refund, finish, record_processing, succeed_refund
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.provider import (
    DEFAULT_PROVIDER,
    ChargeRequest,
    ChargeResult,
    PaymentProvider,
    ProviderRejected,
    ProviderUnavailable,
    RefundResult,
)
from paygate.services.ports.records import EventMeta
from paygate.services.ports.refunds import RefundRecord

WRITE_TRIES = 3

# The sandbox provider's card tokens (paygate dev, Mode=dev): the only ones it knows. A test checks
# this list against the sandbox's own.
SANDBOX_TOKENS = ("tok_success", "tok_decline", "tok_insufficient_funds", "tok_provider_error", "tok_flaky",
                  "tok_timeout_after_success", "tok_async", "tok_async_no_callback", "tok_pending")

_DECLINE_MESSAGES = {
    "card_declined": "the card was declined",
    "insufficient_funds": "the card has insufficient funds",
}


class CardFunding:
    write_tries = WRITE_TRIES

    def __init__(self, ctx: CommandContext, method: CardMethod) -> None:
        self.ctx, self.method = ctx, method

    def connector(self, provider: str) -> PaymentProvider:
        """The provider's connector; ProviderUnavailable when this deployment has none for it (a route
        may name a provider that has no URL or key here: the payment goes on at the next one)."""
        if provider not in self.ctx.connectors:
            raise ProviderUnavailable(f"no connector for provider {provider!r} in this deployment")
        return self.ctx.connectors[provider]

    def request(self, payment: Payment) -> ChargeRequest:
        return ChargeRequest(payment.amount, payment.currency, self.method.token)

    def pause(self, attempt: int) -> None:
        """A lost race on a card payment is decided again at once (its commands are serial)."""

    def check(self, merchant: Merchant, currency: str, destination: Destination | None) -> None:
        """A bill payment is paid from a wallet; in dev mode, a card token the sandbox does not know is
        refused (a real provider's tokens are opaque: it says itself, as a FAILED payment)."""
        if destination is not None:
            raise InvalidRequest("a bill payment (destination) is paid from a wallet: payment_method type wallet",
                                 param="destination", code="payment_method_unsupported")
        if self.ctx.sandbox and self.method.token not in SANDBOX_TOKENS:
            raise InvalidRequest(f"unknown sandbox card token; the sandbox knows {', '.join(SANDBOX_TOKENS)}",
                                 param="payment_method.token", code="invalid_token")

    # ---------------------------------------------------------------------------- the charge

    def take(self, record: PaymentRecord, meta: EventMeta) -> Outcome:
        """Charge at the payment's current attempt; an unavailable provider that took no charge hands
        the payment to the next provider of its route (services/funding/failover.py)."""
        return failover.take(self, record, meta)

    def record_result(self, record: PaymentRecord, result: ChargeResult, meta: EventMeta,
                      attempt: tuple[str, str]) -> Outcome:
        if result.status == "succeeded":
            return self.finish(record, meta, attempt, charge_id=result.charge_id)
        if result.status == "declined":
            code = result.decline_code or "card_declined"
            return self.finish(record, meta, attempt, charge_id=result.charge_id,
                               failure=(code, _DECLINE_MESSAGES.get(code, "the card was declined")))
        logger.info("charge pending at the provider", extra={"charge_id": result.charge_id, "provider": attempt[0]})
        record_processing(record, self.ctx.payments, meta, attempt)
        return Done("pending at the provider")

    def finish(self, record: PaymentRecord, meta: EventMeta, attempt: tuple[str, str] | None, *,
               failure: tuple[str, str] | None = None, charge_id: str | None = None) -> Outcome:
        written = finish(record, self.ctx.payments, meta, failure=failure, charge_id=charge_id, attempt=attempt)
        return Done(str(written.state.status))

    def settle_unknown(self, record: PaymentRecord, meta: EventMeta, attempt: tuple[str, str], *,
                       failure: tuple[str, str]) -> Outcome:
        """Before giving up on a payment, ask its provider whether it charged after all (a timeout can
        hide a charge): a charge found completes the payment, a pending one leaves it processing, and
        only when none is found, or the provider cannot even be asked, does it end FAILED."""
        try:
            found = self.connector(attempt[0]).find_charge(attempt[1], self.request(record.state))
        except (ProviderUnavailable, ProviderRejected) as exc:
            logger.error("could not look the charge up before failing the payment", extra={"reason": str(exc)})
            found = None
        if found is not None and found.status == "succeeded":
            logger.warning("the provider had charged after all; completing", extra={"charge_id": found.charge_id})
            return self.finish(record, meta, attempt, charge_id=found.charge_id)
        if found is not None:
            record_processing(record, self.ctx.payments, meta, attempt)
            return Done("pending at the provider")
        return self.finish(record, meta, attempt, failure=failure)

    def settle(self, record: PaymentRecord, meta: EventMeta) -> Outcome:
        """The provider's own lookup decides (a callback only signals), so a callback that is late,
        repeated or racing the processor's answer changes nothing twice. Asked of the provider that
        holds (or may hold) the charge, by that attempt's reference."""
        attempt = charge_holder(record.state)
        try:
            found = self.connector(attempt[0]).find_charge(attempt[1], self.request(record.state))
        except ProviderUnavailable as exc:
            return RetryLater(self.ctx.backoff(), f"provider unavailable: {exc}")
        except ProviderRejected as exc:
            logger.error("the provider refused the charge lookup", extra={"reason": str(exc)})
            return Done("lookup refused")
        if found is None or found.status not in ("succeeded", "declined"):
            return Done("pending at the provider")
        return self.record_result(record, found, meta, attempt)

    def end_dead(self, record: PaymentRecord, meta: EventMeta) -> Outcome:
        """What the provider knows decides: a charge found completes the payment, a pending one leaves
        it processing, and only when there is none does it end FAILED `processing_error`."""
        return self.settle_unknown(record, meta, charge_holder(record.state), failure=(
            "processing_error", "the payment could not be processed; no charge was confirmed"))

    # ---------------------------------------------------------------------------- cancel: void

    def cancel(self, record: PaymentRecord, meta: EventMeta) -> Outcome:
        """A charge that took money ends the payment COMPLETED (the cancel is answered by
        payment.completed); a pending charge is voided, then CANCELED (if it succeeded meanwhile the
        void is refused and the payment ends COMPLETED); no charge (or a declined one): CANCELED."""
        payment = record.state
        provider_id, reference = charge_holder(payment)
        provider = self.connector(provider_id)
        found = provider.find_charge(reference, self.request(payment))
        if found is not None and found.status == "pending":
            try:
                voided = provider.void(str(found.charge_id))
            except ProviderRejected:
                # No longer pending: it succeeded or was declined meanwhile. Ask again, then decide.
                found = provider.find_charge(reference, self.request(payment))
            else:
                logger.info("pending charge voided", extra={"charge_id": voided.charge_id})
                found = None
        if found is not None and found.status == "pending":
            return RetryLater(self.ctx.backoff(), "the charge is still pending at the provider")
        if found is not None and found.status == "succeeded":
            return self._write_cancel(record, meta, _completed(payment, found, (provider_id, reference)))
        metrics.add_metric(name="PaymentsCanceled", unit=MetricUnit.Count, value=1)
        return self._write_cancel(record, meta, [domain.cancel(payment, event_id=new_event_id(), now=utc_now())])

    def _write_cancel(self, record: PaymentRecord, meta: EventMeta, steps: list[tuple[Payment, PaymentEvent]]) -> Outcome:
        final = steps[-1][0]
        self.ctx.payments.append(record, [event for _, event in steps], final, meta)
        logger.info("cancel settled", extra={"status": str(final.status)})
        return Done(str(final.status))

    # ---------------------------------------------------------------------------- refunds

    def refund(self, refund: RefundRecord, payment: PaymentRecord, meta: EventMeta) -> Outcome:
        """Refund at the provider, the refund's id its Idempotency-Key (a redelivered command finds the
        same refund, never a second one)."""
        charge_id = payment.state.provider_charge_id
        if not charge_id:
            return self._fail_refund(refund, meta, ("charge_not_found", "the payment has no charge to refund"))
        try:
            result = self.connector(charge_holder(payment.state)[0]).refund(
                charge_id=charge_id, amount=refund.state.amount, idempotency_key=refund.state.id)
        except ProviderRejected as exc:
            logger.error("provider refused the refund", extra={"reason": str(exc)})
            return self._fail_refund(refund, meta, ("provider_rejected", "the payment provider refused the refund"))
        except ProviderUnavailable as exc:
            count_error("provider_unavailable")
            if self.ctx.last_attempt:
                return self._settle_unknown_refund(refund, meta)
            delay = self.ctx.backoff()
            logger.warning("provider unavailable, refund will be retried",
                           extra={"attempt": self.ctx.attempt, "delay": delay})
            return RetryLater(delay, f"provider unavailable: {exc}")
        return self._succeed_refund(refund, meta, result)

    def end_dead_refund(self, refund: RefundRecord, payment: PaymentRecord, meta: EventMeta) -> Outcome:
        return self._settle_unknown_refund(refund, meta)

    def _settle_unknown_refund(self, refund: RefundRecord, meta: EventMeta) -> Outcome:
        """Before failing a refund, ask the provider whether it refunded after all (by our key)."""
        payment = self.ctx.payments.get(refund.state.payment_id)
        provider_id, reference = charge_holder(payment.state) if payment else (DEFAULT_PROVIDER, refund.state.payment_id)
        try:
            found = self.connector(provider_id).find_refund(reference, refund.state.id)
        except (ProviderUnavailable, ProviderRejected) as exc:
            logger.error("could not look the refund up; leaving it PENDING to be retried", extra={"reason": str(exc)})
            return RetryLater(self.ctx.backoff(), "provider unavailable")
        if found is not None:
            return self._succeed_refund(refund, meta, found)
        return self._fail_refund(refund, meta, ("provider_unavailable",
                                                "the payment provider could not be reached; nothing was refunded"))

    def _succeed_refund(self, refund: RefundRecord, meta: EventMeta, result: RefundResult) -> Outcome:
        # Read again after the provider's answer: the payment's version is the transaction's condition.
        payment = self.ctx.payments.get(refund.state.payment_id)
        if payment is None:
            raise RuntimeError(f"refund {refund.state.id} of a missing payment")
        return succeed_refund(refund, payment, self.ctx.refunds, meta, result.refund_id)

    def _fail_refund(self, refund: RefundRecord, meta: EventMeta, failure: tuple[str, str]) -> Outcome:
        return fail_refund(refund, self.ctx.payments.get(refund.state.payment_id), self.ctx.refunds, meta, failure)


def _completed(payment: Payment, found: ChargeResult,
               attempt: tuple[str, str]) -> list[tuple[Payment, PaymentEvent]]:
    """The charge was taken before the cancel could stop it: the payment ends COMPLETED."""
    logger.warning("the provider charged before the cancel; completing", extra={"charge_id": found.charge_id})
    steps = []
    if payment.status == PaymentStatus.NEW:
        payment, event = domain.start_processing(payment, event_id=new_event_id(), now=utc_now(), attempt=attempt)
        steps.append((payment, event))
    steps.append(domain.complete(payment, event_id=new_event_id(), now=utc_now(), charge_id=found.charge_id,
                                 attempt=attempt))
    metrics.add_metric(name="PaymentsCompleted", unit=MetricUnit.Count, value=1)
    return steps
