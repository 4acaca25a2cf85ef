"""Orders (an event log each), the inbox of their payment tasks, and customers' notifications."""

from __future__ import annotations

from typing import Protocol, Sequence

from paygate.domain.order import Notification, Order, OrderEvent
from paygate.services.ports.idempotency import IdempotencyRecord
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.records import EventMeta, Record

OrderRecord = Record[Order, OrderEvent]


class OrderRepository(Protocol):
    def create(self, record: OrderRecord, key: IdempotencyRecord, now: int) -> None: ...
    def get(self, order_id: str, *, consistent: bool = True) -> OrderRecord | None: ...
    def for_customer(self, customer_id: str, *, limit: int, starting_after: Order | None) -> tuple[list[Order], bool]: ...
    def settle(self, before: OrderRecord, events: Sequence[OrderEvent], after: Order, meta: EventMeta,
               notification: Notification) -> OrderRecord:
        """The order's outcome and the customer's notification in one write; ConcurrencyConflict."""
    def record_task(self, order_id: str, payment: PaymentRecord) -> bool:
        """The inbox: the order's payment made, once. False when the task was recorded already."""
    def notifications(self, customer_id: str, *, limit: int) -> list[Notification]: ...
