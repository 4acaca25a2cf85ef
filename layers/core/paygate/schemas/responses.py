"""What merchants see: one model per object, which both makes the answer and documents it.

Each is a frozen dataclass mapped explicitly from the domain (`X.of(...)`), so a database item never
leaks. The API's routes return them, and Powertools serializes and documents them (pydantic reads
dataclasses; each field's docstring and the class's example go into the document: paygate.schemas.docs);
the relay builds webhook bodies from the same models with `dataclasses.asdict`, so a function that
only relays never loads pydantic. A test checks that both serializations agree, and validates every
example.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from paygate.domain.accounts import WebhookEndpoint as DomainEndpoint
from paygate.domain.payment import Failure as DomainFailure
from paygate.domain.payment import Payment as DomainPayment
from paygate.domain.payment import PaymentEvent
from paygate.domain.refund import Refund as DomainRefund
from paygate.domain.refund import RefundEvent
from paygate.domain.webhooks import DeliveryAttempt as DomainAttempt
from paygate.domain.webhooks import FailedDelivery as DomainFailedDelivery
from paygate.schemas import examples
from paygate.schemas.docs import documented


def to_json(model: Any) -> dict[str, Any]:
    """A model as JSON-ready data, without pydantic (what the relay sends as a webhook body)."""
    return asdict(model)


PaymentStatus = Literal["NEW", "PROCESSING", "COMPLETED", "FAILED", "CANCELED"]


@dataclass(frozen=True)
class Failure:
    """Why a payment, refund or order did not succeed."""

    __pydantic_config__ = documented({"code": "card_declined", "message": "the card was declined"})
    code: str
    """A stable, machine-readable reason: `card_declined`, `insufficient_funds`, `provider_unavailable`, ..."""
    message: str
    """A human-readable explanation."""

    @classmethod
    def of(cls, failure: DomainFailure | None) -> Failure | None:
        return cls(failure.code, failure.message) if failure else None


@dataclass(frozen=True)
class Payment:
    """A payment. Accepted at once as NEW; then PROCESSING, and COMPLETED, FAILED or CANCELED, each
    change told by a webhook. Refunds never change its status: they add up in `amount_refunded`."""

    __pydantic_config__ = documented(examples.PAYMENT)
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

    @classmethod
    def of(cls, p: DomainPayment) -> Payment:
        return cls(id=p.id, object="payment", status=str(p.status), amount=p.amount,
                   currency=p.currency, payment_method=dict(p.payment_method), description=p.description,
                   metadata=dict(p.metadata), customer_id=p.customer_id,
                   destination=dict(p.destination) if p.destination else None, order_id=p.order_id,
                   failure=Failure.of(p.failure), amount_refunded=p.amount_refunded,
                   cancel_requested=p.cancel_requested, version=p.version, created_at=p.created_at,
                   updated_at=p.updated_at)


@dataclass(frozen=True)
class Refund:
    """A refund of a COMPLETED payment: PENDING when accepted, then SUCCEEDED or FAILED (webhooks
    `refund.succeeded`, `refund.failed`). Its amount is reserved when it is accepted."""

    __pydantic_config__ = documented(examples.REFUND)
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


@dataclass(frozen=True)
class EventData:
    __pydantic_config__ = documented()
    object: dict[str, Any]
    """The payment, refund or order as it was right after the event (see the webhooks for each shape)."""


@dataclass(frozen=True)
class Event:
    """An event exactly as webhooks carry it (Standard Webhooks body): `id` is the `webhook-id` header."""

    __pydantic_config__ = documented(examples.WEBHOOK_EVENT)
    id: str
    """`evt_` and 24 characters, sorted by time; the same on every delivery attempt."""
    type: str
    """`payment.completed`, `refund.succeeded`, `order.finished`, ...: see the webhooks."""
    created_at: str
    data: EventData

    @classmethod
    def of(cls, stored: dict[str, Any]) -> Event:
        """An event as the event log keeps it: the body that was sent."""
        return cls(stored["id"], stored["type"], stored["created_at"], EventData(stored["data"]["object"]))


@dataclass(frozen=True)
class PaymentEventData:
    __pydantic_config__ = documented()
    object: Payment
    """The payment right after the event."""


@dataclass(frozen=True)
class PaymentWebhook:
    """A payment's event as a webhook carries it."""

    __pydantic_config__ = documented(examples.WEBHOOK_EVENT)
    id: str
    """The event id, also the `webhook-id` header: the same on every attempt, so deduplicate on it."""
    type: str
    created_at: str
    data: PaymentEventData

    @classmethod
    def of(cls, event: PaymentEvent, after: DomainPayment) -> PaymentWebhook:
        """`data.object.version` is the event's sequence, so a receiver can order what arrives out of order."""
        return cls(event.event_id, str(event.type), event.occurred_at, PaymentEventData(Payment.of(after)))


@dataclass(frozen=True)
class RefundEventData:
    __pydantic_config__ = documented()
    object: Refund
    """The refund right after the event."""


@dataclass(frozen=True)
class RefundWebhook:
    """A refund's event as a webhook carries it."""

    __pydantic_config__ = documented({**examples.WEBHOOK_EVENT, "type": "refund.succeeded",
                                      "data": {"object": {**examples.REFUND, "status": "SUCCEEDED", "version": 2}}})
    id: str
    type: str
    created_at: str
    data: RefundEventData

    @classmethod
    def of(cls, event: RefundEvent, after: DomainRefund) -> RefundWebhook:
        return cls(event.event_id, str(event.type), event.occurred_at, RefundEventData(Refund.of(after)))


@dataclass(frozen=True)
class PaymentHistoryEvent:
    """An event of a payment's history, with the payment as it was right after it."""

    __pydantic_config__ = documented(examples.PAYMENT_HISTORY_EVENT)
    id: str
    object: Literal["event"]
    type: str
    sequence: int
    """1 for the first event of the payment, then 2, 3, ..."""
    created_at: str
    data: PaymentEventData

    @classmethod
    def of(cls, event: PaymentEvent, after: DomainPayment) -> PaymentHistoryEvent:
        return cls(event.event_id, "event", str(event.type), event.sequence, event.occurred_at,
                   PaymentEventData(Payment.of(after)))


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where a merchant's webhooks go."""

    __pydantic_config__ = documented(examples.ENDPOINT)
    id: str
    """`we_` and 24 characters."""
    object: Literal["webhook_endpoint"]
    url: str
    enabled_events: list[str]
    """The event types it receives; `["*"]` for all."""
    description: str | None
    status: Literal["enabled"]
    created_at: str

    @classmethod
    def of(cls, e: DomainEndpoint) -> WebhookEndpoint:
        return cls(e.id, "webhook_endpoint", e.url, list(e.enabled_events), e.description, "enabled", e.created_at)


@dataclass(frozen=True)
class WebhookEndpointWithSecret(WebhookEndpoint):
    """A webhook endpoint as created or rotated: with its signing secret, shown this once."""

    __pydantic_config__ = documented(examples.ENDPOINT_WITH_SECRET)
    secret: str
    """`whsec_...`: verify each webhook's `webhook-signature` with it (Standard Webhooks)."""

    @classmethod
    def of(cls, e: DomainEndpoint) -> WebhookEndpointWithSecret:
        return cls(e.id, "webhook_endpoint", e.url, list(e.enabled_events), e.description, "enabled", e.created_at,
                   e.secret)


@dataclass(frozen=True)
class DeletedWebhookEndpoint:
    __pydantic_config__ = documented({"id": examples.ENDPOINT["id"], "object": "webhook_endpoint", "deleted": True})
    id: str
    object: Literal["webhook_endpoint"]
    deleted: Literal[True]


@dataclass(frozen=True)
class FailedDelivery:
    """A webhook this endpoint never acknowledged: its attempts ran out and it was dead-lettered."""

    __pydantic_config__ = documented(examples.FAILED_DELIVERY)
    object: Literal["webhook_delivery"]
    status: Literal["failed"]
    endpoint_id: str
    attempts: int
    failed_at: str
    event: Event
    """The event as it was sent."""

    @classmethod
    def of(cls, f: DomainFailedDelivery) -> FailedDelivery:
        event = Event(f.event_id, f.event_type, f.created_at, EventData(f.object))
        return cls("webhook_delivery", "failed", f.endpoint_id, f.attempts, f.failed_at, event)


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST of one event to one endpoint."""

    __pydantic_config__ = documented(examples.DELIVERY_ATTEMPT)
    id: str
    """Sorts in the order the attempts were made (the list's cursor)."""
    object: Literal["delivery_attempt"]
    endpoint_id: str
    event_id: str
    event_type: str
    attempt: int
    """1 for the first, then one more per retry; a redelivery starts again from 1."""
    delivered: bool
    """The endpoint answered 2xx within 10 s."""
    status_code: int | None
    """What the endpoint answered; null when there was no answer (see `error`)."""
    error: str | None
    """Why there was no answer: a timeout, a refused connection, a refused URL."""
    at: str
    next_attempt_at: str | None
    """When the next attempt is due; null when delivered or no attempt is left."""

    @classmethod
    def of(cls, a: DomainAttempt) -> DeliveryAttempt:
        return cls(a.id, "delivery_attempt", a.endpoint_id, a.event_id, a.event_type, a.attempt, a.delivered,
                   a.status_code, a.error, a.at, a.next_attempt_at)


@dataclass(frozen=True)
class ErrorDetail:
    __pydantic_config__ = documented()
    type: Literal["invalid_request_error", "authentication_error", "idempotency_error", "api_error"]
    code: str
    """Stable and machine-readable: `parameter_invalid`, `invalid_state`, `idempotency_key_reused`, ..."""
    message: str
    """For people; may change."""
    param: str | None
    """The request field, query parameter or header at fault (`amount`, `payment_method.token`,
    `Idempotency-Key`), when there is one."""


@dataclass(frozen=True)
class Error:
    """Every error answer, whatever its status."""

    __pydantic_config__ = documented({"error": {"type": "invalid_request_error", "code": "parameter_invalid",
                                                "message": "invalid amount: Input should be greater than or "
                                                           "equal to 1", "param": "amount"}})
    error: ErrorDetail

    @classmethod
    def of(cls, error: Any) -> Error:
        """Of a paygate.services.errors.RequestError (named by duck type: schemas never import services)."""
        return cls(ErrorDetail(error.type, error.code, error.message, error.param))


@dataclass(frozen=True)
class Health:
    __pydantic_config__ = documented({"status": "ok"})
    status: Literal["ok"]


def listing(model: type[Any], items: list[Any], has_more: bool, url: str) -> Any:
    """A page of a list (`model` is one of the `...List` models)."""
    return model(object="list", data=items, has_more=has_more, url=url)


@dataclass(frozen=True)
class PaymentList:
    """Newest first."""

    __pydantic_config__ = documented(examples.listing(examples.PAYMENT, "/v1/payments", True))
    object: Literal["list"]
    data: list[Payment]
    has_more: bool
    """More follow: ask again with `starting_after` the last item's id."""
    url: str


@dataclass(frozen=True)
class PaymentHistory:
    """The payment's events, by `sequence` from 1."""

    __pydantic_config__ = documented()
    object: Literal["list"]
    data: list[PaymentHistoryEvent]
    has_more: bool
    url: str


@dataclass(frozen=True)
class RefundList:
    __pydantic_config__ = documented()
    object: Literal["list"]
    data: list[Refund]
    has_more: bool
    url: str


@dataclass(frozen=True)
class EventList:
    __pydantic_config__ = documented()
    object: Literal["list"]
    data: list[Event]
    has_more: bool
    url: str


@dataclass(frozen=True)
class WebhookEndpointList:
    __pydantic_config__ = documented()
    object: Literal["list"]
    data: list[WebhookEndpoint]
    has_more: bool
    url: str


@dataclass(frozen=True)
class FailedDeliveryList:
    __pydantic_config__ = documented()
    object: Literal["list"]
    data: list[FailedDelivery]
    has_more: bool
    url: str


@dataclass(frozen=True)
class DeliveryAttemptList:
    __pydantic_config__ = documented()
    object: Literal["list"]
    data: list[DeliveryAttempt]
    has_more: bool
    url: str
