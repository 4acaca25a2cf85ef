"""In-memory fakes of the ports: the same contracts as the DynamoDB/SQS/HTTP adapters, no sockets."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

from paygate.domain.accounts import Merchant, WebhookEndpoint
from paygate.domain.payment import Payment, PaymentEvent
from paygate.schemas.responses import payment_object
from paygate.services.ports import (
    ChargeResult,
    Claimed,
    ClaimResult,
    ConcurrencyConflict,
    DeliveryError,
    EventMeta,
    IdempotencyCompletion,
    InProgress,
    Mismatch,
    OutboundMessage,
    ProviderUnavailable,
    Replay,
    StoredEvent,
)


class FakeIdempotency:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def claim(self, scope_key: str, fingerprint: str, lock_id: str, now: int) -> ClaimResult:
        with self.lock:
            item = self.items.get(scope_key)
            if item is None or (item["state"] == "IN_PROGRESS" and item["locked_until"] < now):
                self.items[scope_key] = {"state": "IN_PROGRESS", "fingerprint": fingerprint,
                                         "lock_id": lock_id, "locked_until": now + 30}
                return Claimed(lock_id)
            if item["fingerprint"] != fingerprint:
                return Mismatch()
            if item["state"] == "COMPLETED":
                return Replay(item["response"])
            return InProgress()

    def release(self, scope_key: str, lock_id: str) -> None:
        with self.lock:
            item = self.items.get(scope_key, {})
            if item.get("lock_id") == lock_id and item.get("state") == "IN_PROGRESS":
                del self.items[scope_key]

    def complete(self, completion: IdempotencyCompletion) -> None:
        item = self.items[completion.scope_key]
        assert item["lock_id"] == completion.lock_id, "completion by a request that lost the key"
        item.update(state="COMPLETED", response=completion.response)


class FakeMerchants:
    def __init__(self) -> None:
        self.by_hash: dict[str, Merchant] = {}

    def create(self, merchant: Merchant, key_hash: str) -> None:
        self.by_hash[key_hash] = merchant

    def by_key_hash(self, key_hash: str) -> Merchant | None:
        return self.by_hash.get(key_hash)


class FakeEndpoints:
    def __init__(self, idempotency: FakeIdempotency | None = None) -> None:
        self.items: dict[tuple[str, str], WebhookEndpoint] = {}
        self.failed: dict[tuple[str, str], list[Any]] = {}
        self.idempotency = idempotency or FakeIdempotency()

    def create(self, endpoint: WebhookEndpoint, completion: IdempotencyCompletion) -> None:
        self.idempotency.complete(completion)
        self.items[(endpoint.merchant_id, endpoint.id)] = endpoint

    def add(self, endpoint: WebhookEndpoint) -> None:
        self.items[(endpoint.merchant_id, endpoint.id)] = endpoint

    def list(self, merchant_id: str) -> list[WebhookEndpoint]:
        return [e for (m, _), e in sorted(self.items.items()) if m == merchant_id]

    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return self.items.get((merchant_id, endpoint_id))

    def delete(self, merchant_id: str, endpoint_id: str) -> bool:
        return self.items.pop((merchant_id, endpoint_id), None) is not None

    def record_failure(self, merchant_id: str, failure: Any) -> None:
        self.failed.setdefault((merchant_id, failure.endpoint_id), []).append(failure)

    def failures(self, merchant_id: str, endpoint_id: str, limit: int) -> list[Any]:
        return sorted(self.failed.get((merchant_id, endpoint_id), []), key=lambda f: f.failed_at,
                      reverse=True)[:limit]


class FakePayments:
    def __init__(self, idempotency: FakeIdempotency | None = None) -> None:
        self.states: dict[str, Payment] = {}
        self.history: dict[str, list[StoredEvent]] = {}
        self.idempotency = idempotency or FakeIdempotency()
        self.lock = threading.Lock()

    def _event(self, payment: Payment, event: PaymentEvent, meta: EventMeta) -> None:
        self.history.setdefault(payment.id, []).append(
            StoredEvent(event, payment.merchant_id, payment_object(payment), meta))

    def create(self, payment: Payment, event: PaymentEvent, meta: EventMeta,
               completion: IdempotencyCompletion) -> None:
        with self.lock:
            assert payment.id not in self.states
            self.idempotency.complete(completion)
            self.states[payment.id] = payment
            self._event(payment, event, meta)

    def append(self, payment: Payment, event: PaymentEvent, meta: EventMeta) -> None:
        with self.lock:
            current = self.states.get(payment.id)
            if current is None or current.version != payment.version - 1:
                raise ConcurrencyConflict(payment.id)
            self.states[payment.id] = payment
            self._event(payment, event, meta)

    def get(self, payment_id: str) -> Payment | None:
        return self.states.get(payment_id)

    def list(self, merchant_id: str, *, limit: int, starting_after: Payment | None,
             status: str | None) -> tuple[list[Payment], bool]:
        mine = sorted((p for p in self.states.values() if p.merchant_id == merchant_id),
                      key=lambda p: (p.created_at, p.id), reverse=True)
        if starting_after is not None:
            mine = [p for p in mine if (p.created_at, p.id) < (starting_after.created_at, starting_after.id)]
        if status:
            mine = [p for p in mine if p.status == status]
        return mine[:limit], len(mine) > limit

    def events(self, payment_id: str) -> list[StoredEvent]:
        return list(self.history.get(payment_id, []))


@dataclass
class FakePublisher:
    sent: dict[str, list[OutboundMessage]] = field(default_factory=dict)

    def publish(self, queue_url: str, messages: Sequence[OutboundMessage]) -> None:
        self.sent.setdefault(queue_url, []).extend(messages)


class ScriptedProvider:
    """Answers per call from a script: a ChargeResult, or an exception to raise."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    def charge(self, **kwargs: Any) -> ChargeResult:
        self.calls.append(kwargs)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


    def find_charge(self, reference: str) -> ChargeResult | None:
        return self.found

    found: ChargeResult | None = None


def unavailable() -> ProviderUnavailable:
    return ProviderUnavailable("HTTP 503")


class RecordingTransport:
    def __init__(self, *statuses: int | None) -> None:
        self.statuses = list(statuses)
        self.posts: list[tuple[str, str, dict[str, str]]] = []

    def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> int:
        self.posts.append((url, body, headers))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if status is None:
            raise DeliveryError("timed out")
        return status


class AllowAll:
    def check(self, url: str) -> str | None:
        return None
