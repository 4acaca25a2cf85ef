"""Wallet payments, and bill payments from a wallet: the money moves in the ledger.

A wallet payment runs through the same pipeline as a card payment (its `payment.process` command, in
the payment's FIFO group). It places a hold (available -> held) in one transaction with PROCESSING,
then captures it (held -> the merchant's balance, or the biller's account once the biller has been
paid through the provider) in one transaction with COMPLETED, or releases it (held -> available) with
FAILED. Not enough money: FAILED `insufficient_funds` in one write, nothing held. Every write is
conditioned on the wallet's and the payment's versions; a copy of the command that comes again finds
the payment where the last write left it (its `hold`) and goes on from there. A hold resolves exactly
once: the wallet keeps its open holds by payment id, and a capture or release removes it under the
condition that it is there.
"""

from __future__ import annotations

import random
import time

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import ledger
from paygate.domain import payment as domain
from paygate.domain import refund as refund_domain
from paygate.domain.accounts import Merchant
from paygate.domain.ledger import Account, InsufficientFunds, Wallet
from paygate.domain.methods import Destination, WalletMethod
from paygate.domain.payment import Payment, PaymentStatus
from paygate.ids import new_event_id, new_sorted_id, utc_now
from paygate.observability import count_error, logger, metrics
from paygate.services.commands.context import CommandContext
from paygate.services.commands.outcomes import Done, Outcome, RetryLater
from paygate.services.errors import InvalidRequest
from paygate.services.funding.recording import count_finished, fail_refund, finish
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.provider import DEFAULT_PROVIDER, PaymentProvider, ProviderRejected, ProviderUnavailable
from paygate.services.ports.records import EventMeta
from paygate.services.ports.refunds import RefundRecord
from paygate.services.ports.wallets import InsufficientBalance, PaymentWrite, RefundWrite

# Billers the gateway can pay (the sandbox provider's; a test keeps the two lists in step).
BILLERS = ("svc_electricity", "svc_water", "svc_phone")

# Payments of one wallet run in parallel (each in its own FIFO group) and all move the wallet's
# version: a write that lost the race is decided again from a fresh read, after a short random pause.
MOVE_TRIES = 25


def pause(attempt: int) -> None:
    time.sleep(random.uniform(0.005, min(0.02 * attempt, 0.3)))


class LedgerFunding:
    write_tries = MOVE_TRIES

    def __init__(self, ctx: CommandContext, method: WalletMethod) -> None:
        self.ctx, self.method = ctx, method

    @property
    def provider(self) -> PaymentProvider:
        """The connector that pays billers (a bill payment's only provider call)."""
        return self.ctx.connectors[DEFAULT_PROVIDER]

    def pause(self, attempt: int) -> None:
        pause(attempt)

    def check(self, merchant: Merchant, currency: str, destination: Destination | None) -> None:
        """The merchant's wallet, in the payment's currency, and a biller the gateway knows."""
        wallet = self.ctx.wallets.wallet(self.method.wallet_id, consistent=False)
        if wallet is None or wallet.merchant_id != merchant.id:
            raise InvalidRequest(f"no such wallet: {self.method.wallet_id!r}", param="payment_method.wallet_id",
                                 code="wallet_not_found")
        if wallet.currency != currency:
            raise InvalidRequest(f"the wallet holds {wallet.currency}, not {currency}", param="currency",
                                 code="currency_mismatch")
        if destination is not None and destination.service_id not in BILLERS:
            raise InvalidRequest(f"unknown service; billers: {', '.join(BILLERS)}", param="destination.service_id",
                                 code="unknown_service")

    # ---------------------------------------------------------------------------- hold, then capture

    def take(self, record: PaymentRecord, meta: EventMeta) -> Outcome:
        payment = record.state
        wallet: Wallet | None = None  # as the hold left it: the capture right after needs no fresh read
        if payment.hold is None:
            record, wallet = self._place_hold(record, meta)
            if record.state.is_terminal:
                return Done(str(record.state.status))
            payment = record.state
        if payment.destination is None:
            return self._capture(record, meta, wallet)
        # A bill payment: pay the biller through the provider (the payment id is its idempotency key).
        if not self.ctx.time_for_provider():
            return RetryLater(0, "no time left in this invocation for a provider call")
        try:
            result = self.provider.pay_bill(reference=payment.id, service_id=payment.destination.service_id,
                                            client_number=payment.destination.client_number, amount=payment.amount,
                                            currency=payment.currency, idempotency_key=payment.id)
        except ProviderRejected as exc:
            logger.error("provider refused the bill payment", extra={"reason": str(exc)})
            return self._release(record, meta, ("provider_rejected", "the payment provider refused the bill payment"))
        except ProviderUnavailable as exc:
            count_error("provider_unavailable")
            if not self.ctx.last_attempt:
                return RetryLater(self.ctx.backoff(), f"provider unavailable: {exc}")
            return self._settle_bill(record, meta, ("provider_unavailable",
                                                    "the payment provider could not be reached; the hold was released"))
        return self._bill_outcome(record, meta, result.status)

    def _place_hold(self, record: PaymentRecord, meta: EventMeta) -> tuple[PaymentRecord, Wallet | None]:
        """PROCESSING with the hold, in one transaction (and the wallet after it); or FAILED with nothing held."""
        payment = record.state
        if payment.status != PaymentStatus.NEW:  # NEW -> PROCESSING is written with the hold, never without
            raise RuntimeError(f"wallet payment {payment.id} is {payment.status} without a hold")
        wallet = self.ctx.wallets.wallet(self.method.wallet_id)
        if wallet is None or wallet.merchant_id != payment.merchant_id or wallet.currency != payment.currency:
            return finish(record, self.ctx.payments, meta, failure=(
                "wallet_not_found", "the wallet does not exist (any more)")), None
        now = utc_now()
        try:
            move = ledger.place_hold(wallet, payment.id, payment.amount, transfer_id=new_sorted_id("txn"), now=now,
                                     order_id=payment.order_id)
        except InsufficientFunds:
            return finish(record, self.ctx.payments, meta, failure=(
                "insufficient_funds", "the wallet's available balance is less than the amount")), None
        started, event = domain.start_processing(payment, event_id=new_event_id(), now=now, hold="placed")
        self.ctx.wallets.move(move, payment=PaymentWrite(record, [event], started, meta))
        logger.info("hold placed", extra={"wallet_id": wallet.id, "amount": payment.amount})
        return record.then([event], started, meta.traceparent), move.after

    def _bill_outcome(self, record: PaymentRecord, meta: EventMeta, status: str) -> Outcome:
        if status == "succeeded":
            return self._capture(record, meta)
        return self._release(record, meta, ("biller_declined", "the biller declined the payment; the hold was released"))

    def _settle_bill(self, record: PaymentRecord, meta: EventMeta, failure: tuple[str, str]) -> Outcome:
        """Before giving up on a bill payment, ask the provider whether the biller was paid after all."""
        try:
            found = self.provider.find_bill_payment(record.state.id)
        except (ProviderUnavailable, ProviderRejected) as exc:
            logger.error("could not look the bill payment up before releasing the hold", extra={"reason": str(exc)})
            found = None
        if found is not None:
            return self._bill_outcome(record, meta, found.status)
        return self._release(record, meta, failure)

    def _capture(self, record: PaymentRecord, meta: EventMeta, wallet: Wallet | None = None) -> Outcome:
        """held -> where the payment's money goes, with COMPLETED. `wallet`: as last written by this command
        (its version is the condition: if anything moved it since, the write fails and the command decides
        again)."""
        payment = record.state
        destination = _captured_to(payment)
        wallet = wallet or self._wallet()
        now = utc_now()
        move = ledger.capture(wallet, payment.id, destination, transfer_id=new_sorted_id("txn"), now=now,
                              order_id=payment.order_id)
        final, event = domain.complete(payment, event_id=new_event_id(), now=now, charge_id=None, hold="captured")
        self.ctx.wallets.move(move, payment=PaymentWrite(record, [event], final, meta))
        count_finished(payment, final)
        logger.info("hold captured", extra={"wallet_id": wallet.id, "to": destination.key})
        return Done(str(final.status))

    def _release(self, record: PaymentRecord, meta: EventMeta, failure: tuple[str, str] | None) -> Outcome:
        """The hold back to available, with FAILED (`failure`), or CANCELED (None)."""
        payment = record.state
        wallet = self._wallet()
        now = utc_now()
        move = ledger.release(wallet, payment.id, transfer_id=new_sorted_id("txn"), now=now, order_id=payment.order_id)
        if failure is None:
            final, event = domain.cancel(payment, event_id=new_event_id(), now=now, hold="released")
        else:
            final, event = domain.fail(payment, event_id=new_event_id(), now=now, code=failure[0], message=failure[1],
                                       hold="released")
        self.ctx.wallets.move(move, payment=PaymentWrite(record, [event], final, meta))
        count_finished(payment, final)
        logger.info("hold released", extra={"wallet_id": wallet.id, "status": str(final.status)})
        return Done(str(final.status))

    def _wallet(self) -> Wallet:
        wallet = self.ctx.wallets.wallet(self.method.wallet_id)
        if wallet is None:
            raise RuntimeError(f"the wallet {self.method.wallet_id} holding a payment's money is gone")
        return wallet

    def settle(self, record: PaymentRecord, meta: EventMeta) -> Outcome:
        """No charge at the provider to ask about: the payment's own command settles it."""
        return Done("a wallet payment")

    def end_dead(self, record: PaymentRecord, meta: EventMeta) -> Outcome:
        """Never left holding money: a biller the provider says was paid is captured; otherwise the hold
        (if any) is released, FAILED."""
        failure = ("processing_error", "the payment could not be processed; nothing was taken from the wallet")
        if record.state.hold == "placed":
            if record.state.destination is not None:
                return self._settle_bill(record, meta, failure)
            return self._release(record, meta, failure)
        finish(record, self.ctx.payments, meta, failure=failure)
        return Done("FAILED")

    # ---------------------------------------------------------------------------- cancel: release

    def cancel(self, record: PaymentRecord, meta: EventMeta) -> Outcome:
        """Nothing held -> CANCELED; a hold -> released with CANCELED, unless the biller was paid
        already (then it is captured: COMPLETED)."""
        payment = record.state
        if payment.hold == "placed":
            if payment.destination is not None:
                try:
                    found = self.provider.find_bill_payment(payment.id)
                except ProviderRejected:
                    found = None
                if found is not None:
                    return self._bill_outcome(record, meta, found.status)
            return self._release(record, meta, None)
        final, event = domain.cancel(payment, event_id=new_event_id(), now=utc_now())
        self.ctx.payments.append(record, [event], final, meta)
        metrics.add_metric(name="PaymentsCanceled", unit=MetricUnit.Count, value=1)
        return Done(str(final.status))

    # ---------------------------------------------------------------------------- refunds

    def refund(self, refund: RefundRecord, payment: PaymentRecord, meta: EventMeta) -> Outcome:
        """From where the payment was captured (the merchant's balance, or the biller's account) back to
        the wallet's available, in one transaction with the refund's outcome and `payment.refunded`."""
        p = payment.state
        wallet = self._wallet()
        source = _captured_to(p)
        now = utc_now()
        r = refund.state
        move = ledger.refund(wallet, r.amount, source, payment_id=p.id, transfer_id=new_sorted_id("txn"), now=now)
        after, event = refund_domain.succeed(r, event_id=new_event_id(), now=now, provider_refund_id=move.transfer.id)
        paid_back, payment_event = domain.record_refund(p, event_id=new_event_id(), now=now, refund_id=r.id,
                                                        amount=r.amount)
        try:
            self.ctx.wallets.move(move, refund=RefundWrite(refund, [event], after, meta, payment, [payment_event],
                                                           paid_back))
        except InsufficientBalance:
            return fail_refund(refund, payment, self.ctx.refunds, meta,
                               ("insufficient_balance", f"{source.key} holds less than the refund"))
        metrics.add_metric(name="RefundsSucceeded", unit=MetricUnit.Count, value=1)
        logger.info("refund credited to the wallet", extra={"refund_id": r.id, "wallet_id": wallet.id})
        return Done("SUCCEEDED")

    def end_dead_refund(self, refund: RefundRecord, payment: PaymentRecord, meta: EventMeta) -> Outcome:
        """The movement and the refund's outcome are one transaction: a refund still PENDING moved no
        money, so it fails and its reservation is released."""
        return fail_refund(refund, payment, self.ctx.refunds, meta,
                           ("processing_error", "the refund could not be processed; nothing was refunded"))


def _captured_to(payment: Payment) -> Account:
    """Where a wallet payment's money goes: the biller's account for a bill, else the merchant's balance
    (and where its refunds come back from)."""
    if payment.destination is not None:
        return ledger.biller_account(payment.merchant_id, payment.destination.service_id, payment.currency)
    return ledger.merchant_balance(payment.merchant_id, payment.currency)
