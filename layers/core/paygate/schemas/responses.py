"""What merchants see. Database items never leak: each object is mapped here explicitly."""

from __future__ import annotations

from typing import Any

from paygate.domain.accounts import WebhookEndpoint
from paygate.domain.ledger import Account, AccountKind, Wallet, WalletEntry
from paygate.domain.order import Customer, Notification, Order, OrderEvent
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
        "order_id": p.order_id,
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


def customer_object(c: Customer) -> dict[str, Any]:
    return {"id": c.id, "object": "customer", "name": c.name, "email": c.email, "wallet_id": c.wallet_id,
            "currency": c.currency, "created_at": c.created_at}


def wallet_object(w: Wallet) -> dict[str, Any]:
    return {"id": w.id, "object": "wallet", "customer_id": w.customer_id, "currency": w.currency,
            "available": w.available, "held": w.held, "version": w.version, "created_at": w.created_at}


def entry_object(e: WalletEntry) -> dict[str, Any]:
    return {"id": e.transfer.id, "object": "wallet_entry", "wallet_id": e.wallet_id, "sequence": e.sequence,
            "type": str(e.type), "amount": e.amount, "currency": e.transfer.currency,
            "available_after": e.available_after, "held_after": e.held_after, "payment_id": e.payment_id,
            "order_id": e.order_id, "created_at": e.created_at}


def topup_object(t: Any) -> dict[str, Any]:
    return {"id": t.id, "object": "topup", "wallet_id": t.wallet_id, "amount": t.amount, "currency": t.currency,
            "status": t.status, "created_at": t.created_at}


def balance_object(accounts: list[tuple[Account, int]]) -> dict[str, Any]:
    """The merchant's balance by currency (captured wallet payments less their refunds); what top-ups
    brought in from outside (funding) and what billers were paid are shown beside it."""
    def of(kind: AccountKind, negate: bool = False) -> list[dict[str, Any]]:
        totals: dict[str, int] = {}
        for account, amount in accounts:
            if account.kind == kind:
                totals[account.currency] = totals.get(account.currency, 0) + (-amount if negate else amount)
        return [{"currency": c, "amount": a} for c, a in sorted(totals.items())]
    return {"object": "balance", "available": of(AccountKind.BALANCE), "topped_up": of(AccountKind.FUNDING, True),
            "paid_to_billers": of(AccountKind.BILLER)}


def order_object(o: Order) -> dict[str, Any]:
    return {"id": o.id, "object": "order", "status": str(o.status), "customer_id": o.customer_id,
            "amount": o.amount, "currency": o.currency, "description": o.description,
            "payment_id": o.payment_id,
            "failure": {"code": o.failure.code, "message": o.failure.message} if o.failure else None,
            "version": o.version, "created_at": o.created_at, "updated_at": o.updated_at}


def order_webhook_event(event: OrderEvent, after: Order) -> dict[str, Any]:
    return envelope(event.event_id, str(event.type), event.occurred_at, order_object(after))


def notification_object(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "object": "notification", "type": n.type, "customer_id": n.customer_id,
            "order_id": n.order_id, "message": n.message, "created_at": n.created_at}
