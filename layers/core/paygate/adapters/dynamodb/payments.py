"""Payments in the aggregates table: one item each, holding the payment's state and its event log.

Each change of a payment is one conditional write: its creation one TransactWriteItems (the payment
and its idempotency key), every later change a PutItem of the whole item conditioned on the version
it was decided on. A payment's side of a refund (the reservation an accepted refund makes, and its
outcome) is written by the refunds' transactions with the updates defined here.
"""

from __future__ import annotations

from typing import Any, Sequence

from paygate.adapters.dynamodb.errors import Refused, transact, write
from paygate.adapters.dynamodb.idempotency import IdempotencyKeys
from paygate.adapters.dynamodb.items import (
    IN_PROGRESS_INDEX,
    LISTING_INDEX,
    STATE_SK,
    batch_get,
    dump,
    load,
    log_entries,
    payload_of,
    versioned_put,
)
from paygate.domain.methods import Destination, method_of
from paygate.domain.payment import PAYLOADS, Created, EventType, Payment, PaymentEvent, PaymentStatus, fold
from paygate.services.ports.idempotency import IdempotencyRecord, KeyAlreadyUsed, KeyBusy
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.records import ConcurrencyConflict, EventMeta, Record

PAYMENT_KIND = "payment"
IN_PROGRESS = "PROCESSING"
# The payment item carries RESERVED: what its accepted refunds (pending or succeeded) hold, the
# counter the accepting transaction conditions on; it is not an event (the refunds' events explain it).
RESERVED = "amount_reserved"


def payment_key(payment_id: str) -> dict[str, str]:
    return {"pk": payment_id, "sk": STATE_SK}


def merchant_index_key(payment: Payment) -> dict[str, str]:
    """The listing index (KEYS_ONLY): written with the item, never changed after."""
    return {"gsi1pk": f"{payment.merchant_id}#payments", "gsi1sk": f"{payment.created_at}#{payment.id}"}


def state_attributes(p: Payment) -> dict[str, Any]:
    """What changes as events are added (None: the attribute is absent). Kept on the item for the
    version condition and for queries; the payment itself is the fold of the log."""
    reconciled = p.status == PaymentStatus.PROCESSING and p.payment_method.reconciled
    return {
        "status": str(p.status), "version": p.version, "updated_at": p.updated_at,
        "failure": {"code": p.failure.code, "message": p.failure.message} if p.failure else None,
        "charge_id": p.provider_charge_id, "amount_refunded": p.amount_refunded or None,
        "cancel_requested": True if p.cancel_requested else None,
        # The in-progress index (sparse, keys only): only while PROCESSING (and reconciled: a payment whose
        # outcome waits on its provider), by when it last moved, so reconciliation finds the payments left
        # there without scanning. A payment that goes from NEW to its outcome in one write (most do) never
        # enters it.
        "gsi2pk": IN_PROGRESS if reconciled else None,
        "gsi2sk": f"{p.updated_at}#{p.id}" if reconciled else None,
    }


def payment_item(record: PaymentRecord) -> dict[str, Any]:
    p = record.state
    created = record.events[0].payload
    assert isinstance(created, Created)
    return {
        **payment_key(p.id), "kind": PAYMENT_KIND, **merchant_index_key(p),
        "merchant_id": created.merchant_id, "amount": created.amount, "currency": created.currency,
        "method": created.payment_method.as_dict(), "description": created.description,
        "metadata": dict(created.metadata) or None, "customer_id": created.customer_id,
        "destination": created.destination.as_dict() if created.destination else None,
        "order_id": created.order_id, "route": list(created.route) or None,
        "created_at": p.created_at, "correlation_id": record.correlation_id,
        **state_attributes(p),
        "events": log_entries(record.events, record.traces),
    }


def payment_record_from_item(item: dict[str, Any]) -> PaymentRecord:
    """An item as `load` gives it -> the payment, its events and their traces."""
    created = Created(
        merchant_id=item["merchant_id"], amount=item["amount"], currency=item["currency"],
        payment_method=method_of(item["method"]), description=item.get("description"),
        metadata=item.get("metadata") or {}, customer_id=item.get("customer_id"),
        destination=Destination.of(item.get("destination")), order_id=item.get("order_id"),
        route=tuple(item.get("route") or ()),
    )
    events = tuple(
        PaymentEvent(event_id=e["id"], type=EventType(e["type"]), payment_id=item["pk"], sequence=n,
                     occurred_at=e["at"],
                     payload=created if n == 1 else payload_of(PAYLOADS[EventType(e["type"])], e.get("data") or {}))
        for n, e in enumerate(item["events"], start=1)
    )
    return Record(fold(events), events, tuple(e.get("tp") for e in item["events"]), item.get("correlation_id"))


def is_payment_item(item: dict[str, Any]) -> bool:
    return item.get("kind") == PAYMENT_KIND and "events" in item


def reserve_update(payment_id: str, merchant_id: str, amount: int, ceiling: int) -> dict[str, Any]:
    """The payment's half of accepting a refund: add `amount` to what is reserved, only while the
    payment is COMPLETED, the merchant's, and holds at most `ceiling` already."""
    return {
        "Key": dump(payment_key(payment_id)),
        "UpdateExpression": "SET #reserved = if_not_exists(#reserved, :zero) + :amount",
        "ConditionExpression": "#kind = :payment AND #status = :completed AND merchant_id = :merchant "
                               "AND (attribute_not_exists(#reserved) OR #reserved <= :ceiling)",
        "ExpressionAttributeNames": {"#reserved": RESERVED, "#status": "status", "#kind": "kind"},
        "ExpressionAttributeValues": dump({":zero": 0, ":amount": amount, ":payment": PAYMENT_KIND,
                                           ":completed": str(PaymentStatus.COMPLETED), ":merchant": merchant_id,
                                           ":ceiling": ceiling}),
    }


def settle_update(table: str, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
                  traceparent: str | None, release: int) -> dict[str, Any]:
    """The payment's half of a refund's outcome (a transaction's Update), as an update rather than a
    put, so that it never overwrites the reservations other refunds make meanwhile: its new events
    appended (conditioned on the version they were decided on), and `release` given back to what can
    be refunded."""
    sets: list[str] = []
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    condition = "attribute_exists(pk)"
    if events:
        state = state_attributes(after)
        sets += ["#events = list_append(#events, :new)", "#version = :version", "updated_at = :updated",
                 "amount_refunded = :refunded"]
        names.update({"#events": "events", "#version": "version"})
        values.update({":new": log_entries(events, [traceparent] * len(events)), ":version": state["version"],
                       ":updated": state["updated_at"], ":refunded": after.amount_refunded,
                       ":previous": before.state.version})
        condition = "#version = :previous"
    if release:
        sets.append("#reserved = #reserved - :release")
        names["#reserved"] = RESERVED
        values[":release"] = release
    update: dict[str, Any] = {"TableName": table, "Key": dump(payment_key(before.state.id)),
                              "UpdateExpression": "SET " + ", ".join(sets), "ConditionExpression": condition,
                              "ExpressionAttributeValues": dump(values)}
    if names:
        update["ExpressionAttributeNames"] = names
    return {"Update": update}


class PaymentsTable:
    def __init__(self, client: Any, table: str, keys: IdempotencyKeys) -> None:
        self.client, self.table, self.keys = client, table, keys

    def in_progress_since(self, before: str, limit: int) -> list[str]:
        """Ids of payments PROCESSING since before ``before`` (ISO time), oldest first (the sparse
        in-progress index: keys only, so one Query reads ~limit keys)."""
        page = self.client.query(
            TableName=self.table, IndexName=IN_PROGRESS_INDEX, Limit=limit,
            KeyConditionExpression="gsi2pk = :p AND gsi2sk < :before",
            ExpressionAttributeValues=dump({":p": IN_PROGRESS, ":before": before}))
        return [load(item)["pk"] for item in page.get("Items", [])]

    def create(self, record: PaymentRecord, key: IdempotencyRecord, now: int) -> None:
        self.keys.create_with(self.table, payment_item(record), key, now)

    def append(self, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
               meta: EventMeta) -> PaymentRecord:
        """The whole item again, conditioned on the version it was read at. A PutItem costs what an
        UpdateItem does (the larger of the two images, in KB) and leaves the keys-only index alone
        (its attributes do not change); it needs no update expression to be parsed and applied."""
        written = before.then(events, after, meta.traceparent)
        try:
            write(self.client.put_item, TableName=self.table, Item=dump(payment_item(written)),
                  ConditionExpression="#version = :previous", ExpressionAttributeNames={"#version": "version"},
                  ExpressionAttributeValues=dump({":previous": before.state.version}))
        except Refused as refused:
            raise ConcurrencyConflict(f"{after.id} is no longer at version {before.state.version}") from refused
        return written

    def append_with_key(self, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
                        meta: EventMeta, key: IdempotencyRecord, now: int) -> PaymentRecord:
        """`append` and an idempotency key in one transaction (a cancel with an Idempotency-Key).
        Only for a payment no refund reserves anything of (not COMPLETED): the item is put whole."""
        written = before.then(events, after, meta.traceparent)
        try:
            transact(self.client, [versioned_put(self.table, payment_item(written), before.state.version),
                                   self.keys.put(key, now)])
        except Refused as refused:
            if refused.conflicted:
                raise KeyBusy(key.scope_key) from refused
            taken = self.keys.taken(refused, key, now)
            if taken is not None:
                raise KeyAlreadyUsed(taken) from refused
            raise ConcurrencyConflict(f"{after.id} is no longer at version {before.state.version}") from refused
        return written

    def find_key(self, scope_key: str) -> IdempotencyRecord | None:
        return self.keys.get(scope_key)

    def record_key(self, key: IdempotencyRecord, now: int) -> None:
        self.keys.create(key, now)

    def get(self, payment_id: str, *, consistent: bool = True) -> PaymentRecord | None:
        found = self.client.get_item(TableName=self.table, Key=dump(payment_key(payment_id)),
                                     ConsistentRead=consistent).get("Item")
        return payment_record_from_item(load(found)) if found else None

    def list(self, merchant_id: str, *, limit: int, starting_after: Payment | None,
             status: str | None) -> tuple[list[Payment], bool]:
        """Newest first. The index holds keys only (it is never rewritten when a payment changes), so
        each page of keys is fetched in one BatchGetItem; a status filter applies to what is fetched."""
        query: dict[str, Any] = {
            "TableName": self.table, "IndexName": LISTING_INDEX, "ScanIndexForward": False,
            "KeyConditionExpression": "gsi1pk = :m",
            "ExpressionAttributeValues": dump({":m": f"{merchant_id}#payments"}),
            "Limit": limit + 1,
        }
        if starting_after is not None:
            query["ExclusiveStartKey"] = dump({**payment_key(starting_after.id), **merchant_index_key(starting_after)})
        found: list[Payment] = []
        while len(found) <= limit:
            page = self.client.query(**query)
            keys = [payment_key(load(k)["pk"]) for k in page.get("Items", [])]
            found += [p for p in (r.state for r in batch_get(self.client, self.table, keys, payment_record_from_item))
                      if status is None or str(p.status) == status]
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit], len(found) > limit

