"""The refund aggregate and the arithmetic of reserving what a payment can still give back.

A refund is an object of its own with its event log (`sequence` 1, 2 ...): PENDING when accepted,
then SUCCEEDED or FAILED once the provider has answered. Its amount is reserved on the payment when it
is accepted, so accepted refunds never add up to more than was paid; a FAILED refund releases it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Mapping, Sequence

from paygate.domain.errors import AmountTooLarge, InvalidTransition
from paygate.domain.payment import Failure, Payment, PaymentStatus


class RefundStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


TRANSITIONS: dict[RefundStatus, frozenset[RefundStatus]] = {
    RefundStatus.PENDING: frozenset({RefundStatus.SUCCEEDED, RefundStatus.FAILED}),
    RefundStatus.SUCCEEDED: frozenset(),
    RefundStatus.FAILED: frozenset(),
}


class RefundEventType(StrEnum):
    CREATED = "refund.created"
    SUCCEEDED = "refund.succeeded"
    FAILED = "refund.failed"


_EVENT_STATUS = {
    RefundEventType.CREATED: RefundStatus.PENDING,
    RefundEventType.SUCCEEDED: RefundStatus.SUCCEEDED,
    RefundEventType.FAILED: RefundStatus.FAILED,
}


@dataclass(frozen=True)
class Refund:
    id: str
    payment_id: str
    merchant_id: str
    amount: int
    currency: str
    status: RefundStatus
    version: int
    created_at: str
    updated_at: str
    failure: Failure | None = None
    provider_refund_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        return not TRANSITIONS[self.status]


@dataclass(frozen=True)
class Created:
    """refund.created: what never changes."""

    payment_id: str
    merchant_id: str
    amount: int
    currency: str


@dataclass(frozen=True)
class Succeeded:
    provider_refund_id: str | None = None


@dataclass(frozen=True)
class Failed:
    failure: Failure


Payload = Created | Succeeded | Failed

PAYLOADS: Mapping[RefundEventType, type[Any]] = {
    RefundEventType.CREATED: Created, RefundEventType.SUCCEEDED: Succeeded, RefundEventType.FAILED: Failed,
}


@dataclass(frozen=True)
class RefundEvent:
    """An immutable fact about one refund. `sequence` is 1, 2 ... per refund."""

    event_id: str
    type: RefundEventType
    refund_id: str
    payment_id: str
    sequence: int
    occurred_at: str
    payload: Payload


# ------------------------------------------------------------------------------- reservation


def refundable(paid: int, reserved: int) -> int:
    """What is left to refund: what was paid less what accepted refunds (pending or succeeded) hold."""
    return max(paid - reserved, 0)


def refund_amount(paid: int, reserved: int, requested: int | None) -> int:
    """The amount a new refund reserves: `requested`, or all that is left; AmountTooLarge when that
    is more than is left (or nothing is)."""
    left = refundable(paid, reserved)
    amount = left if requested is None else requested
    if amount < 1 or amount > left:
        raise AmountTooLarge(requested, left)
    return amount


def reservation_ceiling(paid: int, amount: int) -> int:
    """The most that may be reserved already for a refund of `amount` to fit: the condition the
    accepting write puts on the payment, so that two refunds racing can never both fit when only
    one does."""
    return paid - amount


# ------------------------------------------------------------------------------- transitions


def open_refund(*, refund_id: str, event_id: str, payment: Payment, amount: int,
                now: str) -> tuple[Refund, RefundEvent]:
    """A new refund (PENDING, version 1) of a COMPLETED payment, and its first event."""
    if payment.status != PaymentStatus.COMPLETED:
        raise InvalidTransition(payment.status, "REFUNDED")
    refund_amount(payment.amount, 0, amount)  # never more than the payment itself
    payload = Created(payment.id, payment.merchant_id, amount, payment.currency)
    event = RefundEvent(event_id, RefundEventType.CREATED, refund_id, payment.id, 1, now, payload)
    return fold([event]), event


def _next(refund: Refund, event_type: RefundEventType, event_id: str, now: str,
          payload: Payload) -> tuple[Refund, RefundEvent]:
    target = _EVENT_STATUS[event_type]
    if target not in TRANSITIONS[refund.status]:
        raise InvalidTransition(refund.status, target)
    event = RefundEvent(event_id, event_type, refund.id, refund.payment_id, refund.version + 1, now, payload)
    return apply(refund, event), event


def succeed(refund: Refund, *, event_id: str, now: str, provider_refund_id: str | None) -> tuple[Refund, RefundEvent]:
    return _next(refund, RefundEventType.SUCCEEDED, event_id, now, Succeeded(provider_refund_id))


def fail(refund: Refund, *, event_id: str, now: str, code: str, message: str) -> tuple[Refund, RefundEvent]:
    return _next(refund, RefundEventType.FAILED, event_id, now, Failed(Failure(code, message)))


def apply(refund: Refund | None, event: RefundEvent) -> Refund:
    p = event.payload
    if isinstance(p, Created):
        if refund is not None:
            raise ValueError("refund.created must be the first event")
        return Refund(id=event.refund_id, payment_id=p.payment_id, merchant_id=p.merchant_id,
                      amount=p.amount, currency=p.currency, status=RefundStatus.PENDING,
                      version=event.sequence, created_at=event.occurred_at, updated_at=event.occurred_at)
    if refund is None:
        raise ValueError(f"{event.type} before refund.created")
    if event.sequence != refund.version + 1:
        raise ValueError(f"event {event.sequence} does not follow version {refund.version}")
    changes: dict[str, Any] = {"status": _EVENT_STATUS[event.type], "version": event.sequence,
                               "updated_at": event.occurred_at}
    if isinstance(p, Succeeded) and p.provider_refund_id:
        changes["provider_refund_id"] = p.provider_refund_id
    if isinstance(p, Failed):
        changes["failure"] = p.failure
    return replace(refund, **changes)


def fold(events: Sequence[RefundEvent]) -> Refund:
    return snapshots(events)[-1]


def snapshots(events: Sequence[RefundEvent]) -> list[Refund]:
    refund: Refund | None = None
    states: list[Refund] = []
    for event in sorted(events, key=lambda e: e.sequence):
        refund = apply(refund, event)
        states.append(refund)
    if not states:
        raise ValueError("no events")
    return states
