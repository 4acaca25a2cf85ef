"""Customers, their notifications, and the order aggregate (seeds 002 and 004).

An order is paid from its customer's wallet through a transactional outbox and inbox: its first
event (`order.created`) carries the payment task (which wallet, which payment id to make), written in
the same write as the order; the payment side records the task once (one payment per order, whatever
the redeliveries) and the payment's outcome moves the order on: NEW -> FINISHED or CANCELED. One
table of allowed transitions, as for payments.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Mapping, Sequence

from paygate.domain.errors import InvalidTransition
from paygate.domain.money import Money
from paygate.domain.payment import Failure


@dataclass(frozen=True)
class Customer:
    id: str
    merchant_id: str
    name: str
    email: str | None
    wallet_id: str
    currency: str
    created_at: str


@dataclass(frozen=True)
class Notification:
    """What the customer was told."""

    id: str
    customer_id: str
    type: str  # the order event it tells of: order.finished | order.canceled
    order_id: str
    message: str
    created_at: str


class OrderStatus(StrEnum):
    NEW = "NEW"
    FINISHED = "FINISHED"
    CANCELED = "CANCELED"


TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.FINISHED, OrderStatus.CANCELED}),
    OrderStatus.FINISHED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
}


class OrderEventType(StrEnum):
    CREATED = "order.created"
    FINISHED = "order.finished"
    CANCELED = "order.canceled"


_EVENT_STATUS = {
    OrderEventType.CREATED: OrderStatus.NEW,
    OrderEventType.FINISHED: OrderStatus.FINISHED,
    OrderEventType.CANCELED: OrderStatus.CANCELED,
}


@dataclass(frozen=True)
class Order:
    id: str
    merchant_id: str
    customer_id: str
    wallet_id: str
    amount: int
    currency: str
    status: OrderStatus
    version: int
    created_at: str
    updated_at: str
    task_payment_id: str  # the payment the task makes (not shown until the order has its outcome)
    description: str | None = None
    payment_id: str | None = None
    failure: Failure | None = None

    @property
    def is_terminal(self) -> bool:
        return not TRANSITIONS[self.status]


@dataclass(frozen=True)
class Created:
    """order.created: the order and its payment task (which wallet, which payment id to make)."""

    merchant_id: str
    customer_id: str
    wallet_id: str
    amount: int
    currency: str
    description: str | None
    payment_id: str


@dataclass(frozen=True)
class Finished:
    payment_id: str


@dataclass(frozen=True)
class Canceled:
    failure: Failure
    payment_id: str | None = None


Payload = Created | Finished | Canceled

PAYLOADS: Mapping[OrderEventType, type[Any]] = {
    OrderEventType.CREATED: Created, OrderEventType.FINISHED: Finished, OrderEventType.CANCELED: Canceled,
}


@dataclass(frozen=True)
class OrderEvent:
    """An immutable fact about one order. `sequence` is 1, 2 ... per order."""

    event_id: str
    type: OrderEventType
    order_id: str
    sequence: int
    occurred_at: str
    payload: Payload


def open_order(*, order_id: str, event_id: str, merchant_id: str, customer: Customer, money: Money,
               payment_id: str, now: str, description: str | None = None) -> tuple[Order, OrderEvent]:
    """A new order (NEW, version 1) and its first event, which is the payment task."""
    payload = Created(merchant_id=merchant_id, customer_id=customer.id, wallet_id=customer.wallet_id,
                      amount=money.amount, currency=money.currency.code, description=description,
                      payment_id=payment_id)
    event = OrderEvent(event_id, OrderEventType.CREATED, order_id, 1, now, payload)
    return apply(None, event), event


def _next(order: Order, event_type: OrderEventType, event_id: str, now: str,
          payload: Payload) -> tuple[Order, OrderEvent]:
    target = _EVENT_STATUS[event_type]
    if target not in TRANSITIONS[order.status]:
        raise InvalidTransition(order.status, target)
    event = OrderEvent(event_id, event_type, order.id, order.version + 1, now, payload)
    return apply(order, event), event


def finish(order: Order, *, event_id: str, now: str, payment_id: str) -> tuple[Order, OrderEvent]:
    return _next(order, OrderEventType.FINISHED, event_id, now, Finished(payment_id))


def cancel(order: Order, *, event_id: str, now: str, code: str, message: str,
           payment_id: str | None = None) -> tuple[Order, OrderEvent]:
    return _next(order, OrderEventType.CANCELED, event_id, now, Canceled(Failure(code, message), payment_id))


def notification_message(order: Order, amount_display: str) -> str:
    """What the customer reads of an order's outcome."""
    if order.status == OrderStatus.FINISHED:
        return f"Your order {order.id} of {amount_display} was approved and paid from your wallet."
    reason = order.failure.message if order.failure else "it could not be paid"
    return f"Your order {order.id} of {amount_display} was declined: {reason}."


def apply(order: Order | None, event: OrderEvent) -> Order:
    p = event.payload
    if isinstance(p, Created):
        if order is not None:
            raise ValueError("order.created must be the first event")
        return Order(id=event.order_id, merchant_id=p.merchant_id, customer_id=p.customer_id,
                     wallet_id=p.wallet_id, amount=p.amount, currency=p.currency,
                     status=OrderStatus.NEW, version=event.sequence, created_at=event.occurred_at,
                     updated_at=event.occurred_at, task_payment_id=p.payment_id, description=p.description)
    if order is None:
        raise ValueError(f"{event.type} before order.created")
    if event.sequence != order.version + 1:
        raise ValueError(f"event {event.sequence} does not follow version {order.version}")
    return replace(order, status=_EVENT_STATUS[event.type], version=event.sequence, updated_at=event.occurred_at,
                   payment_id=p.payment_id or order.payment_id,
                   failure=p.failure if isinstance(p, Canceled) else order.failure)


def snapshots(events: Sequence[OrderEvent]) -> list[Order]:
    order: Order | None = None
    states: list[Order] = []
    for event in sorted(events, key=lambda e: e.sequence):
        order = apply(order, event)
        states.append(order)
    if not states:
        raise ValueError("no events")
    return states


def fold(events: Sequence[OrderEvent]) -> Order:
    return snapshots(events)[-1]
