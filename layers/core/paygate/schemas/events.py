"""What events carry: the payment, refund and order objects as merchants see them, and each webhook's
body. One model per object, which both makes the answer and documents it.

Each is a dataclass (paygate.schemas.docs.model) mapped explicitly from the domain (`X.of(...)`), so a
database item never leaks. The relay builds webhook bodies from them with `dataclasses.asdict`
(`to_json`), so a function that only relays never loads pydantic; the API's routes return them, and
Powertools serializes and documents them (pydantic reads dataclasses). A test checks that both
serializations agree, and validates every example.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from paygate.domain.order import Order as DomainOrder
from paygate.domain.order import OrderEvent
from paygate.domain.payment import Failure as DomainFailure
from paygate.domain.payment import Payment as DomainPayment
from paygate.domain.payment import PaymentEvent
from paygate.domain.refund import Refund as DomainRefund
from paygate.domain.refund import RefundEvent
from paygate.schemas import examples
from paygate.schemas.docs import model


def to_json(obj: Any) -> dict[str, Any]:
    """A model as JSON-ready data, without pydantic (what the relay sends as a webhook body)."""
    return asdict(obj)


PaymentStatus = Literal["NEW", "PROCESSING", "COMPLETED", "FAILED", "CANCELED"]


@model({"code": "card_declined", "message": "the card was declined"})
class Failure:
    """Why a payment, refund or order did not succeed."""

    code: str
    """A stable, machine-readable reason: `card_declined`, `insufficient_funds`, `provider_unavailable`, ..."""
    message: str
    """A human-readable explanation."""

    @classmethod
    def of(cls, failure: DomainFailure | None) -> Failure | None:
        return cls(failure.code, failure.message) if failure else None


@model(examples.PAYMENT["attempts"][0])
class Attempt:
    """One try at one provider."""

    provider: str
    """The provider's id (`sandbox`, `sandbox-b`, `stripe`)."""
    reference: str
    """What the provider knows the attempt by (its idempotency key): the payment id, then `<id>_2`, `<id>_3`."""
    status: Literal["pending", "succeeded", "failed"]
    failure: Failure | None
    at: str


@model(examples.PAYMENT)
class Payment:
    """A payment. Accepted at once as NEW; then PROCESSING, and COMPLETED, FAILED or CANCELED, each
    change told by a webhook. Refunds never change its status: they add up in `amount_refunded`."""

    id: str
    """`pay_` and 24 characters."""
    object: Literal["payment"]
    status: PaymentStatus
    """NEW -> PROCESSING -> COMPLETED or FAILED; NEW or PROCESSING -> CANCELED. The last three are final."""
    amount: int
    """In the currency's minor unit (cents for USD; yen for JPY, which has none)."""
    currency: str
    """ISO 4217 code, upper-case."""
    payment_method: dict[str, Any]
    """`{"type": "card", "token"}` or `{"type": "wallet", "wallet_id"}`."""
    description: str | None
    metadata: dict[str, str]
    """Your own key-value pairs, returned as given."""
    customer_id: str | None
    destination: dict[str, str] | None
    """A bill payment's biller: `{"service_id", "client_number"}`."""
    order_id: str | None
    """The order this payment pays, when an order made it."""
    failure: Failure | None
    """Set when FAILED."""
    amount_refunded: int
    """The sum of this payment's SUCCEEDED refunds."""
    cancel_requested: bool
    """A cancel was asked for and is being carried out."""
    version: int
    """Grows by one with each event: of two webhooks, the higher version is the newer state."""
    created_at: str
    updated_at: str
    provider: str | None
    """The provider holding the charge (null when none does)."""
    attempts: list[Attempt]
    """A card payment's tries, one per provider of its route that was asked, in order."""

    @classmethod
    def of(cls, p: DomainPayment) -> Payment:
        return cls(id=p.id, object="payment", status=str(p.status), amount=p.amount,
                   currency=p.currency, payment_method=p.payment_method.as_dict(), description=p.description,
                   metadata=dict(p.metadata), customer_id=p.customer_id,
                   destination=p.destination.as_dict() if p.destination else None, order_id=p.order_id,
                   failure=Failure.of(p.failure), amount_refunded=p.amount_refunded,
                   cancel_requested=p.cancel_requested, version=p.version, created_at=p.created_at,
                   updated_at=p.updated_at, provider=p.provider,
                   attempts=[Attempt(a.provider, a.reference, a.status, Failure.of(a.failure), a.at)  # type: ignore[arg-type]
                             for a in p.attempts])


@model(examples.REFUND)
class Refund:
    """A refund of a COMPLETED payment: PENDING when accepted, then SUCCEEDED or FAILED (webhooks
    `refund.succeeded`, `refund.failed`). Its amount is reserved when it is accepted."""

    id: str
    """`re_` and 24 characters."""
    object: Literal["refund"]
    payment_id: str
    amount: int
    currency: str
    status: Literal["PENDING", "SUCCEEDED", "FAILED"]
    failure: Failure | None
    version: int
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, r: DomainRefund) -> Refund:
        return cls(id=r.id, object="refund", payment_id=r.payment_id, amount=r.amount, currency=r.currency,
                   status=str(r.status), failure=Failure.of(r.failure), version=r.version,
                   created_at=r.created_at, updated_at=r.updated_at)


@model(examples.ORDER)
class Order:
    """An order paid from its customer's wallet: NEW, then FINISHED (with `payment_id`) or CANCELED
    (with `failure`). The order and its payment task are written in one transaction."""

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


@model()
class PaymentEventData:
    object: Payment
    """The payment right after the event."""


@model(examples.WEBHOOK_EVENT)
class PaymentWebhook:
    """A payment's event as a webhook carries it."""

    id: str
    """The event id, also the `webhook-id` header: the same on every attempt, so deduplicate on it."""
    type: str
    created_at: str
    data: PaymentEventData

    @classmethod
    def of(cls, event: PaymentEvent, after: DomainPayment) -> PaymentWebhook:
        """`data.object.version` is the event's sequence, so a receiver can order what arrives out of order."""
        return cls(event.event_id, str(event.type), event.occurred_at, PaymentEventData(Payment.of(after)))


@model()
class RefundEventData:
    object: Refund
    """The refund right after the event."""


@model({**examples.WEBHOOK_EVENT, "type": "refund.succeeded",
        "data": {"object": {**examples.REFUND, "status": "SUCCEEDED", "version": 2}}})
class RefundWebhook:
    """A refund's event as a webhook carries it."""

    id: str
    type: str
    created_at: str
    data: RefundEventData

    @classmethod
    def of(cls, event: RefundEvent, after: DomainRefund) -> RefundWebhook:
        return cls(event.event_id, str(event.type), event.occurred_at, RefundEventData(Refund.of(after)))


@model()
class OrderEventData:
    object: Order
    """The order right after the event."""


@model({"id": examples.EVENT_ID, "type": "order.finished",
       "created_at": examples.UPDATED, "data": {"object": examples.ORDER}})
class OrderWebhook:
    """An order's event as a webhook carries it."""

    id: str
    type: str
    created_at: str
    data: OrderEventData

    @classmethod
    def of(cls, event: OrderEvent, after: DomainOrder) -> OrderWebhook:
        return cls(event.event_id, str(event.type), event.occurred_at, OrderEventData(Order.of(after)))
