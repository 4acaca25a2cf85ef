"""Merchants with their API keys, and their webhook endpoints."""

from __future__ import annotations

from typing import Protocol

from paygate.domain.accounts import Merchant, WebhookEndpoint
from paygate.domain.providers.routing import Routing
from paygate.domain.webhooks import FailedDelivery
from paygate.services.ports.idempotency import IdempotencyRecord


class MerchantRepository(Protocol):
    def create(self, merchant: Merchant, key_hash: str) -> None: ...
    def by_key_hash(self, key_hash: str) -> Merchant | None: ...


class EndpointRepository(Protocol):
    def create(self, endpoint: WebhookEndpoint, key: IdempotencyRecord, now: int) -> None:
        """The endpoint and its idempotency key in one transaction; KeyAlreadyUsed when the key is taken."""
    def list(self, merchant_id: str) -> list[WebhookEndpoint]: ...
    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...
    def delete(self, merchant_id: str, endpoint_id: str) -> bool: ...
    def replace_secret(self, before: WebhookEndpoint, after: WebhookEndpoint) -> bool: ...
    def record_failure(self, merchant_id: str, failure: FailedDelivery) -> None: ...
    def failures(self, merchant_id: str, endpoint_id: str, limit: int) -> list[FailedDelivery]: ...


class RoutingRepository(Protocol):
    def get(self, merchant_id: str) -> Routing | None:
        """The merchant's routing, None until one was set."""
    def put(self, merchant_id: str, routing: Routing) -> None:
        """Replace the merchant's routing whole."""
