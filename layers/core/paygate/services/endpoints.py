"""Webhook endpoints: where a merchant receives its events, each with its own signing secret."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from paygate.domain.accounts import Merchant, WebhookEndpoint
from paygate.ids import epoch_seconds, new_id, utc_now
from paygate.schemas.requests import CreateWebhookEndpoint
from paygate.schemas.responses import failed_delivery_object, list_object, webhook_endpoint_object
from paygate.services.errors import InvalidRequest, NotFound
from paygate.services.idempotency import run_idempotent
from paygate.services.ports import (
    EndpointRepository,
    IdempotencyStore,
    StoredResponse,
    UrlGuard,
)


def new_secret() -> str:
    """`whsec_` + base64 of 24 random bytes: the Standard Webhooks secret format."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def create_endpoint(
    endpoints: EndpointRepository,
    idempotency: IdempotencyStore,
    guard: UrlGuard,
    *,
    merchant: Merchant,
    key: str,
    raw_body: Any,
    request: CreateWebhookEndpoint,
) -> StoredResponse:
    refused = guard.check(request.url)
    if refused:
        raise InvalidRequest(refused, param="url", code="url_invalid")

    def work(complete) -> StoredResponse:  # type: ignore[no-untyped-def]
        endpoint = WebhookEndpoint(
            id=new_id("we"), merchant_id=merchant.id, url=request.url, secret=new_secret(),
            enabled_events=tuple(request.enabled_events), created_at=utc_now(),
            description=request.description,
        )
        response = StoredResponse(201, webhook_endpoint_object(endpoint, include_secret=True))
        endpoints.create(endpoint, complete(response))
        return response

    return run_idempotent(
        idempotency, merchant_id=merchant.id, key=key, method="POST", path="/v1/webhook_endpoints",
        body=raw_body, now=epoch_seconds(), work=work,
    )


def list_endpoints(endpoints: EndpointRepository, merchant: Merchant) -> dict[str, Any]:
    data = [webhook_endpoint_object(e) for e in endpoints.list(merchant.id)]
    return list_object(data, False, "/v1/webhook_endpoints")


def delete_endpoint(endpoints: EndpointRepository, merchant: Merchant, endpoint_id: str) -> dict[str, Any]:
    if len(endpoint_id) > 64 or not endpoints.delete(merchant.id, endpoint_id):
        raise NotFound(f"no such webhook endpoint: {endpoint_id!r}", param="id")
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


def list_failed_deliveries(endpoints: EndpointRepository, merchant: Merchant, endpoint_id: str,
                           limit: int = 100) -> dict[str, Any]:
    """Webhooks this endpoint never acknowledged, newest first, each with the event as it was sent."""
    if len(endpoint_id) > 64 or endpoints.get(merchant.id, endpoint_id) is None:
        raise NotFound(f"no such webhook endpoint: {endpoint_id!r}", param="id")
    found = endpoints.failures(merchant.id, endpoint_id, limit + 1)
    data = [failed_delivery_object(f) for f in found[:limit]]
    return list_object(data, len(found) > limit, f"/v1/webhook_endpoints/{endpoint_id}/failed_deliveries")
