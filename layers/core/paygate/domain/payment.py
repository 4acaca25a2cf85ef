"""The payment aggregate: one table of allowed transitions, events, and folding events into state.

Every change is an event; the state is the fold of its events, so the event history rebuilds every
payment. The domain decides and records; it never reads a clock or makes an id (both are passed in).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Mapping, Sequence

from paygate.domain.errors import InvalidAmount, InvalidTransition
from paygate.domain.methods import Destination, PaymentMethod
from paygate.domain.money import Money


class PaymentStatus(StrEnum):
    NEW = "NEW"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


# The one table that decides. Nothing else may change a payment's status.
TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.NEW: frozenset({PaymentStatus.PROCESSING, PaymentStatus.CANCELED}),
    PaymentStatus.PROCESSING: frozenset(
        {PaymentStatus.COMPLETED, PaymentStatus.FAILED, PaymentStatus.CANCELED}
    ),
    PaymentStatus.COMPLETED: frozenset(),
    PaymentStatus.FAILED: frozenset(),
    PaymentStatus.CANCELED: frozenset(),
}

TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


def can_transition(current: PaymentStatus, target: PaymentStatus) -> bool:
    return target in TRANSITIONS[current]


class EventType(StrEnum):
    CREATED = "payment.created"
    PROCESSING = "payment.processing"
    COMPLETED = "payment.completed"
    FAILED = "payment.failed"
    CANCELED = "payment.canceled"
    # The merchant asked to cancel; the status does not change until the cancel command has asked
    # the provider (a charge already taken ends COMPLETED, a pending one is voided, then CANCELED).
    CANCEL_REQUESTED = "payment.cancel_requested"
    # A refund of the payment succeeded: `amount_refunded` grows by its amount.
    REFUNDED = "payment.refunded"
    # A provider was unavailable (it took no charge): the payment goes on at the next provider of its
    # route, as a new attempt with its own reference. The status does not change.
    ATTEMPT_FAILED = "payment.attempt_failed"


# Which status each event leaves the payment in (events not listed leave it as it is).
_EVENT_STATUS = {
    EventType.CREATED: PaymentStatus.NEW,
    EventType.PROCESSING: PaymentStatus.PROCESSING,
    EventType.COMPLETED: PaymentStatus.COMPLETED,
    EventType.FAILED: PaymentStatus.FAILED,
    EventType.CANCELED: PaymentStatus.CANCELED,
}


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


@dataclass(frozen=True)
class Attempt:
    """One try at one provider, under its own reference (the provider's idempotency key)."""

    provider: str
    reference: str
    status: str  # pending | succeeded | failed
    failure: Failure | None
    at: str


@dataclass(frozen=True)
class Payment:
    id: str
    merchant_id: str
    amount: int
    currency: str
    payment_method: PaymentMethod
    status: PaymentStatus
    version: int
    created_at: str
    updated_at: str
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    customer_id: str | None = None
    destination: Destination | None = None
    failure: Failure | None = None
    amount_refunded: int = 0
    provider_charge_id: str | None = None
    cancel_requested: bool = False
    order_id: str | None = None  # the order this payment pays (made by the order's payment task)
    # A wallet payment's hold: "placed" (with PROCESSING), then "captured" or "released" (with the
    # outcome). The ledger keeps the money; the payment's events say what became of it.
    hold: str | None = None
    # A card payment's providers in order of preference (the merchant's routing, when it was created),
    # its attempts, and the provider holding its charge (None when none does).
    route: tuple[str, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    provider: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


# ------------------------------------------------------------------------- what each event says


@dataclass(frozen=True)
class Created:
    """payment.created: everything that never changes."""

    merchant_id: str
    amount: int
    currency: str
    payment_method: PaymentMethod
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    customer_id: str | None = None
    destination: Destination | None = None
    order_id: str | None = None
    route: tuple[str, ...] = ()


@dataclass(frozen=True)
class Processing:
    """payment.processing (with a wallet payment's hold placed, or the card's attempt under way)."""

    hold: str | None = None
    provider: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Completed:
    provider_charge_id: str | None = None
    hold: str | None = None
    provider: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Failed:
    failure: Failure
    provider_charge_id: str | None = None
    hold: str | None = None
    provider: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class AttemptFailed:
    """payment.attempt_failed: `provider` was unavailable for the attempt `reference`; it took no charge."""

    provider: str
    failure: Failure
    reference: str | None = None  # None: the payment id (the first attempt's)


@dataclass(frozen=True)
class Canceled:
    hold: str | None = None


@dataclass(frozen=True)
class CancelRequested:
    pass


@dataclass(frozen=True)
class Refunded:
    """payment.refunded: a refund of the payment succeeded."""

    refund_id: str
    amount: int


Payload = Created | Processing | Completed | Failed | Canceled | CancelRequested | Refunded | AttemptFailed

# The payload each event type carries (the stored log is read back through this).
PAYLOADS: Mapping[EventType, type[Any]] = {
    EventType.CREATED: Created, EventType.PROCESSING: Processing, EventType.COMPLETED: Completed,
    EventType.FAILED: Failed, EventType.CANCELED: Canceled, EventType.CANCEL_REQUESTED: CancelRequested,
    EventType.REFUNDED: Refunded, EventType.ATTEMPT_FAILED: AttemptFailed,
}


@dataclass(frozen=True)
class PaymentEvent:
    """An immutable fact about one payment. `sequence` is 1, 2, 3 ... per payment."""

    event_id: str
    type: EventType
    payment_id: str
    sequence: int
    occurred_at: str
    payload: Payload


def open_payment(
    *,
    payment_id: str,
    event_id: str,
    merchant_id: str,
    money: Money,
    payment_method: PaymentMethod,
    now: str,
    description: str | None = None,
    metadata: Mapping[str, str] | None = None,
    customer_id: str | None = None,
    destination: Destination | None = None,
    order_id: str | None = None,
    route: tuple[str, ...] = (),
) -> tuple[Payment, PaymentEvent]:
    """A new payment (NEW, version 1) and its first event."""
    payload = Created(merchant_id=merchant_id, amount=money.amount, currency=money.currency.code,
                      payment_method=payment_method, description=description, metadata=dict(metadata or {}),
                      customer_id=customer_id, destination=destination, order_id=order_id, route=tuple(route))
    event = PaymentEvent(event_id, EventType.CREATED, payment_id, 1, now, payload)
    return fold([event]), event


def _next(payment: Payment, event_type: EventType, event_id: str, now: str,
          payload: Payload) -> tuple[Payment, PaymentEvent]:
    target = _EVENT_STATUS[event_type]
    if not can_transition(payment.status, target):
        raise InvalidTransition(payment.status, target)
    event = PaymentEvent(event_id, event_type, payment.id, payment.version + 1, now, payload)
    return apply(payment, event), event


def _attempt(payment: Payment, attempt: tuple[str, str] | None) -> tuple[str | None, str | None]:
    """An attempt as events store it: the first attempt's reference (the payment id) left out."""
    provider, reference = attempt or (None, None)
    return provider, _stored(payment, reference)


def _stored(payment: Payment, reference: str | None) -> str | None:
    return None if reference == payment.id else reference


def start_processing(payment: Payment, *, event_id: str, now: str, hold: str | None = None,
                     attempt: tuple[str, str] | None = None) -> tuple[Payment, PaymentEvent]:
    provider, reference = _attempt(payment, attempt)
    return _next(payment, EventType.PROCESSING, event_id, now, Processing(hold, provider, reference))


def complete(payment: Payment, *, event_id: str, now: str, charge_id: str | None,
             hold: str | None = None, attempt: tuple[str, str] | None = None) -> tuple[Payment, PaymentEvent]:
    provider, reference = _attempt(payment, attempt)
    return _next(payment, EventType.COMPLETED, event_id, now, Completed(charge_id, hold, provider, reference))


def fail(
    payment: Payment, *, event_id: str, now: str, code: str, message: str, charge_id: str | None = None,
    hold: str | None = None, attempt: tuple[str, str] | None = None,
) -> tuple[Payment, PaymentEvent]:
    provider, reference = _attempt(payment, attempt)
    return _next(payment, EventType.FAILED, event_id, now,
                 Failed(Failure(code, message), charge_id, hold, provider, reference))


def fail_attempt(payment: Payment, *, event_id: str, now: str, provider: str, reference: str, code: str,
                 message: str) -> tuple[Payment, PaymentEvent]:
    """The attempt at `provider` ended with no charge (the provider was unavailable): the next attempt
    goes to the next provider of the route. Only while PROCESSING."""
    if payment.status != PaymentStatus.PROCESSING:
        raise InvalidTransition(payment.status, PaymentStatus.PROCESSING)
    event = PaymentEvent(event_id, EventType.ATTEMPT_FAILED, payment.id, payment.version + 1, now,
                         AttemptFailed(provider, Failure(code, message), _stored(payment, reference)))
    return apply(payment, event), event


def cancel(payment: Payment, *, event_id: str, now: str, hold: str | None = None) -> tuple[Payment, PaymentEvent]:
    return _next(payment, EventType.CANCELED, event_id, now, Canceled(hold))


def request_cancel(payment: Payment, *, event_id: str, now: str) -> tuple[Payment, PaymentEvent]:
    """The merchant's cancel, recorded; the cancel command then settles it with the provider.
    A terminal payment cannot be canceled; asking twice is the caller's no-op (check `cancel_requested`)."""
    if payment.is_terminal:
        raise InvalidTransition(payment.status, PaymentStatus.CANCELED)
    event = PaymentEvent(event_id, EventType.CANCEL_REQUESTED, payment.id, payment.version + 1, now, CancelRequested())
    return apply(payment, event), event


def record_refund(payment: Payment, *, event_id: str, now: str, refund_id: str,
                  amount: int) -> tuple[Payment, PaymentEvent]:
    """A refund of this payment succeeded. Never more than was paid in total."""
    if payment.status != PaymentStatus.COMPLETED:
        raise InvalidTransition(payment.status, PaymentStatus.COMPLETED)
    if amount < 1 or payment.amount_refunded + amount > payment.amount:
        raise InvalidAmount(f"refunding {amount} would take {payment.id} past what was paid")
    event = PaymentEvent(event_id, EventType.REFUNDED, payment.id, payment.version + 1, now,
                         Refunded(refund_id, amount))
    return apply(payment, event), event


def apply(payment: Payment | None, event: PaymentEvent) -> Payment:
    """Fold one event into the state. Events must arrive in sequence."""
    p = event.payload
    if isinstance(p, Created):
        if payment is not None:
            raise ValueError("payment.created must be the first event")
        return Payment(
            id=event.payment_id, merchant_id=p.merchant_id, amount=p.amount, currency=p.currency,
            payment_method=p.payment_method, status=PaymentStatus.NEW, version=event.sequence,
            created_at=event.occurred_at, updated_at=event.occurred_at, description=p.description,
            metadata=dict(p.metadata), customer_id=p.customer_id, destination=p.destination, order_id=p.order_id,
            route=tuple(p.route),
        )
    if payment is None:
        raise ValueError(f"{event.type} before payment.created")
    if event.sequence != payment.version + 1:
        raise ValueError(f"event {event.sequence} does not follow version {payment.version}")
    changes: dict[str, Any] = {
        "status": _EVENT_STATUS.get(event.type, payment.status),
        "version": event.sequence,
        "updated_at": event.occurred_at,
    }
    if isinstance(p, (Completed, Failed)) and p.provider_charge_id:
        changes["provider_charge_id"] = p.provider_charge_id
    if isinstance(p, Failed):
        changes["failure"] = p.failure
    if isinstance(p, (Processing, Completed, Failed, Canceled)) and p.hold:
        changes["hold"] = p.hold
    if isinstance(p, CancelRequested):
        changes["cancel_requested"] = True
    if isinstance(p, Refunded):
        changes["amount_refunded"] = payment.amount_refunded + p.amount
    if isinstance(p, AttemptFailed):
        changes["attempts"] = _with_attempt(payment.attempts, Attempt(
            p.provider, p.reference or payment.id, "failed", p.failure, event.occurred_at))
    elif isinstance(p, (Processing, Completed, Failed)) and p.provider:
        status = {Processing: "pending", Completed: "succeeded", Failed: "failed"}[type(p)]
        failure = p.failure if isinstance(p, Failed) else None
        changes["attempts"] = _with_attempt(payment.attempts, Attempt(
            p.provider, p.reference or payment.id, status, failure, event.occurred_at))
        if isinstance(p, Completed) or (isinstance(p, Failed) and p.provider_charge_id):
            changes["provider"] = p.provider
    return replace(payment, **changes)


def _with_attempt(attempts: tuple[Attempt, ...], attempt: Attempt) -> tuple[Attempt, ...]:
    """The attempt recorded: the same reference's earlier state replaced, else a new one at the end."""
    if attempts and attempts[-1].reference == attempt.reference:
        return (*attempts[:-1], attempt)
    return (*attempts, attempt)


def fold(events: Sequence[PaymentEvent]) -> Payment:
    """Rebuild a payment from its whole history."""
    return snapshots(events)[-1]


def snapshots(events: Sequence[PaymentEvent]) -> list[Payment]:
    """The payment as it was after each of its events, in sequence (what each event's webhook shows)."""
    payment: Payment | None = None
    states: list[Payment] = []
    for event in sorted(events, key=lambda e: e.sequence):
        payment = apply(payment, event)
        states.append(payment)
    if not states:
        raise ValueError("no events")
    return states
