"""Customers, wallets and wallet payments (seeds 002 and 003).

The API side: a customer and its wallet created together; top-ups credited at once from the
merchant's funding account; balances and entries read back.

The processor side: a wallet payment runs through the same pipeline as a card payment (its
`payment.process` command, in the payment's FIFO group). It places a hold (available -> held) in one
transaction with PROCESSING, then captures it (held -> the merchant's balance, or the biller's account
once the biller has been paid through the provider) in one transaction with COMPLETED, or releases it
(held -> available) with FAILED. Not enough money: FAILED `insufficient_funds` in one write, nothing
held. Every write is conditioned on the wallet's and the payment's versions; a copy of the command
that comes again finds the payment where the last write left it (its `hold`) and goes on from there.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import ledger
from paygate.domain import payment as domain
from paygate.domain.accounts import Merchant
from paygate.domain.ledger import Account, InsufficientFunds, Wallet
from paygate.domain.money import Currency, Money
from paygate.domain.order import Customer
from paygate.domain.payment import Payment, PaymentStatus
from paygate.ids import new_event_id, new_id, new_sorted_id, parse_time, utc_now
from paygate.observability import count_error, logger, metrics
from paygate.observability.tracing import span
from paygate.schemas.messages import Command
from paygate.services.errors import IdempotencyKeyInUse, InvalidRequest, NotFound
from paygate.services.idempotency import IdempotentRequest
from paygate.services.outcomes import Done, Outcome, RetryLater
from paygate.services.ports import (
    ConcurrencyConflict,
    EventMeta,
    InsufficientBalance,
    KeyAlreadyUsed,
    KeyBusy,
    PaymentRecord,
    PaymentWrite,
    ProviderRejected,
    ProviderUnavailable,
    RefundRecord,
    RefundRepository,
    RefundWrite,
    Topup,
    WalletStore,
)
from paygate.services.processing import CommandContext, backoff

# Billers the gateway can pay (the sandbox provider's; a test keeps the two lists in step).
BILLERS = ("svc_electricity", "svc_water", "svc_phone")

# Payments of one wallet run in parallel (each in its own FIFO group) and all move the wallet's
# version: a write that lost the race is decided again from a fresh read, after a short random pause.
MOVE_TRIES = 25


@dataclass(frozen=True)
class Created:
    customer: Customer
    replayed: bool = False


# ------------------------------------------------------------------------------ the API's side


def create_customer(wallets: WalletStore, *, merchant: Merchant, request: IdempotentRequest, name: str,
                    email: str | None, currency: str) -> Created:
    now = utc_now()
    customer = Customer(id=new_id("cus"), merchant_id=merchant.id, name=name, email=email,
                        wallet_id=new_id("wal"), currency=Currency.parse(currency).code, created_at=now)
    wallet = Wallet(id=customer.wallet_id, merchant_id=merchant.id, customer_id=customer.id,
                    currency=customer.currency, created_at=now)
    try:
        wallets.create_customer(customer, wallet, request.record(customer.id), request.now)
    except KeyAlreadyUsed as used:
        found = wallets.customer(request.replay_of(used.existing))
        if found is None:
            raise RuntimeError("idempotency key refers to a missing customer") from None
        return Created(found, replayed=True)
    except (KeyBusy, ConcurrencyConflict):
        raise IdempotencyKeyInUse("a request with this Idempotency-Key is being processed right now; retry",
                                  param="Idempotency-Key") from None
    metrics.add_metric(name="CustomersCreated", unit=MetricUnit.Count, value=1)
    logger.info("customer created", extra={"customer_id": customer.id, "wallet_id": wallet.id})
    return Created(customer)


def get_customer(wallets: WalletStore, merchant: Merchant, customer_id: str) -> Customer:
    found = wallets.customer(customer_id)
    if found is None or found.merchant_id != merchant.id:
        raise NotFound(f"no such customer: {customer_id!r}", param="id")
    return found


def get_wallet(wallets: WalletStore, merchant: Merchant, wallet_id: str) -> Wallet:
    found = wallets.wallet(wallet_id, consistent=False)
    if found is None or found.merchant_id != merchant.id:
        raise NotFound(f"no such wallet: {wallet_id!r}", param="id")
    return found


def topup(wallets: WalletStore, *, merchant: Merchant, wallet_id: str, amount: int,
          request: IdempotentRequest) -> tuple[Topup, bool]:
    """Credit `amount` at once from the merchant's funding account: the top-up, its key and the
    movement in one transaction. The same key again answers the same top-up, credited once."""
    for attempt in range(1, MOVE_TRIES + 1):
        wallet = wallets.wallet(wallet_id) if len(wallet_id) <= 64 else None
        if wallet is None or wallet.merchant_id != merchant.id:
            raise NotFound(f"no such wallet: {wallet_id!r}", param="id")
        Money.of(amount, wallet.currency)  # the domain's own check of the amount
        now = utc_now()
        found = Topup(id=new_id("top"), wallet_id=wallet.id, merchant_id=merchant.id, amount=amount,
                      currency=wallet.currency, status="SUCCEEDED", created_at=now)
        move = ledger.topup(wallet, amount, transfer_id=new_sorted_id("txn"), now=now)
        try:
            wallets.topup(move, found, request.record(found.id), request.now)
        except KeyAlreadyUsed as used:
            return _replayed_topup(wallets, request.replay_of(used.existing)), True
        except ConcurrencyConflict:
            _pause(attempt)
            continue
        metrics.add_metric(name="TopupsSucceeded", unit=MetricUnit.Count, value=1)
        logger.info("wallet topped up", extra={"wallet_id": wallet.id, "topup_id": found.id, "amount": amount})
        return found, False
    raise IdempotencyKeyInUse("the wallet kept changing while it was topped up; retry", param="id")


def _replayed_topup(wallets: WalletStore, topup_id: str) -> Topup:
    found = wallets.find_topup(topup_id)
    if found is None:
        raise RuntimeError(f"idempotency key refers to a missing top-up {topup_id}")
    return found


def check_wallet_payment(wallets: WalletStore, merchant: Merchant, *, wallet_id: str, currency: str,
                         destination: dict | None) -> None:
    """What a wallet payment needs, checked at the edge: the merchant's wallet, in the payment's
    currency, and a biller the gateway knows."""
    wallet = wallets.wallet(wallet_id, consistent=False)
    if wallet is None or wallet.merchant_id != merchant.id:
        raise InvalidRequest(f"no such wallet: {wallet_id!r}", param="payment_method.wallet_id",
                             code="wallet_not_found")
    if wallet.currency != currency:
        raise InvalidRequest(f"the wallet holds {wallet.currency}, not {currency}", param="currency",
                             code="currency_mismatch")
    if destination is not None and destination.get("service_id") not in BILLERS:
        raise InvalidRequest(f"unknown service; billers: {', '.join(BILLERS)}", param="destination.service_id",
                             code="unknown_service")


def _pause(attempt: int) -> None:
    time.sleep(random.uniform(0.005, min(0.02 * attempt, 0.3)))


# ------------------------------------------------------------------------------ the processor's side


def _store(ctx: CommandContext) -> WalletStore:
    if ctx.wallets is None:
        raise RuntimeError("a wallet payment needs the wallet store in its command context")
    return ctx.wallets


def process_wallet_payment(command: Command, ctx: CommandContext, first_read: PaymentRecord | None = None) -> Outcome:
    """The `payment.process` command of a wallet payment (see the module's docstring). `first_read`:
    the payment as the caller just read it (strongly consistent), not read again."""
    for attempt in range(1, MOVE_TRIES + 1):
        record = first_read if attempt == 1 and first_read is not None else ctx.payments.get(command.payment_id)
        if record is None:
            return Done("unknown payment")
        payment = record.payment
        if payment.is_terminal or payment.version < command.expected_version:
            metrics.add_metric(name="StaleCommands", unit=MetricUnit.Count, value=1)
            return Done("stale")
        if payment.cancel_requested:
            return Done("cancel requested: its command settles the hold")
        with span(command.type, command.traceparent, {"payment.id": command.payment_id, "order.id": command.order_id}) as traceparent:
            meta = EventMeta(traceparent, command.correlation_id)
            try:
                return _advance(record, ctx, meta)
            except ConcurrencyConflict:
                logger.info("the wallet or the payment moved on; deciding again", extra={"attempt": attempt})
        _pause(attempt)
    raise ConcurrencyConflict(f"payment {command.payment_id} kept colliding on its wallet")


def _advance(record: PaymentRecord, ctx: CommandContext, meta: EventMeta) -> Outcome:
    wallets = _store(ctx)
    payment = record.payment
    wallet: Wallet | None = None  # as the hold left it: the capture right after needs no fresh read
    if payment.hold is None:
        record, wallet = _place_hold(record, ctx, meta)
        if record.payment.is_terminal:
            return Done(str(record.payment.status))
        payment = record.payment
    if not payment.destination:
        return _capture(record, wallets, meta, ledger.merchant_balance(payment.merchant_id, payment.currency),
                        wallet)
    # A bill payment: pay the biller through the provider (the payment id is its idempotency key).
    if ctx.time_left() < ctx.provider_timeout + 2:
        return RetryLater(0, "no time left in this invocation for a provider call")
    try:
        result = ctx.provider.pay_bill(reference=payment.id, service_id=payment.destination["service_id"],
                                       client_number=payment.destination["client_number"], amount=payment.amount,
                                       currency=payment.currency, idempotency_key=payment.id)
    except ProviderRejected as exc:
        logger.error("provider refused the bill payment", extra={"reason": str(exc)})
        return _release(record, wallets, meta, PaymentStatus.FAILED,
                        ("provider_rejected", "the payment provider refused the bill payment"))
    except ProviderUnavailable as exc:
        count_error("provider_unavailable")
        if ctx.attempt < ctx.max_attempts:
            return RetryLater(backoff(ctx.attempt, ctx.backoff_base), f"provider unavailable: {exc}")
        return settle_bill(record, ctx, meta, ("provider_unavailable",
                                               "the payment provider could not be reached; the hold was released"))
    return _bill_outcome(record, wallets, meta, result.status)


def _bill_outcome(record: PaymentRecord, wallets: WalletStore, meta: EventMeta, status: str) -> Outcome:
    payment = record.payment
    if status == "succeeded":
        biller = ledger.biller_account(payment.merchant_id, str((payment.destination or {})["service_id"]),
                                       payment.currency)
        return _capture(record, wallets, meta, biller)
    return _release(record, wallets, meta, PaymentStatus.FAILED,
                    ("biller_declined", "the biller declined the payment; the hold was released"))


def settle_bill(record: PaymentRecord, ctx: CommandContext, meta: EventMeta, failure: tuple[str, str]) -> Outcome:
    """Before giving up on a bill payment, ask the provider whether the biller was paid after all."""
    wallets = _store(ctx)
    try:
        found = ctx.provider.find_bill_payment(record.payment.id)
    except (ProviderUnavailable, ProviderRejected) as exc:
        logger.error("could not look the bill payment up before releasing the hold", extra={"reason": str(exc)})
        found = None
    if found is not None:
        return _bill_outcome(record, wallets, meta, found.status)
    return _release(record, wallets, meta, PaymentStatus.FAILED, failure)


def _place_hold(record: PaymentRecord, ctx: CommandContext, meta: EventMeta) -> tuple[PaymentRecord, Wallet | None]:
    """PROCESSING with the hold, in one transaction (and the wallet after it); or FAILED with nothing held."""
    wallets = _store(ctx)
    payment = record.payment
    if payment.status != PaymentStatus.NEW:  # NEW -> PROCESSING is written with the hold, never without
        raise RuntimeError(f"wallet payment {payment.id} is {payment.status} without a hold")
    wallet = wallets.wallet(str(payment.payment_method.get("wallet_id")))
    if wallet is None or wallet.merchant_id != payment.merchant_id or wallet.currency != payment.currency:
        return _fail_unheld(record, ctx, meta, ("wallet_not_found", "the wallet does not exist (any more)")), None
    now = utc_now()
    try:
        move = ledger.place_hold(wallet, payment.id, payment.amount, transfer_id=new_sorted_id("txn"), now=now,
                                 order_id=payment.order_id)
    except InsufficientFunds:
        return _fail_unheld(record, ctx, meta, ("insufficient_funds",
                                                "the wallet's available balance is less than the amount")), None
    started, event = domain.start_processing(payment, event_id=new_event_id(), now=now, hold="placed")
    wallets.move(move, payment=PaymentWrite(record, [event], started, meta))
    logger.info("hold placed", extra={"wallet_id": wallet.id, "amount": payment.amount})
    return record.then([event], started, meta.traceparent), move.after


def _fail_unheld(record: PaymentRecord, ctx: CommandContext, meta: EventMeta,
                 failure: tuple[str, str]) -> PaymentRecord:
    """FAILED (through PROCESSING) in one write, nothing held."""
    payment = record.payment
    now = utc_now()
    started, processing = domain.start_processing(payment, event_id=new_event_id(), now=now)
    final, event = domain.fail(started, event_id=new_event_id(), now=now, code=failure[0], message=failure[1])
    written = ctx.payments.append(record, [processing, event], final, meta)
    _finished_metrics(payment, final)
    return written


def _capture(record: PaymentRecord, wallets: WalletStore, meta: EventMeta, destination: Account,
             wallet: Wallet | None = None) -> Outcome:
    """held -> `destination` with COMPLETED. `wallet`: as last written by this command (its version is
    the condition: if anything moved it since, the write fails and the command decides again)."""
    payment = record.payment
    wallet = wallet or _wallet_of(wallets, payment)
    now = utc_now()
    move = ledger.capture(wallet, payment.id, destination, transfer_id=new_sorted_id("txn"), now=now,
                          order_id=payment.order_id)
    final, event = domain.complete(payment, event_id=new_event_id(), now=now, charge_id=None, hold="captured")
    wallets.move(move, payment=PaymentWrite(record, [event], final, meta))
    _finished_metrics(payment, final)
    logger.info("hold captured", extra={"wallet_id": wallet.id, "to": destination.key})
    return Done(str(final.status))


def _release(record: PaymentRecord, wallets: WalletStore, meta: EventMeta, status: PaymentStatus,
             failure: tuple[str, str] | None) -> Outcome:
    """The hold back to available, with FAILED (`failure`) or CANCELED."""
    payment = record.payment
    wallet = _wallet_of(wallets, payment)
    now = utc_now()
    move = ledger.release(wallet, payment.id, transfer_id=new_sorted_id("txn"), now=now, order_id=payment.order_id)
    if status == PaymentStatus.CANCELED:
        final, event = domain.cancel(payment, event_id=new_event_id(), now=now, hold="released")
    else:
        assert failure is not None
        final, event = domain.fail(payment, event_id=new_event_id(), now=now, code=failure[0], message=failure[1],
                                   hold="released")
    wallets.move(move, payment=PaymentWrite(record, [event], final, meta))
    _finished_metrics(payment, final)
    logger.info("hold released", extra={"wallet_id": wallet.id, "status": str(final.status)})
    return Done(str(final.status))


def _wallet_of(wallets: WalletStore, payment: Payment) -> Wallet:
    wallet = wallets.wallet(str(payment.payment_method.get("wallet_id")))
    if wallet is None:
        raise RuntimeError(f"the wallet of {payment.id} holding its money is gone")
    return wallet


def _finished_metrics(payment: Payment, final: Payment) -> None:
    if final.status == PaymentStatus.CANCELED:
        metrics.add_metric(name="PaymentsCanceled", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="PaymentsCompleted" if final.status == PaymentStatus.COMPLETED else "PaymentsFailed",
                       unit=MetricUnit.Count, value=1)
    elapsed_ms = (parse_time(final.updated_at) - parse_time(payment.created_at)).total_seconds() * 1000
    metrics.add_metric(name="ProcessingTime", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    if final.failure is not None:
        logger.info("wallet payment failed", extra={"failure_code": final.failure.code})


def cancel_wallet_payment(record: PaymentRecord, ctx: CommandContext, meta: EventMeta) -> Outcome:
    """The cancel command of a wallet payment: nothing held -> CANCELED; a hold -> released with
    CANCELED, unless the biller was paid already (then it is captured: COMPLETED)."""
    wallets = _store(ctx)
    payment = record.payment
    if payment.hold == "placed":
        if payment.destination:
            try:
                found = ctx.provider.find_bill_payment(payment.id)
            except ProviderRejected:
                found = None
            if found is not None:
                return _bill_outcome(record, wallets, meta, found.status)
        return _release(record, wallets, meta, PaymentStatus.CANCELED, None)
    final, event = domain.cancel(payment, event_id=new_event_id(), now=utc_now())
    ctx.payments.append(record, [event], final, meta)
    metrics.add_metric(name="PaymentsCanceled", unit=MetricUnit.Count, value=1)
    return Done(str(final.status))


def end_dead_wallet_payment(record: PaymentRecord, ctx: CommandContext, meta: EventMeta) -> Outcome:
    """A wallet payment's command reached the dead-letter queue: never left holding money. A biller
    the provider says was paid is captured; otherwise the hold (if any) is released, FAILED."""
    failure = ("processing_error", "the payment could not be processed; nothing was taken from the wallet")
    if record.payment.hold == "placed":
        if record.payment.destination:
            return settle_bill(record, ctx, meta, failure)
        return _release(record, _store(ctx), meta, PaymentStatus.FAILED, failure)
    _fail_unheld(record, ctx, meta, failure)
    return Done("FAILED")


def refund_to_wallet(refund: RefundRecord, payment: PaymentRecord, refunds: RefundRepository, ctx: CommandContext,
                     meta: EventMeta) -> Outcome:
    """A refund of a wallet payment: from where it was captured (the merchant's balance, or the
    biller's account) back to the wallet's available, in one transaction with the refund's outcome
    and the payment's `payment.refunded`."""
    from paygate.domain import refund as refund_domain

    wallets = _store(ctx)
    p = payment.payment
    wallet = _wallet_of(wallets, p)
    source = (ledger.biller_account(p.merchant_id, str(p.destination["service_id"]), p.currency) if p.destination
              else ledger.merchant_balance(p.merchant_id, p.currency))
    now = utc_now()
    r = refund.refund
    move = ledger.refund(wallet, r.amount, source, payment_id=p.id, transfer_id=new_sorted_id("txn"), now=now)
    after, event = refund_domain.succeed(r, event_id=new_event_id(), now=now, provider_refund_id=move.transfer.id)
    paid_back, payment_event = domain.record_refund(p, event_id=new_event_id(), now=now, refund_id=r.id,
                                                    amount=r.amount)
    try:
        wallets.move(move, refund=RefundWrite(refund, [event], after, meta, payment, [payment_event], paid_back))
    except InsufficientBalance:
        failed, fail_event = refund_domain.fail(r, event_id=new_event_id(), now=now, code="insufficient_balance",
                                                message=f"{source.key} holds less than the refund")
        refunds.settle(refund, [fail_event], failed, meta, payment=payment, release=r.amount)
        metrics.add_metric(name="RefundsFailed", unit=MetricUnit.Count, value=1)
        return Done("FAILED")
    metrics.add_metric(name="RefundsSucceeded", unit=MetricUnit.Count, value=1)
    logger.info("refund credited to the wallet", extra={"refund_id": r.id, "wallet_id": wallet.id})
    return Done("SUCCEEDED")
