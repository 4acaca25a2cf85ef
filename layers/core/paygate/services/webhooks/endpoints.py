"""Webhook endpoints: where a merchant receives its events, each with its own signing secret."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from paygate.domain.accounts import Merchant, WebhookEndpoint
from paygate.domain.webhooks import ROTATION_OVERLAP_SECONDS, FailedDelivery
from paygate.ids import new_id, utc_now
from paygate.schemas.requests import CreateWebhookEndpoint
from paygate.services.errors import IdempotencyKeyInUse, InvalidRequest, NotFound
from paygate.services.idempotency import IdempotentRequest
from paygate.services.ports.idempotency import KeyAlreadyUsed, KeyBusy
from paygate.services.ports.merchants import EndpointRepository
from paygate.services.ports.webhooks import UrlGuard


@dataclass(frozen=True)
class Created:
    endpoint: WebhookEndpoint
    replayed: bool = False


def new_secret() -> str:
    """`whsec_` + base64 of 24 random bytes: the Standard Webhooks secret format."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def create_endpoint(endpoints: EndpointRepository, guard: UrlGuard, *, merchant: Merchant,
                    request: IdempotentRequest, body: CreateWebhookEndpoint) -> Created:
    refused = guard.check(body.url)
    if refused:
        raise InvalidRequest(refused, param="url", code="url_invalid")
    endpoint = WebhookEndpoint(
        id=new_id("we"), merchant_id=merchant.id, url=body.url, secret=new_secret(),
        enabled_events=tuple(body.enabled_events), created_at=utc_now(), description=body.description,
    )
    try:
        endpoints.create(endpoint, request.record(endpoint.id), request.now)
    except KeyAlreadyUsed as used:
        first = endpoints.get(merchant.id, request.replay_of(used.existing))
        if first is None:
            raise NotFound("the webhook endpoint this Idempotency-Key created has been deleted since",
                           param="Idempotency-Key") from None
        return Created(first, replayed=True)
    except KeyBusy:
        raise IdempotencyKeyInUse(
            "a request with this Idempotency-Key is being processed right now; retry", param="Idempotency-Key"
        ) from None
    return Created(endpoint)


def list_endpoints(endpoints: EndpointRepository, merchant: Merchant) -> list[WebhookEndpoint]:
    return endpoints.list(merchant.id)


def delete_endpoint(endpoints: EndpointRepository, merchant: Merchant, endpoint_id: str) -> str:
    if len(endpoint_id) > 64 or not endpoints.delete(merchant.id, endpoint_id):
        raise NotFound(f"no such webhook endpoint: {endpoint_id!r}", param="id")
    return endpoint_id


def list_failed_deliveries(endpoints: EndpointRepository, merchant: Merchant, endpoint_id: str,
                           limit: int = 100) -> tuple[list[FailedDelivery], bool]:
    """Webhooks this endpoint never acknowledged, newest first, each with the event as it was sent."""
    if len(endpoint_id) > 64 or endpoints.get(merchant.id, endpoint_id) is None:
        raise NotFound(f"no such webhook endpoint: {endpoint_id!r}", param="id")
    found = endpoints.failures(merchant.id, endpoint_id, limit + 1)
    return found[:limit], len(found) > limit


def rotate_secret(endpoints: EndpointRepository, merchant: Merchant, endpoint_id: str, now: int) -> WebhookEndpoint:
    """A new signing secret; the one before keeps signing beside it for 24 hours (two `v1,`
    signatures), so receivers can switch without missing a webhook. A rotation during the overlap
    ends the older secret's overlap: only the last two secrets ever sign."""
    if len(endpoint_id) > 64:
        raise NotFound(f"no such webhook endpoint: {endpoint_id[:64]!r}", param="id")
    for _ in range(3):
        endpoint = endpoints.get(merchant.id, endpoint_id)
        if endpoint is None:
            raise NotFound(f"no such webhook endpoint: {endpoint_id!r}", param="id")
        rotated = endpoint.rotated(new_secret(), now, ROTATION_OVERLAP_SECONDS)
        if endpoints.replace_secret(endpoint, rotated):
            return rotated
    raise IdempotencyKeyInUse("the secret is being rotated by another request right now; retry",
                              code="rotation_in_progress")
