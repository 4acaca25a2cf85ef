"""Merchants with their API keys, and their webhook endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from paygate.domain.accounts import ApiKey, Merchant, WebhookEndpoint
from paygate.domain.providers.routing import Routing
from paygate.domain.webhooks import FailedDelivery
from paygate.services.ports.idempotency import IdempotencyRecord


@dataclass(frozen=True)
class KeyOwner:
    """What a request's API key says: its merchant, and the key (its id, when it was last used)."""

    merchant: Merchant
    key_hash: str
    key_id: str | None
    last_used_at: str | None


class LastKey(Exception):
    """The merchant's last API key: it cannot be revoked."""


class MerchantRepository(Protocol):
    def create(self, merchant: Merchant, key: ApiKey, key_hash: str) -> None: ...
    def merchant(self, merchant_id: str) -> Merchant | None: ...
    def by_key_hash(self, key_hash: str) -> Merchant | None: ...
    def owner(self, key_hash: str) -> KeyOwner | None: ...
    def add_key(self, merchant: Merchant, key: ApiKey, key_hash: str) -> None: ...
    def keys(self, merchant_id: str) -> list[ApiKey]: ...
    def revoke_key(self, merchant_id: str, key_id: str) -> bool:
        """False: no such key. LastKey: it is the merchant's last."""
    def touch_key(self, key_hash: str, at: str, unless_since: str) -> None:
        """Record a use at `at`, unless one was recorded after `unless_since`."""


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
