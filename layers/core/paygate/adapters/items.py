"""Mapping between domain objects and DynamoDB items (plain Python values, before serialization)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from paygate.domain.accounts import Merchant, WebhookEndpoint
from paygate.domain.payment import (
    EventType,
    Failure,
    Payment,
    PaymentEvent,
    PaymentStatus,
)
from paygate.domain.webhooks import FailedDelivery
from paygate.schemas.responses import payment_object
from paygate.services.ports import EventMeta, StoredEvent

STATE_SK = "STATE"
EVENT_SK_PREFIX = "EVENT#"


def plain(value: Any) -> Any:
    """DynamoDB gives numbers back as Decimal; every number we store is an integer."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def event_sk(sequence: int) -> str:
    return f"{EVENT_SK_PREFIX}{sequence:010d}"


def merchant_index_key(payment: Payment) -> dict[str, str]:
    return {"gsi1pk": f"{payment.merchant_id}#payments", "gsi1sk": f"{payment.created_at}#{payment.id}"}


def payment_item(p: Payment) -> dict[str, Any]:
    return {
        "pk": p.id, "sk": STATE_SK, "kind": "payment", **merchant_index_key(p),
        "merchant_id": p.merchant_id, "amount": p.amount, "currency": p.currency,
        "payment_method": dict(p.payment_method), "status": str(p.status), "version": p.version,
        "created_at": p.created_at, "updated_at": p.updated_at, "description": p.description,
        "metadata": dict(p.metadata), "customer_id": p.customer_id,
        "destination": dict(p.destination) if p.destination else None,
        "failure": {"code": p.failure.code, "message": p.failure.message} if p.failure else None,
        "amount_refunded": p.amount_refunded, "provider_charge_id": p.provider_charge_id,
    }


def payment_from_item(item: dict[str, Any]) -> Payment:
    i = plain(item)
    return Payment(
        id=i["pk"], merchant_id=i["merchant_id"], amount=i["amount"], currency=i["currency"],
        payment_method=i["payment_method"], status=PaymentStatus(i["status"]), version=i["version"],
        created_at=i["created_at"], updated_at=i["updated_at"], description=i.get("description"),
        metadata=i.get("metadata") or {}, customer_id=i.get("customer_id"),
        destination=i.get("destination"),
        failure=Failure(**i["failure"]) if i.get("failure") else None,
        amount_refunded=i.get("amount_refunded", 0), provider_charge_id=i.get("provider_charge_id"),
    )


def event_item(event: PaymentEvent, payment_after: Payment, meta: EventMeta) -> dict[str, Any]:
    """The outbox record: the event, the payment snapshot after it, and the trace it belongs to."""
    return {
        "pk": event.payment_id, "sk": event_sk(event.sequence), "kind": "event",
        "aggregate_type": "payment", "event_id": event.event_id, "type": str(event.type),
        "sequence": event.sequence, "occurred_at": event.occurred_at, "payload": dict(event.payload),
        "merchant_id": payment_after.merchant_id, "snapshot": payment_object(payment_after),
        "traceparent": meta.traceparent, "correlation_id": meta.correlation_id,
    }


def is_event_item(item: dict[str, Any]) -> bool:
    return item.get("kind") == "event" and item.get("aggregate_type") == "payment"


def stored_event_from_item(item: dict[str, Any]) -> StoredEvent:
    i = plain(item)
    event = PaymentEvent(
        event_id=i["event_id"], type=EventType(i["type"]), payment_id=i["pk"], sequence=i["sequence"],
        occurred_at=i["occurred_at"], payload=i.get("payload") or {},
    )
    return StoredEvent(event, i["merchant_id"], i["snapshot"],
                       EventMeta(i.get("traceparent"), i.get("correlation_id")))


def merchant_item(m: Merchant) -> dict[str, Any]:
    return {"pk": f"MERCHANT#{m.id}", "sk": "PROFILE", "kind": "merchant", "merchant_id": m.id,
            "name": m.name, "created_at": m.created_at}


def api_key_item(key_hash: str, m: Merchant) -> dict[str, Any]:
    return {"pk": f"APIKEY#{key_hash}", "sk": "APIKEY", "kind": "api_key", "merchant_id": m.id,
            "name": m.name, "created_at": m.created_at}


def merchant_from_key_item(item: dict[str, Any]) -> Merchant:
    return Merchant(id=item["merchant_id"], name=item["name"], created_at=item["created_at"])


def endpoint_key(merchant_id: str, endpoint_id: str) -> dict[str, str]:
    return {"pk": f"MERCHANT#{merchant_id}", "sk": f"ENDPOINT#{endpoint_id}"}


def endpoint_item(e: WebhookEndpoint) -> dict[str, Any]:
    return {**endpoint_key(e.merchant_id, e.id), "kind": "webhook_endpoint", "endpoint_id": e.id,
            "merchant_id": e.merchant_id, "url": e.url, "secret": e.secret,
            "enabled_events": list(e.enabled_events), "created_at": e.created_at,
            "description": e.description}


def endpoint_from_item(item: dict[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(id=item["endpoint_id"], merchant_id=item["merchant_id"], url=item["url"],
                           secret=item["secret"], enabled_events=tuple(item["enabled_events"]),
                           created_at=item["created_at"], description=item.get("description"))


def failure_prefix(endpoint_id: str) -> str:
    return f"FAILED#{endpoint_id}#"


def failure_item(merchant_id: str, f: FailedDelivery) -> dict[str, Any]:
    # Sorted by time of failure within the endpoint; the event id keeps keys unique.
    return {"pk": f"MERCHANT#{merchant_id}", "sk": f"{failure_prefix(f.endpoint_id)}{f.failed_at}#{f.event_id}",
            "kind": "failed_delivery", "endpoint_id": f.endpoint_id, "event_id": f.event_id,
            "event_type": f.event_type, "created_at": f.created_at, "failed_at": f.failed_at,
            "attempts": f.attempts, "object": f.object}


def failure_from_item(item: dict[str, Any]) -> FailedDelivery:
    i = plain(item)
    return FailedDelivery(endpoint_id=i["endpoint_id"], event_id=i["event_id"], event_type=i["event_type"],
                          created_at=i["created_at"], failed_at=i["failed_at"], attempts=i["attempts"],
                          object=i["object"])
