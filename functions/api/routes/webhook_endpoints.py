"""/v1/webhook_endpoints: where a merchant's events go, and what never arrived."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from paygate import edge
from paygate.container import get_container
from paygate.ids import epoch_seconds
from paygate.schemas.requests import CreateWebhookEndpoint, ListDeliveriesQuery, NoQuery, Redeliver
from paygate.schemas.responses import (
    delivery_attempt_object,
    failed_delivery_object,
    list_object,
    webhook_endpoint_object,
)
from paygate.services import endpoints, events
from routes.common import body_of, creating_request, merchant_of, query_of, respond

router = Router()


@router.post("/v1/webhook_endpoints")
def create_webhook_endpoint() -> Response[dict]:
    merchant, body, request = creating_request(router.current_event, CreateWebhookEndpoint, "/v1/webhook_endpoints")
    c = get_container()
    created = endpoints.create_endpoint(c.endpoints, c.url_guard, merchant=merchant, request=request, body=body)
    return respond(201, webhook_endpoint_object(created.endpoint, include_secret=True),
                   edge.replay_headers(created.replayed))


@router.get("/v1/webhook_endpoints")
def list_webhook_endpoints() -> Response[dict]:
    event = router.current_event
    merchant = merchant_of(event)
    query_of(event, NoQuery)
    found = endpoints.list_endpoints(get_container().endpoints, merchant)
    return respond(200, list_object([webhook_endpoint_object(e) for e in found], False, "/v1/webhook_endpoints"))


@router.delete("/v1/webhook_endpoints/<endpoint_id>")
def delete_webhook_endpoint(endpoint_id: str) -> Response[dict]:
    deleted = endpoints.delete_endpoint(get_container().endpoints, merchant_of(router.current_event), endpoint_id)
    return respond(200, {"id": deleted, "object": "webhook_endpoint", "deleted": True})


@router.get("/v1/webhook_endpoints/<endpoint_id>/failed_deliveries")
def list_failed_deliveries(endpoint_id: str) -> Response[dict]:
    merchant = merchant_of(router.current_event)
    found, has_more = endpoints.list_failed_deliveries(get_container().endpoints, merchant, endpoint_id)
    return respond(200, list_object([failed_delivery_object(f) for f in found], has_more,
                                    f"/v1/webhook_endpoints/{endpoint_id}/failed_deliveries"))


@router.post("/v1/webhook_endpoints/<endpoint_id>/rotate_secret")
def rotate_secret(endpoint_id: str) -> Response[dict]:
    """A new secret, shown once; the old one keeps signing beside it for 24 hours."""
    merchant = merchant_of(router.current_event)
    rotated = endpoints.rotate_secret(get_container().endpoints, merchant, endpoint_id, epoch_seconds())
    return respond(200, webhook_endpoint_object(rotated, include_secret=True))


@router.get("/v1/webhook_endpoints/<endpoint_id>/deliveries")
def list_deliveries(endpoint_id: str) -> Response[dict]:
    event = router.current_event
    merchant = merchant_of(event, ListDeliveriesQuery)
    c = get_container()
    found, has_more = events.list_deliveries(c.endpoints, c.event_log, merchant, endpoint_id,
                                             query_of(event, ListDeliveriesQuery))
    return respond(200, list_object([delivery_attempt_object(a) for a in found], has_more,
                                    f"/v1/webhook_endpoints/{endpoint_id}/deliveries"))


@router.post("/v1/webhook_endpoints/<endpoint_id>/redeliver")
def redeliver(endpoint_id: str) -> Response[dict]:
    """The event delivered to this endpoint again (same webhook-id); 202 with the event."""
    event = router.current_event
    merchant = merchant_of(event)
    body, _ = body_of(event, Redeliver)
    c = get_container()
    return respond(202, events.redeliver(c.endpoints, c.event_log, c.delivery_queue, merchant, endpoint_id, body))
