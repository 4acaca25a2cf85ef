"""Customers, wallets and the ledger: every movement one transaction with what must change with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from paygate.domain.ledger import Account, Movement, Wallet, WalletEntry
from paygate.domain.order import Customer
from paygate.domain.payment import Payment, PaymentEvent
from paygate.domain.refund import Refund, RefundEvent
from paygate.services.ports.idempotency import IdempotencyRecord
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.records import EventMeta
from paygate.services.ports.refunds import RefundRecord


@dataclass(frozen=True)
class Topup:
    id: str
    wallet_id: str
    merchant_id: str
    amount: int
    currency: str
    status: str
    created_at: str


class InsufficientBalance(Exception):
    """A movement's condition on an account failed for want of money (a hold, a refund from the
    merchant's balance): nothing was written."""


@dataclass(frozen=True)
class PaymentWrite:
    """A payment's events, to be written in the same transaction as a ledger movement."""

    before: PaymentRecord
    events: Sequence[PaymentEvent]
    after: Payment
    meta: EventMeta


@dataclass(frozen=True)
class RefundWrite:
    """A refund's outcome and its payment's side, to be written with a ledger movement."""

    before: RefundRecord
    events: Sequence[RefundEvent]
    after: Refund
    meta: EventMeta
    payment: PaymentRecord
    payment_events: Sequence[PaymentEvent]
    payment_after: Payment


class WalletStore(Protocol):
    """Customers, wallets and the ledger. Every movement is one transaction: the wallet (conditioned
    on its version, on money for a hold, on the hold for its resolution), its entry, the account on
    the other side with its entry, and whatever must change with it (the payment's events, a top-up
    and its key, a refund's outcome)."""

    def create_customer(self, customer: Customer, wallet: Wallet, key: IdempotencyRecord, now: int) -> None: ...
    def customer(self, customer_id: str) -> Customer | None: ...
    def wallet(self, wallet_id: str, *, consistent: bool = True) -> Wallet | None: ...
    def entries(self, wallet_id: str, *, limit: int, starting_after: int | None) -> tuple[list[WalletEntry], bool]: ...
    def balances(self, merchant_id: str) -> list[tuple[Account, int]]: ...
    def topup(self, move: Movement, topup: Topup, key: IdempotencyRecord, now: int) -> None:
        """KeyAlreadyUsed, ConcurrencyConflict (the wallet moved on: decide again)."""
    def find_topup(self, topup_id: str) -> Topup | None: ...
    def move(self, move: Movement, *, payment: PaymentWrite | None = None, refund: RefundWrite | None = None) -> None:
        """ConcurrencyConflict when the wallet or the payment moved on, InsufficientBalance when an
        account the movement takes from is short."""
