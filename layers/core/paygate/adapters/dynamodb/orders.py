"""Orders in the aggregates table (an event log each, as payments), the inbox of their payment tasks
(INBOX#<order id>: the order's payment task, recorded), and a customer's notifications (pk the
customer, sk NTF#<id>)."""

from __future__ import annotations

from typing import Any, Sequence

from paygate.adapters.dynamodb.errors import Refused, transact
from paygate.adapters.dynamodb.idempotency import IdempotencyKeys
from paygate.adapters.dynamodb.items import (
    LISTING_INDEX,
    dump,
    load,
    log_entries,
    new_put,
    payload_data,
    payload_of,
    state_key,
    versioned_put,
)
from paygate.adapters.dynamodb.payments import payment_item
from paygate.domain import order as domain
from paygate.domain.order import PAYLOADS, Notification, Order, OrderEvent, OrderEventType
from paygate.services.ports.idempotency import IdempotencyRecord
from paygate.services.ports.orders import OrderRecord
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.records import ConcurrencyConflict, EventMeta, Record

ORDER_KIND, NOTIFICATION_KIND, INBOX_KIND = "order", "notification", "inbox"
NOTIFICATION_PREFIX = "NTF#"


def orders_partition(customer_id: str) -> str:
    return f"{customer_id}#orders"


def order_item(record: OrderRecord) -> dict[str, Any]:
    o = record.state
    return {
        **state_key(o.id), "kind": ORDER_KIND, "gsi1pk": orders_partition(o.customer_id),
        "gsi1sk": f"{o.created_at}#{o.id}", **payload_data(record.events[0].payload),
        "created_at": o.created_at, "correlation_id": record.correlation_id,
        "status": str(o.status), "version": o.version, "updated_at": o.updated_at,
        "events": log_entries(record.events, record.traces),
    }


def order_record_from_item(item: dict[str, Any]) -> OrderRecord:
    created = domain.Created(merchant_id=item["merchant_id"], customer_id=item["customer_id"],
                             wallet_id=item["wallet_id"], amount=item["amount"], currency=item["currency"],
                             description=item.get("description"), payment_id=item["payment_id"])
    events = tuple(
        OrderEvent(event_id=e["id"], type=OrderEventType(e["type"]), order_id=item["pk"], sequence=n,
                   occurred_at=e["at"],
                   payload=created if n == 1 else payload_of(PAYLOADS[OrderEventType(e["type"])], e.get("data") or {}))
        for n, e in enumerate(item["events"], start=1)
    )
    return Record(domain.fold(events), events, tuple(e.get("tp") for e in item["events"]), item.get("correlation_id"))


def is_order_item(item: dict[str, Any]) -> bool:
    return item.get("kind") == ORDER_KIND and "events" in item


def notification_item(n: Notification) -> dict[str, Any]:
    return {"pk": n.customer_id, "sk": f"{NOTIFICATION_PREFIX}{n.id}", "kind": NOTIFICATION_KIND, "id": n.id,
            "type": n.type, "order_id": n.order_id, "message": n.message, "created_at": n.created_at}


def notification_from_item(item: dict[str, Any]) -> Notification:
    return Notification(id=item["id"], customer_id=item["pk"], type=item["type"], order_id=item["order_id"],
                        message=item["message"], created_at=item["created_at"])


def inbox_item(order_id: str, payment_id: str, at: str) -> dict[str, Any]:
    return {**state_key(f"INBOX#{order_id}"), "kind": INBOX_KIND, "order_id": order_id, "payment_id": payment_id,
            "recorded_at": at}


class OrdersTable:
    def __init__(self, client: Any, table: str, keys: IdempotencyKeys) -> None:
        self.client, self.table, self.keys = client, table, keys

    def create(self, record: OrderRecord, key: IdempotencyRecord, now: int) -> None:
        self.keys.create_with(self.table, order_item(record), key, now)

    def get(self, order_id: str, *, consistent: bool = True) -> OrderRecord | None:
        if len(order_id) > 64:
            return None
        found = self.client.get_item(TableName=self.table, Key=dump(state_key(order_id)),
                                     ConsistentRead=consistent).get("Item")
        item = load(found) if found else None
        return order_record_from_item(item) if item and is_order_item(item) else None

    def for_customer(self, customer_id: str, *, limit: int, starting_after: Order | None) -> tuple[list[Order], bool]:
        query: dict[str, Any] = {
            "TableName": self.table, "IndexName": LISTING_INDEX, "ScanIndexForward": False,
            "KeyConditionExpression": "gsi1pk = :c", "Limit": limit + 1,
            "ExpressionAttributeValues": dump({":c": orders_partition(customer_id)}),
        }
        if starting_after is not None:
            query["ExclusiveStartKey"] = dump({**state_key(starting_after.id),
                                               "gsi1pk": orders_partition(customer_id),
                                               "gsi1sk": f"{starting_after.created_at}#{starting_after.id}"})
        page = self.client.query(**query)
        ids = [load(k)["pk"] for k in page.get("Items", [])]
        found = [o.state for o in (self.get(i, consistent=False) for i in ids[:limit]) if o is not None]
        return found, len(ids) > limit

    def settle(self, before: OrderRecord, events: Sequence[OrderEvent], after: Order, meta: EventMeta,
               notification: Notification) -> OrderRecord:
        written = before.then(events, after, meta.traceparent)
        items = [versioned_put(self.table, order_item(written), before.state.version),
                 new_put(self.table, notification_item(notification))]
        try:
            transact(self.client, items)
        except Refused as refused:
            raise ConcurrencyConflict(f"{after.id} is no longer at version {before.state.version}") from refused
        return written

    def record_task(self, order_id: str, payment: PaymentRecord) -> bool:
        """The inbox item and the order's payment in one transaction: a task recorded once."""
        p = payment.state
        try:
            transact(self.client, [new_put(self.table, inbox_item(order_id, p.id, p.created_at)),
                                   new_put(self.table, payment_item(payment))])
        except Refused as refused:
            if refused.condition_failed:
                return False
            raise
        return True

    def notifications(self, customer_id: str, *, limit: int) -> list[Notification]:
        page = self.client.query(
            TableName=self.table, ScanIndexForward=False, Limit=limit,
            KeyConditionExpression="pk = :c AND begins_with(sk, :n)",
            ExpressionAttributeValues=dump({":c": customer_id, ":n": NOTIFICATION_PREFIX}))
        return [notification_from_item(load(i)) for i in page.get("Items", [])]
