"""The API's other answers: events as listed, a payment's history, webhook endpoints and their
deliveries, pages of lists, health. One model per object, as in paygate.schemas.events (dataclasses,
no pydantic import), each mapped explicitly from the domain (`X.of(...)`)."""

from __future__ import annotations

from typing import Any, Literal

from paygate.domain.accounts import ApiKey as DomainApiKey
from paygate.domain.accounts import WebhookEndpoint as DomainEndpoint
from paygate.domain.payment import Payment as DomainPayment
from paygate.domain.payment import PaymentEvent
from paygate.domain.webhooks import DeliveryAttempt as DomainAttempt
from paygate.domain.webhooks import FailedDelivery as DomainFailedDelivery
from paygate.schemas import examples
from paygate.schemas.docs import model
from paygate.schemas.events import Payment, PaymentEventData, Refund


@model()
class EventData:
    object: dict[str, Any]
    """The payment, refund or order as it was right after the event (see the webhooks for each shape)."""


@model(examples.WEBHOOK_EVENT)
class Event:
    """An event exactly as webhooks carry it (Standard Webhooks body): `id` is the `webhook-id` header."""

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


@model(examples.PAYMENT_HISTORY_EVENT)
class PaymentHistoryEvent:
    """An event of a payment's history, with the payment as it was right after it."""

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


@model(examples.ENDPOINT)
class WebhookEndpoint:
    """Where a merchant's webhooks go."""

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


@model(examples.ENDPOINT_WITH_SECRET)
class WebhookEndpointWithSecret(WebhookEndpoint):
    """A webhook endpoint as created or rotated: with its signing secret, shown this once."""

    secret: str
    """`whsec_...`: verify each webhook's `webhook-signature` with it (Standard Webhooks)."""

    @classmethod
    def of(cls, e: DomainEndpoint) -> WebhookEndpointWithSecret:
        return cls(e.id, "webhook_endpoint", e.url, list(e.enabled_events), e.description, "enabled", e.created_at,
                   e.secret)


@model({"id": examples.ENDPOINT["id"], "object": "webhook_endpoint", "deleted": True})
class DeletedWebhookEndpoint:
    id: str
    object: Literal["webhook_endpoint"]
    deleted: Literal[True]


@model(examples.API_KEY)
class ApiKey:
    """One of a merchant's API keys: never the key itself."""

    id: str
    """`key_` and 24 characters: what revokes it."""
    object: Literal["api_key"]
    prefix: str
    """The key's first 12 characters, to tell it apart."""
    created_at: str
    last_used_at: str | None
    """When a request last used it, written at most once per 5 minutes (null: not used since it was made)."""

    @classmethod
    def of(cls, k: DomainApiKey) -> ApiKey:
        return cls(k.id, "api_key", k.prefix, k.created_at, k.last_used_at)


@model(examples.API_KEY_WITH_SECRET)
class ApiKeyWithSecret(ApiKey):
    """A new API key, with the key itself, shown this once (only its hash is stored)."""

    secret: str
    """`sk_test_...`: send it as `Authorization: Bearer <secret>`."""

    @classmethod
    def of(cls, k: DomainApiKey, secret: str) -> ApiKeyWithSecret:  # type: ignore[override]
        return cls(k.id, "api_key", k.prefix, k.created_at, k.last_used_at, secret)


@model({"id": examples.API_KEY["id"], "object": "api_key", "deleted": True})
class DeletedApiKey:
    id: str
    object: Literal["api_key"]
    deleted: Literal[True]


@model(examples.FAILED_DELIVERY)
class FailedDelivery:
    """A webhook this endpoint never acknowledged: its attempts ran out and it was dead-lettered."""

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


@model(examples.DELIVERY_ATTEMPT)
class DeliveryAttempt:
    """One POST of one event to one endpoint."""

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


@model({"status": "ok"})
class Health:
    status: Literal["ok"]


def listing(model: type[Any], items: list[Any], has_more: bool, url: str) -> Any:
    """A page of a list (`model` is one of the `...List` models)."""
    return model(object="list", data=items, has_more=has_more, url=url)


@model(examples.listing(examples.PAYMENT, "/v1/payments", True))
class PaymentList:
    """Newest first."""

    object: Literal["list"]
    data: list[Payment]
    has_more: bool
    """More follow: ask again with `starting_after` the last item's id."""
    url: str


@model()
class PaymentHistory:
    """The payment's events, by `sequence` from 1."""

    object: Literal["list"]
    data: list[PaymentHistoryEvent]
    has_more: bool
    url: str


@model()
class RefundList:
    object: Literal["list"]
    data: list[Refund]
    has_more: bool
    url: str


@model()
class EventList:
    object: Literal["list"]
    data: list[Event]
    has_more: bool
    url: str


@model()
class WebhookEndpointList:
    object: Literal["list"]
    data: list[WebhookEndpoint]
    has_more: bool
    url: str


@model()
class FailedDeliveryList:
    object: Literal["list"]
    data: list[FailedDelivery]
    has_more: bool
    url: str


@model()
class DeliveryAttemptList:
    object: Literal["list"]
    data: list[DeliveryAttempt]
    has_more: bool
    url: str


@model(examples.listing(examples.API_KEY, "/v1/api_keys"))
class ApiKeyList:
    """Oldest first."""

    object: Literal["list"]
    data: list[ApiKey]
    has_more: bool
    url: str
