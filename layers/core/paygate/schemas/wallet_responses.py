"""What merchants see of customers, their wallets, orders and the merchant's balance: one model per
object, as in `paygate.schemas.responses` (frozen dataclasses, no pydantic import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from paygate.domain.ledger import Account, AccountKind
from paygate.domain.ledger import Wallet as DomainWallet
from paygate.domain.ledger import WalletEntry as DomainEntry
from paygate.domain.order import Customer as DomainCustomer
from paygate.domain.order import Notification as DomainNotification
from paygate.domain.order import Order as DomainOrder
from paygate.domain.order import OrderEvent
from paygate.schemas import examples
from paygate.schemas.docs import documented
from paygate.schemas.responses import Failure


@dataclass(frozen=True)
class Customer:
    """A customer, created together with its wallet (one per customer) in one transaction."""

    __pydantic_config__ = documented(examples.CUSTOMER)
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


@dataclass(frozen=True)
class Wallet:
    """A customer's money: `available` to spend, and `held` for payments under way. A hold is
    captured or released exactly once."""

    __pydantic_config__ = documented(examples.WALLET)
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


@dataclass(frozen=True)
class WalletEntry:
    """One change of a wallet's ledger."""

    __pydantic_config__ = documented(examples.WALLET_ENTRY)
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


@dataclass(frozen=True)
class Topup:
    """Money put on a wallet, credited at once from the merchant's funding account."""

    __pydantic_config__ = documented(examples.TOPUP)
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


@dataclass(frozen=True)
class CurrencyAmount:
    __pydantic_config__ = documented()
    currency: str
    amount: int


@dataclass(frozen=True)
class Balance:
    """The merchant's money by currency."""

    __pydantic_config__ = documented(examples.BALANCE)
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


@dataclass(frozen=True)
class Order:
    """An order paid from its customer's wallet: NEW, then FINISHED (with `payment_id`) or CANCELED
    (with `failure`). The order and its payment task are written in one transaction."""

    __pydantic_config__ = documented(examples.ORDER)
    id: str
    """`ord_` and 24 characters."""
    object: Literal["order"]
    status: Literal["NEW", "FINISHED", "CANCELED"]
    customer_id: str
    amount: int
    currency: str
    description: str | None
    payment_id: str | None
    """The payment that paid it, once FINISHED."""
    failure: Failure | None
    """Why it was CANCELED: `insufficient_funds`, `wallet_not_found`."""
    version: int
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, o: DomainOrder) -> Order:
        return cls(o.id, "order", str(o.status), o.customer_id, o.amount, o.currency, o.description,
                   o.payment_id, Failure.of(o.failure), o.version, o.created_at, o.updated_at)


@dataclass(frozen=True)
class OrderEventData:
    __pydantic_config__ = documented()
    object: Order
    """The order right after the event."""


@dataclass(frozen=True)
class OrderWebhook:
    """An order's event as a webhook carries it."""

    __pydantic_config__ = documented({"id": examples.EVENT_ID, "type": "order.finished",
                                      "created_at": examples.UPDATED, "data": {"object": examples.ORDER}})
    id: str
    type: str
    created_at: str
    data: OrderEventData

    @classmethod
    def of(cls, event: OrderEvent, after: DomainOrder) -> OrderWebhook:
        return cls(event.event_id, str(event.type), event.occurred_at, OrderEventData(Order.of(after)))


@dataclass(frozen=True)
class Notification:
    """What the customer was told of an order's outcome."""

    __pydantic_config__ = documented(examples.NOTIFICATION)
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


@dataclass(frozen=True)
class WalletEntryList:
    """Newest first."""

    __pydantic_config__ = documented()
    object: Literal["list"]
    data: list[WalletEntry]
    has_more: bool
    """More follow: ask again with `starting_after` the last entry's `sequence`."""
    url: str


@dataclass(frozen=True)
class OrderList:
    __pydantic_config__ = documented()
    object: Literal["list"]
    data: list[Order]
    has_more: bool
    url: str


@dataclass(frozen=True)
class NotificationList:
    __pydantic_config__ = documented()
    object: Literal["list"]
    data: list[Notification]
    has_more: bool
    url: str
