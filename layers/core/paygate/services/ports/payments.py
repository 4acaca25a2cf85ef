"""Payments: one record each, its events appended by conditional writes."""

from __future__ import annotations

from typing import Protocol, Sequence

from paygate.domain.payment import Payment, PaymentEvent
from paygate.services.ports.idempotency import IdempotencyRecord
from paygate.services.ports.records import EventMeta, Record

PaymentRecord = Record[Payment, PaymentEvent]


class PaymentRepository(Protocol):
    def create(self, record: PaymentRecord, key: IdempotencyRecord, now: int) -> None:
        """The payment and its idempotency key in one transaction; KeyAlreadyUsed when the key is taken."""
    def append(self, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
               meta: EventMeta) -> PaymentRecord:
        """Add `events` (which take `before.state` to `after`) in one write conditioned on the version
        `before` was read at; answers the record written. ConcurrencyConflict when the payment moved on."""
    def get(self, payment_id: str, *, consistent: bool = True) -> PaymentRecord | None: ...
    def list(self, merchant_id: str, *, limit: int, starting_after: Payment | None,
             status: str | None) -> tuple[list[Payment], bool]: ...
    def append_with_key(self, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
                        meta: EventMeta, key: IdempotencyRecord, now: int) -> PaymentRecord:
        """`append` and an idempotency key in one transaction; KeyAlreadyUsed when the key is taken."""
    def find_key(self, scope_key: str) -> IdempotencyRecord | None:
        """An idempotency key's record, if it was used (strongly consistent)."""
    def record_key(self, key: IdempotencyRecord, now: int) -> None:
        """An idempotency key alone, for a request that wrote nothing else; KeyAlreadyUsed when taken."""


class InProgress(Protocol):
    def in_progress_since(self, before: str, limit: int) -> list[str]:
        """Ids of payments PROCESSING (and reconciled) since before `before` (ISO time), oldest first."""
