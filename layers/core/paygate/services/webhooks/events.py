"""A merchant's events and its endpoints' delivery attempts, read back; an event delivered again."""

from __future__ import annotations

from typing import Any

from paygate.domain.accounts import Merchant, WebhookEndpoint
from paygate.domain.webhooks import DeliveryAttempt, subscribes
from paygate.schemas.messages import WebhookDelivery
from paygate.services.errors import InvalidRequest, NotFound
from paygate.services.ports.merchants import EndpointRepository
from paygate.services.ports.webhooks import DeliveryQueue, EventLog


def _owned_endpoint(endpoints: EndpointRepository, merchant: Merchant, endpoint_id: str) -> WebhookEndpoint:
    found = endpoints.get(merchant.id, endpoint_id) if len(endpoint_id) <= 64 else None
    if found is None:
        raise NotFound(f"no such webhook endpoint: {endpoint_id[:64]!r}", param="id")
    return found


def list_events(log: EventLog, merchant: Merchant, *, event_type: str | None, limit: int,
                starting_after: str | None) -> tuple[list[dict[str, Any]], bool]:
    """Newest first, as they were sent; `starting_after` is an event id of an earlier page (an
    unknown one is a 400, as for payments: a cursor that matches nothing is the caller's mistake)."""
    if starting_after and log.event(merchant.id, starting_after) is None:
        raise InvalidRequest(f"no such event: {starting_after!r}", param="starting_after")
    return log.events(merchant.id, event_type=event_type, limit=limit, starting_after=starting_after)


def get_event(log: EventLog, merchant: Merchant, event_id: str) -> dict[str, Any]:
    found = log.event(merchant.id, event_id) if len(event_id) <= 64 else None
    if found is None:
        raise NotFound(f"no such event: {event_id[:64]!r}", param="id")
    return found


def list_deliveries(endpoints: EndpointRepository, log: EventLog, merchant: Merchant, endpoint_id: str, *,
                    limit: int, starting_after: str | None) -> tuple[list[DeliveryAttempt], bool]:
    """Every attempt to deliver to this endpoint, newest first."""
    _owned_endpoint(endpoints, merchant, endpoint_id)
    return log.attempts(endpoint_id, limit=limit, starting_after=starting_after)


def redeliver(endpoints: EndpointRepository, log: EventLog, queue: DeliveryQueue, merchant: Merchant,
              endpoint_id: str, event_id: str) -> dict[str, Any]:
    """The event, as it was sent, delivered to this endpoint again: the same body and `webhook-id`,
    signed afresh, with a new series of attempts on the usual schedule. Nothing is written here: the
    delivery is one message on the webhooks queue, and its attempts are recorded as any other's."""
    endpoint = _owned_endpoint(endpoints, merchant, endpoint_id)
    event = log.event(merchant.id, event_id)
    if event is None:
        raise NotFound(f"no such event: {event_id!r}", param="event_id")
    if not subscribes(endpoint.enabled_events, event["type"]):
        raise InvalidRequest(f"this endpoint does not receive {event['type']} events (enabled_events)",
                             param="event_id", code="event_not_enabled")
    queue.schedule([(WebhookDelivery(merchant_id=merchant.id, events=(event,), endpoint_id=endpoint.id), 0)])
    return event
