"""What merchants see of customers, their wallets and notifications, and of their own balance: one model
per object, as in paygate.schemas.events (dataclasses, no pydantic import). Orders are in events."""

from __future__ import annotations

from typing import Any, Literal

from paygate.domain.ledger import Account, AccountKind
from paygate.domain.ledger import Wallet as DomainWallet
from paygate.domain.ledger import WalletEntry as DomainEntry
from paygate.domain.order import Customer as DomainCustomer
from paygate.domain.order import Notification as DomainNotification
from paygate.schemas import examples
from paygate.schemas.docs import model
from paygate.schemas.events import Order


@model(examples.CUSTOMER)
class Customer:
    """A customer, created together with its wallet (one per customer) in one transaction."""

    id: str
    """`cus_` and 24 characters."""
    object: Literal["customer"]
    name: str
    email: str | None
    wallet_id: str
    """The customer's wallet, `wal_...`."""
    currency: str
    """The wallet's currency."""
    created_at: str

    @classmethod
    def of(cls, c: DomainCustomer) -> Customer:
        return cls(c.id, "customer", c.name, c.email, c.wallet_id, c.currency, c.created_at)


@model(examples.WALLET)
class Wallet:
    """A customer's money: `available` to spend, and `held` for payments under way. A hold is
    captured or released exactly once."""

    id: str
    object: Literal["wallet"]
    customer_id: str
    currency: str
    available: int
    """Minor units the customer can spend now."""
    held: int
    """Minor units put aside for payments under way."""
    version: int
    """The sequence of its last entry."""
    created_at: str

    @classmethod
    def of(cls, w: DomainWallet) -> Wallet:
        return cls(w.id, "wallet", w.customer_id, w.currency, w.available, w.held, w.version, w.created_at)


@model(examples.WALLET_ENTRY)
class WalletEntry:
    """One change of a wallet's ledger."""

    id: str
    """The transfer's id."""
    object: Literal["wallet_entry"]
    wallet_id: str
    sequence: int
    """1, 2, 3 ... per wallet: the cursor of `GET /v1/wallets/{wallet_id}/entries`."""
    type: Literal["topup", "hold", "capture", "release", "refund"]
    amount: int
    """Signed, from the customer's side: what they can spend went up (topup, release, refund) or down
    (hold); a capture takes the held money for good."""
    currency: str
    available_after: int
    held_after: int
    payment_id: str | None
    order_id: str | None
    created_at: str

    @classmethod
    def of(cls, e: DomainEntry) -> WalletEntry:
        return cls(e.transfer.id, "wallet_entry", e.wallet_id, e.sequence, str(e.type), e.amount,
                   e.transfer.currency, e.available_after, e.held_after, e.payment_id, e.order_id, e.created_at)


@model(examples.TOPUP)
class Topup:
    """Money put on a wallet, credited at once from the merchant's funding account."""

    id: str
    """`top_` and 24 characters."""
    object: Literal["topup"]
    wallet_id: str
    amount: int
    currency: str
    status: Literal["SUCCEEDED"]
    created_at: str

    @classmethod
    def of(cls, t: Any) -> Topup:
        return cls(t.id, "topup", t.wallet_id, t.amount, t.currency, t.status, t.created_at)


@model()
class CurrencyAmount:
    currency: str
    amount: int


@model(examples.BALANCE)
class Balance:
    """The merchant's money by currency."""

    object: Literal["balance"]
    available: list[CurrencyAmount]
    """Captured wallet payments less their refunds."""
    topped_up: list[CurrencyAmount]
    """Brought onto wallets by top-ups."""
    paid_to_billers: list[CurrencyAmount]
    """Captured bill payments, paid on to the billers."""

    @classmethod
    def of(cls, accounts: list[tuple[Account, int]]) -> Balance:
        def of(kind: AccountKind, negate: bool = False) -> list[CurrencyAmount]:
            totals: dict[str, int] = {}
            for account, amount in accounts:
                if account.kind == kind:
                    totals[account.currency] = totals.get(account.currency, 0) + (-amount if negate else amount)
            return [CurrencyAmount(c, a) for c, a in sorted(totals.items())]
        # The funding account is the world's side: what came in shows there below zero.
        return cls("balance", of(AccountKind.BALANCE), of(AccountKind.FUNDING, True), of(AccountKind.BILLER))


@model(examples.NOTIFICATION)
class Notification:
    """What the customer was told of an order's outcome."""

    id: str
    object: Literal["notification"]
    type: Literal["order.finished", "order.canceled"]
    customer_id: str
    order_id: str
    message: str
    created_at: str

    @classmethod
    def of(cls, n: DomainNotification) -> Notification:
        return cls(n.id, "notification", n.type, n.customer_id, n.order_id, n.message, n.created_at)


@model()
class WalletEntryList:
    """Newest first."""

    object: Literal["list"]
    data: list[WalletEntry]
    has_more: bool
    """More follow: ask again with `starting_after` the last entry's `sequence`."""
    url: str


@model()
class OrderList:
    object: Literal["list"]
    data: list[Order]
    has_more: bool
    url: str


@model()
class NotificationList:
    object: Literal["list"]
    data: list[Notification]
    has_more: bool
    url: str
