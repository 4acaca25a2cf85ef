"""/v1/webhook_endpoints: where a merchant's events go, and what never arrived."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response

from paygate.container import get_container
from paygate.ids import epoch_seconds
from paygate.schemas.openapi import ENDPOINTS, errors
from paygate.schemas.requests import CreateWebhookEndpoint, Redeliver
from paygate.schemas.responses import (
    DeletedWebhookEndpoint,
    DeliveryAttempt,
    DeliveryAttemptList,
    Event,
    FailedDelivery,
    FailedDeliveryList,
    WebhookEndpoint,
    WebhookEndpointList,
    WebhookEndpointWithSecret,
    listing,
)
from paygate.services.webhooks import endpoints, events
from routes.common import CurrentMerchant, ResourceRouter, accepted, idempotent, params

router = ResourceRouter(ENDPOINTS)


@router.post("/v1/webhook_endpoints", status_code=201, openapi_extensions=errors({400: ["url_invalid"]}))
def create_webhook_endpoint(body: Annotated[CreateWebhookEndpoint, params.Body()],
                            idempotency_key: params.IdempotencyKey,
                            merchant: CurrentMerchant) -> Response[WebhookEndpointWithSecret]:
    """Create a webhook endpoint

    Your events are posted to `url`, signed with the endpoint's `secret` (shown in this answer only).
    In production the URL must be https and resolve to public addresses only; in dev mode any http(s)
    URL is taken, private, loopback and link-local addresses included."""
    request = idempotent(merchant, idempotency_key, "/v1/webhook_endpoints", body.model_dump(mode="json"))
    c = get_container()
    done = endpoints.create_endpoint(c.endpoints, c.url_guard, merchant=merchant, request=request, body=body)
    return accepted(201, WebhookEndpointWithSecret.of(done.endpoint), replayed=done.replayed)


@router.get("/v1/webhook_endpoints")
def list_webhook_endpoints(merchant: CurrentMerchant) -> WebhookEndpointList:
    """List webhook endpoints

    Without their secrets."""
    found = endpoints.list_endpoints(get_container().endpoints, merchant)
    return listing(WebhookEndpointList, [WebhookEndpoint.of(e) for e in found], False, "/v1/webhook_endpoints")


@router.delete("/v1/webhook_endpoints/<endpoint_id>")
def delete_webhook_endpoint(endpoint_id: params.EndpointId, merchant: CurrentMerchant) -> DeletedWebhookEndpoint:
    """Delete a webhook endpoint

    Nothing more is sent to it, retries included."""
    deleted = endpoints.delete_endpoint(get_container().endpoints, merchant, endpoint_id)
    return DeletedWebhookEndpoint(id=deleted, object="webhook_endpoint", deleted=True)


@router.get("/v1/webhook_endpoints/<endpoint_id>/failed_deliveries")
def list_failed_deliveries(endpoint_id: params.EndpointId, merchant: CurrentMerchant) -> FailedDeliveryList:
    """Webhooks that never arrived

    What this endpoint never acknowledged (its attempts ran out, it was dead-lettered), newest first,
    each with the event as it was sent."""
    found, has_more = endpoints.list_failed_deliveries(get_container().endpoints, merchant, endpoint_id)
    return listing(FailedDeliveryList, [FailedDelivery.of(f) for f in found], has_more,
                   f"/v1/webhook_endpoints/{endpoint_id}/failed_deliveries")


@router.post("/v1/webhook_endpoints/<endpoint_id>/rotate_secret",
             openapi_extensions=errors({409: ["rotation_in_progress"]}))
def rotate_secret(endpoint_id: params.EndpointId, merchant: CurrentMerchant) -> WebhookEndpointWithSecret:
    """Rotate an endpoint's secret

    A new secret, shown once; the old one keeps signing beside it for 24 hours (each webhook then
    carries two space-separated `v1,` signatures, and a receiver holding either secret accepts it)."""
    rotated = endpoints.rotate_secret(get_container().endpoints, merchant, endpoint_id, epoch_seconds())
    return WebhookEndpointWithSecret.of(rotated)


@router.get("/v1/webhook_endpoints/<endpoint_id>/deliveries")
def list_deliveries(endpoint_id: params.EndpointId, merchant: CurrentMerchant, limit: params.Limit = 10,
                    starting_after: params.StartingAfter = None) -> DeliveryAttemptList:
    """Every delivery attempt

    Every attempt to deliver to this endpoint, newest first, kept 30 days: the status code it
    answered (or why there was none) and when the next attempt is due. `starting_after` is an attempt id."""
    c = get_container()
    found, has_more = events.list_deliveries(c.endpoints, c.event_log, merchant, endpoint_id, limit=limit,
                                             starting_after=starting_after)
    return listing(DeliveryAttemptList, [DeliveryAttempt.of(a) for a in found], has_more,
                   f"/v1/webhook_endpoints/{endpoint_id}/deliveries")


@router.post("/v1/webhook_endpoints/<endpoint_id>/redeliver", status_code=202,
             openapi_extensions=errors({400: ["event_not_enabled"]}))
def redeliver(endpoint_id: params.EndpointId, body: Annotated[Redeliver, params.Body()],
              merchant: CurrentMerchant) -> Response[Event]:
    """Deliver an event again

    That event to this endpoint again: the same body and `webhook-id` (signed afresh), with a new series
    of attempts. No Idempotency-Key: a repeat sends the same `webhook-id` again, which receivers deduplicate."""
    c = get_container()
    event = events.redeliver(c.endpoints, c.event_log, c.delivery_queue, merchant, endpoint_id, body.event_id)
    return accepted(202, Event.of(event), replayed=False)
