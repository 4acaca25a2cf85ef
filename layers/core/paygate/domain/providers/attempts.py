"""A card payment's attempts: which provider and reference it is at, and which one holds its charge.
Decided from recorded events only, so every invocation of the payment's commands agrees."""

from __future__ import annotations

from paygate.domain.payment import Payment
from paygate.domain.providers.registry import DEFAULT_ROUTE


def attempt_reference(payment_id: str, number: int) -> str:
    """The first attempt's reference is the payment id itself; later ones `<id>_2`, `<id>_3` ..."""
    return payment_id if number == 1 else f"{payment_id}_{number}"


def payment_id_of(reference: str) -> str:
    """The payment an attempt's reference belongs to."""
    head, _, tail = reference.rpartition("_")
    return head if head.startswith("pay_") and tail.isdigit() else reference


def current_attempt(payment: Payment) -> tuple[str, str] | None:
    """(provider, reference) of the attempt the payment is at: the last one unless it failed, else the
    next provider of the route; None when the route is used up."""
    if payment.attempts and payment.attempts[-1].status != "failed":
        last = payment.attempts[-1]
        return last.provider, last.reference
    route = payment.route or DEFAULT_ROUTE
    number = len(payment.attempts) + 1
    if number > len(route):
        return None
    return route[number - 1], attempt_reference(payment.id, number)


def charge_holder(payment: Payment) -> tuple[str, str]:
    """(provider, reference) of the attempt that charged, else the one that may still charge, else the
    last: refunds, voids, callbacks and reconciliation go there, never to another provider."""
    if payment.provider:
        for attempt in reversed(payment.attempts):
            if attempt.provider == payment.provider:
                return attempt.provider, attempt.reference
    current = current_attempt(payment)
    if current is not None:
        return current
    last = payment.attempts[-1]
    return last.provider, last.reference
