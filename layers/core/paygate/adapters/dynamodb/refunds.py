"""Refunds in the aggregates table: one item each beside their payment (an event log, as payments),
listed under their payment (gsi1, keys only: "<payment id>#refunds"), and the reservation they hold
on it (the payment's side: payments.reserve_update and payments.settle_update)."""

from __future__ import annotations

import random
from typing import Any, Sequence

from paygate.adapters.dynamodb.errors import Refused, transact
from paygate.adapters.dynamodb.idempotency import IdempotencyKeys
from paygate.adapters.dynamodb.items import (
    LISTING_INDEX,
    STATE_SK,
    batch_get,
    dump,
    load,
    log_entries,
    new_put,
    payload_of,
    versioned_put,
)
from paygate.adapters.dynamodb.payments import RESERVED, payment_key, reserve_update, settle_update
from paygate.domain import refund as domain
from paygate.domain.payment import Payment, PaymentEvent
from paygate.domain.refund import PAYLOADS, Refund, RefundEvent, RefundEventType
from paygate.services.ports.idempotency import IdempotencyRecord, KeyAlreadyUsed, KeyBusy
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.records import ConcurrencyConflict, EventMeta, Record
from paygate.services.ports.refunds import RefundRecord, ReservationRefused

REFUND_KIND = "refund"
RESERVATION_INDEX = 2  # in the accepting transaction: the refund, its key, the payment's reservation


def refund_key(refund_id: str) -> dict[str, str]:
    return {"pk": refund_id, "sk": STATE_SK}


def refunds_partition(payment_id: str) -> str:
    return f"{payment_id}#refunds"


def refund_item(record: RefundRecord) -> dict[str, Any]:
    r = record.state
    return {
        **refund_key(r.id), "kind": REFUND_KIND,
        "gsi1pk": refunds_partition(r.payment_id), "gsi1sk": f"{r.created_at}#{r.id}",
        "payment_id": r.payment_id, "merchant_id": r.merchant_id, "amount": r.amount, "currency": r.currency,
        "created_at": r.created_at, "correlation_id": record.correlation_id,
        "status": str(r.status), "version": r.version, "updated_at": r.updated_at,
        "failure": {"code": r.failure.code, "message": r.failure.message} if r.failure else None,
        "provider_refund_id": r.provider_refund_id,
        "events": log_entries(record.events, record.traces),
    }


def refund_record_from_item(item: dict[str, Any]) -> RefundRecord:
    created = domain.Created(item["payment_id"], item["merchant_id"], item["amount"], item["currency"])
    events = tuple(
        RefundEvent(event_id=e["id"], type=RefundEventType(e["type"]), refund_id=item["pk"],
                    payment_id=item["payment_id"], sequence=n, occurred_at=e["at"],
                    payload=created if n == 1 else payload_of(PAYLOADS[RefundEventType(e["type"])],
                                                              e.get("data") or {}))
        for n, e in enumerate(item["events"], start=1)
    )
    return Record(domain.fold(events), events, tuple(e.get("tp") for e in item["events"]),
                  item.get("correlation_id"))


def is_refund_item(item: dict[str, Any]) -> bool:
    return item.get("kind") == REFUND_KIND and "events" in item


def refund_settle_items(table: str, before: RefundRecord, events: Sequence[RefundEvent], after: Refund,
                        meta: EventMeta) -> tuple[RefundRecord, dict[str, Any]]:
    """The refund's half of its outcome: the record written and the transaction's Put of it."""
    written = before.then(events, after, meta.traceparent)
    return written, versioned_put(table, refund_item(written), before.state.version)


class RefundsTable:
    # Refunds of one payment accepted at the same moment all touch the payment item: DynamoDB cancels
    # the transactions that collide (TransactionConflict, no condition broken), which are tried again.
    CREATE_TRIES = 12

    def __init__(self, client: Any, table: str, keys: IdempotencyKeys) -> None:
        self.client, self.table, self.keys = client, table, keys

    def create(self, record: RefundRecord, key: IdempotencyRecord, now: int, *, payment_amount: int) -> None:
        r = record.state
        items = [
            new_put(self.table, refund_item(record)),
            self.keys.put(key, now),
            {"Update": {"TableName": self.table,
                        **reserve_update(r.payment_id, r.merchant_id, r.amount, payment_amount - r.amount)}},
        ]
        try:
            transact(self.client, items, tries=self.CREATE_TRIES,
                     pause=lambda attempt: random.uniform(0.01, 0.05 * attempt))
        except Refused as refused:
            if refused.conflicted:
                raise KeyBusy(key.scope_key) from refused
            taken = self.keys.taken(refused, key, now)
            if taken is not None:
                raise KeyAlreadyUsed(taken) from refused
            if refused.failed_at(RESERVATION_INDEX) or not refused.reasons_known:
                raise ReservationRefused(r.payment_id) from refused
            raise

    def settle(self, before: RefundRecord, events: Sequence[RefundEvent], after: Refund, meta: EventMeta, *,
               payment: PaymentRecord | None = None, payment_events: Sequence[PaymentEvent] = (),
               payment_after: Payment | None = None, release: int = 0) -> RefundRecord:
        written, put = refund_settle_items(self.table, before, events, after, meta)
        items: list[dict[str, Any]] = [put]
        if payment is not None and (payment_events or release):
            items.append(settle_update(self.table, payment, payment_events, payment_after or payment.state,
                                       meta.traceparent, release))
        try:
            transact(self.client, items)
        except Refused as refused:
            raise ConcurrencyConflict(f"{after.id} or its payment moved on") from refused
        return written

    def get(self, refund_id: str, *, consistent: bool = True) -> RefundRecord | None:
        found = self.client.get_item(TableName=self.table, Key=dump(refund_key(refund_id)),
                                     ConsistentRead=consistent).get("Item")
        if not found:
            return None
        item = load(found)
        return refund_record_from_item(item) if is_refund_item(item) else None

    def for_payment(self, payment_id: str) -> list[Refund]:
        keys: list[dict[str, str]] = []
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table, IndexName=LISTING_INDEX, ScanIndexForward=False,
            KeyConditionExpression="gsi1pk = :p", ExpressionAttributeValues=dump({":p": refunds_partition(payment_id)}))
        for page in pages:
            keys += [refund_key(load(k)["pk"]) for k in page.get("Items", [])]
        found = [r.state for r in batch_get(self.client, self.table, keys, refund_record_from_item)]
        return sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)

    def reserved(self, payment_id: str) -> int:
        found = self.client.get_item(TableName=self.table, Key=dump(payment_key(payment_id)),
                                     ConsistentRead=True, ProjectionExpression="#r",
                                     ExpressionAttributeNames={"#r": RESERVED}).get("Item") or {}
        return int(load(found).get(RESERVED, 0))
