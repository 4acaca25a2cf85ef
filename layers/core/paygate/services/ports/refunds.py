"""Refunds: one record each beside their payment, and the reservation they hold on it."""

from __future__ import annotations

from typing import Protocol, Sequence

from paygate.domain.payment import Payment, PaymentEvent
from paygate.domain.refund import Refund, RefundEvent
from paygate.services.ports.idempotency import IdempotencyRecord
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.records import EventMeta, Record

RefundRecord = Record[Refund, RefundEvent]


class ReservationRefused(Exception):
    """The accepting write's condition on the payment failed: it is not COMPLETED (any more), or
    what is reserved already leaves too little for this refund. Nothing was written."""


class RefundRepository(Protocol):
    def create(self, record: RefundRecord, key: IdempotencyRecord, now: int, *, payment_amount: int) -> None:
        """The refund, its idempotency key and the reservation of its amount on its payment, in one
        transaction. KeyAlreadyUsed when the key is taken, ReservationRefused when the payment is not
        COMPLETED or cannot hold the amount any more, KeyBusy when it kept colliding."""
    def settle(self, before: RefundRecord, events: Sequence[RefundEvent], after: Refund, meta: EventMeta, *,
               payment: PaymentRecord | None = None, payment_events: Sequence[PaymentEvent] = (),
               payment_after: Payment | None = None, release: int = 0) -> RefundRecord:
        """The refund's outcome in one transaction with its payment's side: the payment's events
        (conditioned on its version) and/or the release of a reservation. ConcurrencyConflict when the
        refund or the payment moved on."""
    def get(self, refund_id: str, *, consistent: bool = True) -> RefundRecord | None: ...
    def for_payment(self, payment_id: str) -> list[Refund]:
        """The payment's refunds, newest first."""
    def reserved(self, payment_id: str) -> int:
        """What accepted refunds (pending or succeeded) hold of the payment (strongly consistent)."""
