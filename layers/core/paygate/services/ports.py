"""The ports the services need. Adapters implement them for AWS; tests hand in in-memory fakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from paygate.domain.accounts import Merchant, WebhookEndpoint
from paygate.domain.payment import Payment, PaymentEvent
from paygate.domain.webhooks import FailedDelivery


class ConcurrencyConflict(Exception):
    """Another writer changed the aggregate first (its version moved on)."""


@dataclass(frozen=True)
class EventMeta:
    """Carried with every event item and message, so one payment is one trace and one correlation id."""

    traceparent: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IdempotencyCompletion:
    """Marks a claimed key completed with its response; written in the same transaction as the work."""

    scope_key: str
    lock_id: str
    response: StoredResponse


@dataclass(frozen=True)
class Claimed:
    lock_id: str


@dataclass(frozen=True)
class Replay:
    response: StoredResponse


@dataclass(frozen=True)
class Mismatch:
    pass


@dataclass(frozen=True)
class InProgress:
    pass


ClaimResult = Claimed | Replay | Mismatch | InProgress


class IdempotencyStore(Protocol):
    def claim(self, scope_key: str, fingerprint: str, lock_id: str, now: int) -> ClaimResult: ...
    def release(self, scope_key: str, lock_id: str) -> None: ...


class MerchantRepository(Protocol):
    def create(self, merchant: Merchant, key_hash: str) -> None: ...
    def by_key_hash(self, key_hash: str) -> Merchant | None: ...


class EndpointRepository(Protocol):
    def create(self, endpoint: WebhookEndpoint, completion: IdempotencyCompletion) -> None: ...
    def list(self, merchant_id: str) -> list[WebhookEndpoint]: ...
    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...
    def delete(self, merchant_id: str, endpoint_id: str) -> bool: ...
    def record_failure(self, merchant_id: str, failure: FailedDelivery) -> None: ...
    def failures(self, merchant_id: str, endpoint_id: str, limit: int) -> list[FailedDelivery]: ...


@dataclass(frozen=True)
class StoredEvent:
    """An event item as the outbox holds it: the event, the payment after it, and its metadata."""

    event: PaymentEvent
    merchant_id: str
    snapshot: dict[str, Any]
    meta: EventMeta


class PaymentRepository(Protocol):
    def create(self, payment: Payment, event: PaymentEvent, meta: EventMeta,
               completion: IdempotencyCompletion) -> None: ...
    def append(self, payment: Payment, event: PaymentEvent, meta: EventMeta) -> None:
        """Write the new state (conditioned on the previous version) and its event, atomically."""
    def get(self, payment_id: str) -> Payment | None: ...
    def list(self, merchant_id: str, *, limit: int, starting_after: Payment | None,
             status: str | None) -> tuple[list[Payment], bool]: ...
    def events(self, payment_id: str) -> list[StoredEvent]: ...


@dataclass(frozen=True)
class OutboundMessage:
    body: dict[str, Any]
    group_id: str
    deduplication_id: str
    attributes: dict[str, str] = field(default_factory=dict)


class Publisher(Protocol):
    def publish(self, queue_url: str, messages: Sequence[OutboundMessage]) -> None: ...


class QueueControl(Protocol):
    def retry_after(self, queue_url: str, receipt_handle: str, seconds: int) -> None: ...


@dataclass(frozen=True)
class ChargeResult:
    status: str  # succeeded | declined | pending
    charge_id: str | None
    decline_code: str | None = None


class ProviderUnavailable(Exception):
    """A transient fault: 5xx, timeout, refused connection. Safe to retry with the same key."""


class ProviderRejected(Exception):
    """The provider refused the request itself (4xx): retrying will not help."""


class PaymentProvider(Protocol):
    def charge(self, *, reference: str, amount: int, currency: str, token: str,
               idempotency_key: str) -> ChargeResult: ...
    def find_charge(self, reference: str) -> ChargeResult | None:
        """The charge that took money for this reference (else a pending one, else None)."""


class WebhookTransport(Protocol):
    def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> int:
        """POST and answer the status code; raise OSError-like errors (DeliveryError) on no answer."""


class DeliveryError(Exception):
    pass


class UrlGuard(Protocol):
    def check(self, url: str) -> str | None:
        """None when the URL may receive webhooks, else why not."""
