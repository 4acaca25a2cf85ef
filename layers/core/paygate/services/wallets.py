"""Customers and wallets (seed 002): a customer and its wallet created together; top-ups credited at
once from the merchant's funding account; balances and entries read back.

Paying from a wallet (a hold, then its capture or release) is the wallet's funding port:
services/funding/ledger.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import ledger
from paygate.domain.accounts import Merchant
from paygate.domain.ledger import Wallet
from paygate.domain.money import Currency, Money
from paygate.domain.order import Customer
from paygate.ids import new_id, new_sorted_id, utc_now
from paygate.observability import logger, metrics
from paygate.services.errors import IdempotencyKeyInUse, NotFound
from paygate.services.funding.ledger import MOVE_TRIES, pause
from paygate.services.idempotency import IdempotentRequest
from paygate.services.ports.idempotency import KeyAlreadyUsed, KeyBusy
from paygate.services.ports.records import ConcurrencyConflict
from paygate.services.ports.wallets import Topup, WalletStore


@dataclass(frozen=True)
class Created:
    customer: Customer
    replayed: bool = False


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
            pause(attempt)
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
