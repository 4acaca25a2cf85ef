"""/v1/events: every event of the merchant as it was sent, newest first, kept 30 days."""

from __future__ import annotations

from typing import Annotated, Literal

from paygate.container import get_container
from paygate.domain.webhooks import EVENT_TYPES
from paygate.schemas.openapi import EVENTS, errors
from paygate.schemas.responses import Event, EventList, listing
from paygate.services.webhooks import events
from routes.common import CurrentMerchant, ResourceRouter, params

router = ResourceRouter(EVENTS)

EventType = Literal[tuple(sorted(EVENT_TYPES))]  # type: ignore[valid-type]


@router.get("/v1/events", openapi_extensions=errors({400: ["invalid_request"]}))
def list_events(merchant: CurrentMerchant, limit: params.Limit = 10, starting_after: params.StartingAfter = None,
                type: Annotated[EventType | None, params.Query(description="Only the events of this type.")]
                = None) -> EventList:
    """List events

    Every event of your account exactly as webhooks carry it, newest first, whether an endpoint
    receives it or not; kept 30 days. An event is stored before its first webhook is sent, so a
    receiver can fetch it by its `webhook-id`. `starting_after` is an event id."""
    found, has_more = events.list_events(get_container().event_log, merchant, event_type=type, limit=limit,
                                         starting_after=starting_after)
    return listing(EventList, [Event.of(e) for e in found], has_more, "/v1/events")


@router.get("/v1/events/<event_id>")
def get_event(event_id: params.EventId, merchant: CurrentMerchant) -> Event:
    """Retrieve an event

    By its id, the `webhook-id` a webhook carried: the same body that was sent."""
    return Event.of(events.get_event(get_container().event_log, merchant, event_id))
