"""/v1/events: every event of the merchant as it was sent, newest first, kept 30 days."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from paygate.container import get_container
from paygate.schemas.requests import ListEventsQuery
from paygate.schemas.responses import list_object
from paygate.services import events
from routes.common import merchant_of, query_of, respond

router = Router()


@router.get("/v1/events")
def list_events() -> Response[dict]:
    event = router.current_event
    merchant = merchant_of(event, ListEventsQuery)
    found, has_more = events.list_events(get_container().event_log, merchant, query_of(event, ListEventsQuery))
    return respond(200, list_object(found, has_more, "/v1/events"))


@router.get("/v1/events/<event_id>")
def get_event(event_id: str) -> Response[dict]:
    merchant = merchant_of(router.current_event)
    return respond(200, events.get_event(get_container().event_log, merchant, event_id))
