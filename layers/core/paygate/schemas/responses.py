"""What merchants see. Database items never leak: each object is mapped here explicitly."""

from __future__ import annotations

from typing import Any

from paygate.domain.accounts import WebhookEndpoint
from paygate.domain.payment import Payment, PaymentEvent
from paygate.domain.refund import Refund, RefundEvent
from paygate.domain.webhooks import DeliveryAttempt, FailedDelivery, envelope


def payment_object(p: Payment) -> dict[str, Any]:
    return {
        "id": p.id,
        "object": "payment",
        "status": str(p.status),
        "amount": p.amount,
        "currency": p.currency,
        "payment_method": dict(p.payment_method),
        "description": p.description,
        "metadata": dict(p.metadata),
        "customer_id": p.customer_id,
        "destination": dict(p.destination) if p.destination else None,
        "failure": {"code": p.failure.code, "message": p.failure.message} if p.failure else None,
        "amount_refunded": p.amount_refunded,
        "cancel_requested": p.cancel_requested,
        "version": p.version,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }


def event_object(event: PaymentEvent, after: Payment) -> dict[str, Any]:
    """An event in the payment's history, with the payment as it was right after it."""
    return {
        "id": event.event_id,
        "object": "event",
        "type": str(event.type),
        "sequence": event.sequence,
        "created_at": event.occurred_at,
        "data": {"object": payment_object(after)},
    }


def webhook_event(event: PaymentEvent, after: Payment) -> dict[str, Any]:
    """The body merchants receive: the Standard Webhooks envelope around the payment after the event.
    `data.object.version` is the event's sequence, so a receiver can order what arrives out of order."""
    return envelope(event.event_id, str(event.type), event.occurred_at, payment_object(after))


def refund_object(r: Refund) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "refund",
        "payment_id": r.payment_id,
        "amount": r.amount,
        "currency": r.currency,
        "status": str(r.status),
        "failure": {"code": r.failure.code, "message": r.failure.message} if r.failure else None,
        "version": r.version,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    }


def refund_event_object(event: RefundEvent, after: Refund) -> dict[str, Any]:
    """An event in the refund's history, with the refund as it was right after it."""
    return {"id": event.event_id, "object": "event", "type": str(event.type), "sequence": event.sequence,
            "created_at": event.occurred_at, "data": {"object": refund_object(after)}}


def refund_webhook_event(event: RefundEvent, after: Refund) -> dict[str, Any]:
    """As `webhook_event`: `data.object.version` is the refund's version after the event."""
    return envelope(event.event_id, str(event.type), event.occurred_at, refund_object(after))


def webhook_endpoint_object(endpoint: WebhookEndpoint, *, include_secret: bool = False) -> dict[str, Any]:
    body = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "url": endpoint.url,
        "enabled_events": list(endpoint.enabled_events),
        "description": endpoint.description,
        "status": "enabled",
        "created_at": endpoint.created_at,
    }
    if include_secret:
        body["secret"] = endpoint.secret
    return body


def list_object(data: list[dict[str, Any]], has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def failed_delivery_object(f: FailedDelivery) -> dict[str, Any]:
    return {
        "object": "webhook_delivery",
        "status": "failed",
        "endpoint_id": f.endpoint_id,
        "attempts": f.attempts,
        "failed_at": f.failed_at,
        "event": envelope(f.event_id, f.event_type, f.created_at, f.object),
    }


def delivery_attempt_object(a: DeliveryAttempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "object": "delivery_attempt",
        "endpoint_id": a.endpoint_id,
        "event_id": a.event_id,
        "event_type": a.event_type,
        "attempt": a.attempt,
        "delivered": a.delivered,
        "status_code": a.status_code,
        "error": a.error,
        "at": a.at,
        "next_attempt_at": a.next_attempt_at,
    }
