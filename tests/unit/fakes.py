"""In-memory fakes of the ports: the same contracts as the DynamoDB/SQS/HTTP adapters, no sockets."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

from paygate.domain.accounts import Merchant, WebhookEndpoint
from paygate.domain.payment import Payment, PaymentEvent
from paygate.schemas.messages import WebhookDelivery
from paygate.services.ports import (
    ChargeResult,
    ConcurrencyConflict,
    DeliveryError,
    EventMeta,
    IdempotencyRecord,
    KeyAlreadyUsed,
    OutboundMessage,
    PaymentChange,
    PaymentRecord,
    ProviderUnavailable,
)


class FakeKeys:
    """The idempotency table: a key is taken unless it was never used or has expired."""

    def __init__(self) -> None:
        self.items: dict[str, IdempotencyRecord] = {}

    def take(self, key: IdempotencyRecord, now: int) -> None:
        existing = self.items.get(key.scope_key)
        if existing is not None and existing.expires_at >= now:
            raise KeyAlreadyUsed(existing)
        self.items[key.scope_key] = key


class FakeMerchants:
    def __init__(self) -> None:
        self.by_hash: dict[str, Merchant] = {}

    def create(self, merchant: Merchant, key_hash: str) -> None:
        self.by_hash[key_hash] = merchant

    def by_key_hash(self, key_hash: str) -> Merchant | None:
        return self.by_hash.get(key_hash)


class FakeEndpoints:
    def __init__(self, keys: FakeKeys | None = None) -> None:
        self.items: dict[tuple[str, str], WebhookEndpoint] = {}
        self.failed: dict[tuple[str, str], list[Any]] = {}
        self.keys = keys or FakeKeys()
        self.reads = 0

    def create(self, endpoint: WebhookEndpoint, key: IdempotencyRecord, now: int) -> None:
        self.keys.take(key, now)
        self.items[(endpoint.merchant_id, endpoint.id)] = endpoint

    def add(self, endpoint: WebhookEndpoint) -> None:
        self.items[(endpoint.merchant_id, endpoint.id)] = endpoint

    def list(self, merchant_id: str) -> list[WebhookEndpoint]:
        self.reads += 1
        return [e for (m, _), e in sorted(self.items.items()) if m == merchant_id]

    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        self.reads += 1
        return self.items.get((merchant_id, endpoint_id))

    def delete(self, merchant_id: str, endpoint_id: str) -> bool:
        return self.items.pop((merchant_id, endpoint_id), None) is not None

    def record_failure(self, merchant_id: str, failure: Any) -> None:
        self.failed.setdefault((merchant_id, failure.endpoint_id), []).append(failure)

    def failures(self, merchant_id: str, endpoint_id: str, limit: int) -> list[Any]:
        return sorted(self.failed.get((merchant_id, endpoint_id), []), key=lambda f: f.failed_at,
                      reverse=True)[:limit]


class FakeEventLog:
    """Events by merchant and attempts by endpoint, newest (highest id) first, as the events table."""

    def __init__(self, fail_events: bool = False, fail_attempts: bool = False) -> None:
        self.events_by: dict[str, dict[str, dict[str, Any]]] = {}
        self.attempts_by: dict[str, dict[str, Any]] = {}
        self.fail_events, self.fail_attempts = fail_events, fail_attempts
        self.writes = 0

    def record_events(self, merchant_id: str, events: Any) -> None:
        if self.fail_events:
            raise RuntimeError("events table unavailable")
        self.writes += 1
        for e in events:
            self.events_by.setdefault(merchant_id, {})[e["id"]] = e

    def record_attempts(self, merchant_id: str, attempts: Any) -> None:
        if self.fail_attempts:
            raise RuntimeError("events table unavailable")
        self.writes += 1
        for a in attempts:
            self.attempts_by.setdefault(a.endpoint_id, {})[a.id] = a

    def event(self, merchant_id: str, event_id: str) -> dict[str, Any] | None:
        return self.events_by.get(merchant_id, {}).get(event_id)

    @staticmethod
    def _page(by_id: dict[str, Any], limit: int, starting_after: str | None) -> tuple[list[Any], bool]:
        ids = sorted((i for i in by_id if starting_after is None or i < starting_after), reverse=True)
        return [by_id[i] for i in ids[:limit]], len(ids) > limit

    def events(self, merchant_id: str, *, event_type: str | None, limit: int,
               starting_after: str | None) -> tuple[list[dict[str, Any]], bool]:
        mine = {i: e for i, e in self.events_by.get(merchant_id, {}).items()
                if event_type is None or e["type"] == event_type}
        return self._page(mine, limit, starting_after)

    def attempts(self, endpoint_id: str, *, limit: int, starting_after: str | None) -> tuple[list[Any], bool]:
        return self._page(self.attempts_by.get(endpoint_id, {}), limit, starting_after)


class FakePayments:
    """Payments by id, each a record of its events; `changes` is what the table's stream would carry."""

    def __init__(self, keys: FakeKeys | None = None) -> None:
        self.records: dict[str, PaymentRecord] = {}
        self.keys = keys or FakeKeys()
        self.changes: list[PaymentChange] = []
        self.writes = 0
        self.lock = threading.Lock()

    def _changed(self, previous_version: int, record: PaymentRecord) -> None:
        self.records[record.payment.id] = record
        self.changes.append(PaymentChange(str(len(self.changes) + 1), previous_version, record))
        self.writes += 1

    def create(self, record: PaymentRecord, key: IdempotencyRecord, now: int) -> None:
        with self.lock:
            assert record.payment.id not in self.records
            self.keys.take(key, now)
            self._changed(0, record)

    def append(self, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
               meta: EventMeta) -> PaymentRecord:
        version = before.payment.version
        with self.lock:
            current = self.records.get(after.id)
            if current is None or current.payment.version != version:
                raise ConcurrencyConflict(after.id)
            assert [e.sequence for e in events] == list(range(version + 1, after.version + 1))
            written = before.then(events, after, meta.traceparent)
            self._changed(version, written)
            return written

    def get(self, payment_id: str, *, consistent: bool = True) -> PaymentRecord | None:
        return self.records.get(payment_id)

    def payment(self, payment_id: str) -> Payment:
        return self.records[payment_id].payment

    def list(self, merchant_id: str, *, limit: int, starting_after: Payment | None,
             status: str | None) -> tuple[list[Payment], bool]:
        mine = sorted((r.payment for r in self.records.values() if r.payment.merchant_id == merchant_id),
                      key=lambda p: (p.created_at, p.id), reverse=True)
        if starting_after is not None:
            mine = [p for p in mine if (p.created_at, p.id) < (starting_after.created_at, starting_after.id)]
        if status:
            mine = [p for p in mine if p.status == status]
        return mine[:limit], len(mine) > limit


class FakeDecoder:
    """Stands for the stream decoder: the 'records' handed to the relay are PaymentChanges already."""

    def changes(self, records: Sequence[Any]) -> list[PaymentChange]:
        return list(records)


@dataclass
class FakePublisher:
    sent: dict[str, list[OutboundMessage]] = field(default_factory=dict)
    requests: int = 0
    fail_on: set[str] = field(default_factory=set)  # queue urls that refuse

    def publish(self, queue_url: str, messages: Sequence[OutboundMessage]) -> None:
        if queue_url in self.fail_on:
            raise RuntimeError(f"{queue_url} refused")
        assert len(messages) <= 10
        self.requests += 1
        self.sent.setdefault(queue_url, []).extend(messages)


@dataclass
class FakeDeliveryQueue:
    scheduled: list[tuple[WebhookDelivery, int]] = field(default_factory=list)
    dead: list[WebhookDelivery] = field(default_factory=list)
    held: list[tuple[str, int]] = field(default_factory=list)
    refuse: bool = False

    def schedule(self, deliveries: Sequence[tuple[WebhookDelivery, int]]) -> None:
        if self.refuse:
            raise RuntimeError("SQS unavailable")
        self.scheduled += deliveries

    def dead_letter(self, deliveries: Sequence[WebhookDelivery]) -> None:
        if self.refuse:
            raise RuntimeError("SQS unavailable")
        self.dead += deliveries

    def hold(self, receipt_handle: str, seconds: int) -> None:
        self.held.append((receipt_handle, seconds))


class ScriptedProvider:
    """Answers per call from a script: a ChargeResult, or an exception to raise."""

    found: ChargeResult | None = None

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


def unavailable() -> ProviderUnavailable:
    return ProviderUnavailable("HTTP 503")


class RecordingTransport:
    """Answers each POST by URL from a script of statuses (None: no answer); records every POST."""

    def __init__(self, *statuses: int | None, by_url: dict[str, Any] | None = None) -> None:
        self.statuses = list(statuses)
        self.by_url = by_url or {}
        self.posts: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> int:
        with self.lock:
            self.posts.append((url, body, headers))
            answer = self.by_url.get(url)
            if answer is None:
                answer = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        status = answer(body) if callable(answer) else answer  # outside the lock: it may block
        if status is None:
            raise DeliveryError("timed out")
        return status


class AllowAll:
    def check(self, url: str) -> str | None:
        return None
