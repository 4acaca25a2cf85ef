"""DynamoDB repositories (boto3's low-level client). Each change of an object is one conditional write:
a payment's creation is one TransactWriteItems (the payment and its idempotency key), every later
change one UpdateItem conditioned on the version it was decided on.

Reads are strongly consistent only where a decision rests on them (the processor, idempotent
replays); what only shows or routes (authentication, endpoint look-ups, lists) reads eventually
consistent at half the price.
"""

from __future__ import annotations

import random
import time
from typing import Any, Sequence

from botocore.exceptions import ClientError

from paygate.adapters import items as it
from paygate.domain.accounts import Merchant, WebhookEndpoint
from paygate.domain.ledger import Account, Movement, Wallet, WalletEntry
from paygate.domain.order import Customer, Notification, Order, OrderEvent
from paygate.domain.payment import Payment, PaymentEvent
from paygate.domain.refund import Refund, RefundEvent
from paygate.domain.webhooks import EVENT_RETENTION_SECONDS, DeliveryAttempt, FailedDelivery
from paygate.services.ports import (
    ConcurrencyConflict,
    EventMeta,
    IdempotencyRecord,
    InsufficientBalance,
    KeyAlreadyUsed,
    KeyBusy,
    OrderRecord,
    PaymentChange,
    PaymentRecord,
    PaymentWrite,
    RefundRecord,
    RefundWrite,
    ReservationRefused,
    Topup,
)

TRANSACTION_TRIES = 3


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _reasons(exc: ClientError) -> list[dict[str, Any]]:
    return list(exc.response.get("CancellationReasons") or [])


def condition_failed(exc: ClientError) -> bool:
    if _code(exc) == "ConditionalCheckFailedException":
        return True
    if _code(exc) != "TransactionCanceledException":
        return False
    reasons = _reasons(exc)
    if reasons:
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)
    return "ConditionalCheckFailed" in str(exc)


def conflicted(exc: ClientError) -> bool:
    """Cancelled only because another request touched one of the items at the same moment."""
    if _code(exc) == "TransactionConflictException":
        return True
    return _code(exc) == "TransactionCanceledException" and any(
        r.get("Code") == "TransactionConflict" for r in _reasons(exc)) and not condition_failed(exc)


def transact(client: Any, items: list[dict[str, Any]], tries: int = TRANSACTION_TRIES) -> None:
    """TransactWriteItems, tried again when it lost a race that did not break any condition.
    botocore does not retry TransactionConflict; DynamoDB says the caller may."""
    for attempt in range(1, tries + 1):
        try:
            client.transact_write_items(TransactItems=items)
            return
        except ClientError as exc:
            if attempt == tries or not conflicted(exc):
                raise
            time.sleep(0.05 * attempt)


class IdempotencyKeys:
    """The idempotency table's half of a creating transaction, and what a refused condition says."""

    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def put(self, key: IdempotencyRecord, now: int) -> dict[str, Any]:
        """The key is free if it was never used or its time ran out (TTL deletes it later)."""
        return {"Put": {
            "TableName": self.table, "Item": it.dump(it.idempotency_item(key)),
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
            "ExpressionAttributeValues": it.dump({":now": now}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}

    def create_with(self, table: str, item: dict[str, Any], key: IdempotencyRecord, now: int) -> None:
        """Write `item` (a new object) and its key together; KeyAlreadyUsed says who used the key first."""
        items = [{"Put": {"TableName": table, "Item": it.dump(item), "ConditionExpression": "attribute_not_exists(pk)"}},
                 self.put(key, now)]
        try:
            transact(self.client, items)
        except ClientError as exc:
            if conflicted(exc):
                raise KeyBusy(key.scope_key) from exc
            if not condition_failed(exc):
                raise
            raise KeyAlreadyUsed(self._existing(exc, key)) from exc

    def create(self, key: IdempotencyRecord, now: int) -> None:
        """The key alone (a request that wrote nothing else); KeyAlreadyUsed says who used it first."""
        try:
            transact(self.client, [self.put(key, now)])
        except ClientError as exc:
            if conflicted(exc):
                raise KeyBusy(key.scope_key) from exc
            if not condition_failed(exc):
                raise
            raise KeyAlreadyUsed(self._existing(exc, key, index=0)) from exc

    def get(self, scope_key: str) -> IdempotencyRecord | None:
        found = self.client.get_item(TableName=self.table, Key=it.dump({"pk": scope_key}),
                                     ConsistentRead=True).get("Item")
        return it.idempotency_from_item(it.load(found)) if found else None

    def _existing(self, exc: ClientError, key: IdempotencyRecord, index: int = 1) -> IdempotencyRecord:
        reasons = _reasons(exc)
        old = reasons[index].get("Item") if len(reasons) > index else None
        if old is None:  # a backend that does not return ALL_OLD for transactions
            old = self.client.get_item(TableName=self.table, Key=it.dump({"pk": key.scope_key}),
                                       ConsistentRead=True).get("Item")
        if old is None:
            raise RuntimeError(f"the new object's own id was taken, not the key {key.scope_key!r}")
        return it.idempotency_from_item(it.load(old))


class MerchantsTable:
    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def create(self, merchant: Merchant, key_hash: str) -> None:
        transact(self.client, [
            {"Put": {"TableName": self.table, "Item": it.dump(it.merchant_item(merchant)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self.table, "Item": it.dump(it.api_key_item(key_hash, merchant)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])

    def by_key_hash(self, key_hash: str) -> Merchant | None:
        found = self.client.get_item(TableName=self.table, Key=it.dump(it.api_key_key(key_hash))).get("Item")
        return it.merchant_from_key_item(it.load(found)) if found else None


class EndpointsTable:
    def __init__(self, client: Any, table: str, keys: IdempotencyKeys) -> None:
        self.client, self.table, self.keys = client, table, keys

    def create(self, endpoint: WebhookEndpoint, key: IdempotencyRecord, now: int) -> None:
        self.keys.create_with(self.table, it.endpoint_item(endpoint), key, now)

    def list(self, merchant_id: str) -> list[WebhookEndpoint]:
        found: list[WebhookEndpoint] = []
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=it.dump({":pk": it.merchant_partition(merchant_id),
                                               ":prefix": it.ENDPOINT_PREFIX}))
        for page in pages:
            found += [it.endpoint_from_item(it.load(i)) for i in page.get("Items", [])]
        return sorted(found, key=lambda e: (e.created_at, e.id))

    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        found = self.client.get_item(TableName=self.table, Key=it.dump(it.endpoint_key(merchant_id, endpoint_id))
                                     ).get("Item")
        return it.endpoint_from_item(it.load(found)) if found else None

    def replace_secret(self, before: WebhookEndpoint, after: WebhookEndpoint) -> bool:
        """Write ``after`` if the endpoint still has ``before``'s secret (False: it is gone, or another
        rotation came first)."""
        try:
            self.client.put_item(TableName=self.table, Item=it.dump(it.endpoint_item(after)),
                                 ConditionExpression="attribute_exists(pk) AND secret = :s",
                                 ExpressionAttributeValues=it.dump({":s": before.secret}))
            return True
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise

    def record_failure(self, merchant_id: str, failure: FailedDelivery) -> None:
        self.client.put_item(TableName=self.table, Item=it.dump(it.failure_item(merchant_id, failure)))

    def failures(self, merchant_id: str, endpoint_id: str, limit: int) -> list[FailedDelivery]:
        page = self.client.query(
            TableName=self.table, ScanIndexForward=False, Limit=limit,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=it.dump({":pk": it.merchant_partition(merchant_id),
                                               ":prefix": it.failure_prefix(endpoint_id)}),
        )
        return [it.failure_from_item(it.load(i)) for i in page.get("Items", [])]

    def delete(self, merchant_id: str, endpoint_id: str) -> bool:
        try:
            self.client.delete_item(TableName=self.table, Key=it.dump(it.endpoint_key(merchant_id, endpoint_id)),
                                    ConditionExpression="attribute_exists(pk)")
            return True
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise


class PaymentsTable:
    """Payments: one item each, holding the payment's state and its event log."""

    def __init__(self, client: Any, table: str, keys: IdempotencyKeys) -> None:
        self.client, self.table, self.keys = client, table, keys

    def in_progress_since(self, before: str, limit: int) -> list[str]:
        """Ids of payments PROCESSING since before ``before`` (ISO time), oldest first (the sparse
        in-progress index: keys only, so one Query reads ~limit keys)."""
        page = self.client.query(
            TableName=self.table, IndexName=it.IN_PROGRESS_INDEX, Limit=limit,
            KeyConditionExpression="gsi2pk = :p AND gsi2sk < :before",
            ExpressionAttributeValues=it.dump({":p": it.IN_PROGRESS, ":before": before}))
        return [it.load(item)["pk"] for item in page.get("Items", [])]

    def create(self, record: PaymentRecord, key: IdempotencyRecord, now: int) -> None:
        self.keys.create_with(self.table, it.payment_item(record), key, now)

    def append(self, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
               meta: EventMeta) -> PaymentRecord:
        """The whole item again, conditioned on the version it was read at. A PutItem costs what an
        UpdateItem does (the larger of the two images, in KB) and leaves the keys-only index alone
        (its attributes do not change); it needs no update expression to be parsed and applied."""
        written = before.then(events, after, meta.traceparent)
        try:
            self.client.put_item(
                TableName=self.table, Item=it.dump(it.payment_item(written)),
                ConditionExpression="#version = :previous", ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues=it.dump({":previous": before.payment.version}),
            )
        except ClientError as exc:
            if condition_failed(exc):
                raise ConcurrencyConflict(f"{after.id} is no longer at version {before.payment.version}") from exc
            raise
        return written

    def append_with_key(self, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
                        meta: EventMeta, key: IdempotencyRecord, now: int) -> PaymentRecord:
        """`append` and an idempotency key in one transaction (a cancel with an Idempotency-Key).
        Only for a payment no refund reserves anything of (not COMPLETED): the item is put whole."""
        written = before.then(events, after, meta.traceparent)
        items = [{"Put": {
            "TableName": self.table, "Item": it.dump(it.payment_item(written)),
            "ConditionExpression": "#version = :previous", "ExpressionAttributeNames": {"#version": "version"},
            "ExpressionAttributeValues": it.dump({":previous": before.payment.version}),
        }}, self.keys.put(key, now)]
        try:
            transact(self.client, items)
        except ClientError as exc:
            if conflicted(exc):
                raise KeyBusy(key.scope_key) from exc
            if not condition_failed(exc):
                raise
            codes = [reason.get("Code") for reason in _reasons(exc)]
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                raise KeyAlreadyUsed(self.keys._existing(exc, key)) from exc
            raise ConcurrencyConflict(f"{after.id} is no longer at version {before.payment.version}") from exc
        return written

    def find_key(self, scope_key: str) -> IdempotencyRecord | None:
        return self.keys.get(scope_key)

    def record_key(self, key: IdempotencyRecord, now: int) -> None:
        self.keys.create(key, now)

    def get(self, payment_id: str, *, consistent: bool = True) -> PaymentRecord | None:
        found = self.client.get_item(TableName=self.table, Key=it.dump(it.payment_key(payment_id)),
                                     ConsistentRead=consistent).get("Item")
        return it.payment_record_from_item(it.load(found)) if found else None

    def list(self, merchant_id: str, *, limit: int, starting_after: Payment | None,
             status: str | None) -> tuple[list[Payment], bool]:
        """Newest first. The index holds keys only (it is never rewritten when a payment changes), so
        each page of keys is fetched in one BatchGetItem; a status filter applies to what is fetched."""
        query: dict[str, Any] = {
            "TableName": self.table, "IndexName": it.PAYMENTS_INDEX, "ScanIndexForward": False,
            "KeyConditionExpression": "gsi1pk = :m",
            "ExpressionAttributeValues": it.dump({":m": f"{merchant_id}#payments"}),
            "Limit": limit + 1,
        }
        if starting_after is not None:
            query["ExclusiveStartKey"] = it.dump({**it.payment_key(starting_after.id),
                                                  **it.merchant_index_key(starting_after)})
        found: list[Payment] = []
        while len(found) <= limit:
            page = self.client.query(**query)
            keys = [it.payment_key(it.load(k)["pk"]) for k in page.get("Items", [])]
            payments = self._fetch(keys)
            found += [p for p in payments if status is None or str(p.status) == status]
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit], len(found) > limit

    def _fetch(self, keys: list[dict[str, str]]) -> list[Payment]:
        """BatchGetItem, in the order of `keys`, with the unprocessed keys asked for again."""
        by_id: dict[str, Payment] = {}
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {self.table: {"Keys": [it.dump(k) for k in keys[start:start + 100]]}}
            for attempt in range(8):
                response = self.client.batch_get_item(RequestItems=pending)
                for item in response.get("Responses", {}).get(self.table, []):
                    payment = it.payment_record_from_item(it.load(item)).payment
                    by_id[payment.id] = payment
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2 ** attempt, 1.0))
        return [by_id[k["pk"]] for k in keys if k["pk"] in by_id]


class RefundsTable:
    """Refunds: one item each beside their payment, and the reservation they hold on it."""

    # Refunds of one payment accepted at the same moment all touch the payment item: DynamoDB cancels
    # the transactions that collide (TransactionConflict, no condition broken), which are tried again.
    CREATE_TRIES = 12

    def __init__(self, client: Any, table: str, keys: IdempotencyKeys) -> None:
        self.client, self.table, self.keys = client, table, keys

    def create(self, record: RefundRecord, key: IdempotencyRecord, now: int, *, payment_amount: int) -> None:
        r = record.refund
        ceiling = payment_amount - r.amount
        items = [
            {"Put": {"TableName": self.table, "Item": it.dump(it.refund_item(record)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            self.keys.put(key, now),
            {"Update": {"TableName": self.table, **it.reserve_update(r.payment_id, r.merchant_id, r.amount, ceiling)}},
        ]
        for attempt in range(1, self.CREATE_TRIES + 1):
            try:
                self.client.transact_write_items(TransactItems=items)
                return
            except ClientError as exc:
                if conflicted(exc):
                    if attempt == self.CREATE_TRIES:
                        raise KeyBusy(key.scope_key) from exc
                    time.sleep(random.uniform(0.01, 0.05 * attempt))
                    continue
                if not condition_failed(exc):
                    raise
                codes = [reason.get("Code") for reason in _reasons(exc)]
                if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                    raise KeyAlreadyUsed(self.keys._existing(exc, key)) from exc
                if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                    raise ReservationRefused(r.payment_id) from exc
                if not codes:  # a backend that gives no reasons: the key decides, else the payment
                    existing = self.client.get_item(TableName=self.keys.table, Key=it.dump({"pk": key.scope_key}),
                                                    ConsistentRead=True).get("Item")
                    if existing is not None and it.load(existing).get("expires_at", 0) >= now:
                        raise KeyAlreadyUsed(it.idempotency_from_item(it.load(existing))) from exc
                    raise ReservationRefused(r.payment_id) from exc
                raise

    def settle(self, before: RefundRecord, events: Sequence[RefundEvent], after: Refund, meta: EventMeta, *,
               payment: PaymentRecord | None = None, payment_events: Sequence[PaymentEvent] = (),
               payment_after: Payment | None = None, release: int = 0) -> RefundRecord:
        written = before.then(events, after, meta.traceparent)
        items: list[dict[str, Any]] = [{"Put": {
            "TableName": self.table, "Item": it.dump(it.refund_item(written)),
            "ConditionExpression": "#version = :previous", "ExpressionAttributeNames": {"#version": "version"},
            "ExpressionAttributeValues": it.dump({":previous": before.refund.version}),
        }}]
        if payment is not None and (payment_events or release):
            update = it.payment_settle_update(payment, payment_events, payment_after or payment.payment,
                                              meta.traceparent, release)
            items.append({"Update": {"TableName": self.table, **{k: v for k, v in update.items() if v}}})
        try:
            transact(self.client, items)
        except ClientError as exc:
            if condition_failed(exc) or conflicted(exc):
                raise ConcurrencyConflict(f"{after.id} or its payment moved on") from exc
            raise
        return written

    def get(self, refund_id: str, *, consistent: bool = True) -> RefundRecord | None:
        found = self.client.get_item(TableName=self.table, Key=it.dump(it.refund_key(refund_id)),
                                     ConsistentRead=consistent).get("Item")
        if not found:
            return None
        item = it.load(found)
        return it.refund_record_from_item(item) if it.is_refund_item(item) else None

    def for_payment(self, payment_id: str) -> list[Refund]:
        keys: list[dict[str, str]] = []
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table, IndexName=it.PAYMENTS_INDEX, ScanIndexForward=False,
            KeyConditionExpression="gsi1pk = :p", ExpressionAttributeValues=it.dump({":p": it.refunds_partition(payment_id)}))
        for page in pages:
            keys += [it.refund_key(it.load(k)["pk"]) for k in page.get("Items", [])]
        found: list[Refund] = []
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {self.table: {"Keys": [it.dump(k) for k in keys[start:start + 100]]}}
            for attempt in range(8):
                response = self.client.batch_get_item(RequestItems=pending)
                found += [it.refund_record_from_item(it.load(i)).refund
                          for i in response.get("Responses", {}).get(self.table, [])]
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2 ** attempt, 1.0))
        return sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)

    def reserved(self, payment_id: str) -> int:
        found = self.client.get_item(TableName=self.table, Key=it.dump(it.payment_key(payment_id)),
                                     ConsistentRead=True, ProjectionExpression="#r",
                                     ExpressionAttributeNames={"#r": it.RESERVED}).get("Item") or {}
        return int(it.load(found).get(it.RESERVED, 0))


class PaymentChanges:
    """The outbox side of the payments table: its stream records decoded into payment changes."""

    def changes(self, records: Sequence[dict[str, Any]]) -> list[PaymentChange]:
        return it.payment_changes(records)


class EventsTable:
    """A merchant's events as they were sent, and each endpoint's delivery attempts (TTL: 30 days).
    Written in batches by the webhooks function: one BatchWriteItem per batch of received deliveries
    for their events, one for the attempts."""

    BATCH = 25  # BatchWriteItem's limit
    TRIES = 5

    def __init__(self, client: Any, table: str, clock: Any = time.time) -> None:
        self.client, self.table, self.clock = client, table, clock

    def _expires(self) -> int:
        return int(self.clock()) + EVENT_RETENTION_SECONDS

    def _put_all(self, items: Sequence[dict[str, Any]]) -> None:
        unique = list({(i["pk"], i["sk"]): i for i in items}.values())  # a batch may not name a key twice
        for start in range(0, len(unique), self.BATCH):
            requests = {self.table: [{"PutRequest": {"Item": it.dump(i)}} for i in unique[start:start + self.BATCH]]}
            for attempt in range(self.TRIES):
                left = self.client.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
                if not left:
                    break
                if attempt == self.TRIES - 1:
                    raise RuntimeError(f"{sum(len(v) for v in left.values())} items not written after {self.TRIES} tries")
                requests = left
                time.sleep(random.uniform(0, 0.05 * 2 ** attempt))  # throttled: back off, as the SDKs do

    def record_events(self, merchant_id: str, events: Sequence[dict[str, Any]]) -> None:
        expires = self._expires()
        self._put_all([it.event_item(merchant_id, e, expires) for e in events])

    def record_attempts(self, merchant_id: str, attempts: Sequence[DeliveryAttempt]) -> None:
        expires = self._expires()
        self._put_all([it.attempt_item(a, expires) for a in attempts])

    def event(self, merchant_id: str, event_id: str) -> dict[str, Any] | None:
        found = self.client.get_item(TableName=self.table,
                                     Key=it.dump({"pk": it.events_partition(merchant_id), "sk": event_id})).get("Item")
        return it.event_from_item(it.load(found)) if found else None

    def _newest_first(self, pk: str, limit: int, starting_after: str | None,
                      event_type: str | None = None) -> tuple[list[dict[str, Any]], bool]:
        """Up to `limit` items of partition `pk` below `starting_after`, and whether there are more.
        A type filter reads on (DynamoDB filters after reading) until the page is full."""
        query: dict[str, Any] = {
            "TableName": self.table, "ScanIndexForward": False,
            "KeyConditionExpression": "pk = :pk" + (" AND sk < :after" if starting_after else ""),
            "ExpressionAttributeValues": {":pk": pk, **({":after": starting_after} if starting_after else {})},
            "Limit": limit + 1 if event_type is None else 100,
        }
        if event_type is not None:
            query["FilterExpression"] = "#type = :type"
            query["ExpressionAttributeNames"] = {"#type": "type"}
            query["ExpressionAttributeValues"][":type"] = event_type
        query["ExpressionAttributeValues"] = it.dump(query["ExpressionAttributeValues"])
        found: list[dict[str, Any]] = []
        while len(found) <= limit:
            page = self.client.query(**query)
            found += [it.load(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        now = int(self.clock())  # TTL deletes within days of expiry, not at once: hide what has expired
        found = [i for i in found if i.get("expires_at", now + 1) > now]
        return found[:limit], len(found) > limit

    def events(self, merchant_id: str, *, event_type: str | None, limit: int,
               starting_after: str | None) -> tuple[list[dict[str, Any]], bool]:
        found, more = self._newest_first(it.events_partition(merchant_id), limit, starting_after, event_type)
        return [it.event_from_item(i) for i in found], more

    def attempts(self, endpoint_id: str, *, limit: int,
                 starting_after: str | None) -> tuple[list[DeliveryAttempt], bool]:
        found, more = self._newest_first(it.deliveries_partition(endpoint_id), limit, starting_after)
        return [it.attempt_from_item(endpoint_id, i) for i in found], more


class WalletsTable:
    """Customers, wallets and the ledger, in the aggregates table: every movement one transaction."""

    def __init__(self, client: Any, table: str, keys: IdempotencyKeys) -> None:
        self.client, self.table, self.keys = client, table, keys

    def _get(self, object_id: str, consistent: bool) -> dict[str, Any] | None:
        found = self.client.get_item(TableName=self.table, Key=it.dump(it.state_key(object_id)),
                                     ConsistentRead=consistent).get("Item")
        return it.load(found) if found else None

    def create_customer(self, customer: Customer, wallet: Wallet, key: IdempotencyRecord, now: int) -> None:
        """The customer, its wallet and the key, in one transaction."""
        items = [
            {"Put": {"TableName": self.table, "Item": it.dump(it.customer_item(customer)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            self.keys.put(key, now),
            {"Put": {"TableName": self.table, "Item": it.dump(it.wallet_item(wallet)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
        self._with_key(items, key, now)

    def _with_key(self, items: list[dict[str, Any]], key: IdempotencyRecord, now: int) -> None:
        """A creating transaction whose second item is its idempotency key."""
        try:
            transact(self.client, items)
        except ClientError as exc:
            if not condition_failed(exc):
                if conflicted(exc):
                    raise ConcurrencyConflict("a transaction on the wallet collided") from exc
                raise
            codes = [reason.get("Code") for reason in _reasons(exc)]
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                raise KeyAlreadyUsed(self.keys._existing(exc, key)) from exc
            if not codes:  # a backend that gives no reasons: the key decides
                existing = self.keys.get(key.scope_key)
                if existing is not None and existing.expires_at >= now:
                    raise KeyAlreadyUsed(existing) from exc
            raise ConcurrencyConflict("the wallet moved on") from exc

    def customer(self, customer_id: str) -> Customer | None:
        item = self._get(customer_id, False) if len(customer_id) <= 64 else None
        return it.customer_from_item(item) if item else None

    def wallet(self, wallet_id: str, *, consistent: bool = True) -> Wallet | None:
        item = self._get(wallet_id, consistent) if len(wallet_id) <= 64 else None
        return it.wallet_from_item(item) if item else None

    def find_topup(self, topup_id: str) -> Topup | None:
        item = self._get(topup_id, True)
        return it.topup_from_item(item) if item else None

    def entries(self, wallet_id: str, *, limit: int, starting_after: int | None) -> tuple[list[WalletEntry], bool]:
        """Newest first: up to `limit` entries below sequence `starting_after`."""
        upper = f"{it.ENTRY_PREFIX}{starting_after:010d}" if starting_after is not None else f"{it.ENTRY_PREFIX}~"
        page = self.client.query(
            TableName=self.table, ScanIndexForward=False, Limit=limit + 1,
            KeyConditionExpression="pk = :w AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues=it.dump({":w": wallet_id, ":low": it.ENTRY_PREFIX, ":high": upper}))
        found = [it.entry_from_item(it.load(i)) for i in page.get("Items", [])]
        found = [e for e in found if starting_after is None or e.sequence < starting_after]
        return found[:limit], len(found) > limit

    def balances(self, merchant_id: str) -> list[tuple[Account, int]]:
        """Every account of the merchant's (balance, funding, billers), by currency."""
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table, IndexName=it.PAYMENTS_INDEX, KeyConditionExpression="gsi1pk = :m",
            ExpressionAttributeValues=it.dump({":m": it.balances_partition(merchant_id)}))
        keys = [it.load(k)["pk"] for page in pages for k in page.get("Items", [])]
        found: list[tuple[Account, int]] = []
        for pk in keys:  # a merchant has a handful of accounts (one per kind and currency)
            item = self._get(pk, True)
            if item is not None:
                found.append((it.account_from_key(pk.removeprefix("ACCT#")), int(item.get("balance", 0))))
        return found

    def _movement_items(self, move: Movement) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = [
            {"Update": {"TableName": self.table, **it.wallet_update(move)}},
            {"Put": {"TableName": self.table, "Item": it.dump(it.entry_item(move.entry)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
        if move.counter is not None:
            t = move.transfer
            delta = t.amount if t.destination == move.counter else -t.amount
            items.append({"Update": {"TableName": self.table, **it.account_update(move.counter, delta)}})
            items.append({"Put": {"TableName": self.table, "Item": it.dump(
                it.account_entry_item(move.counter, t, move.entry.created_at, move.entry.payment_id))}})
        return items

    def topup(self, move: Movement, topup: Topup, key: IdempotencyRecord, now: int) -> None:
        items = [{"Put": {"TableName": self.table, "Item": it.dump(it.topup_item(topup)),
                          "ConditionExpression": "attribute_not_exists(pk)"}},
                 self.keys.put(key, now), *self._movement_items(move)]
        self._with_key(items, key, now)

    def move(self, move: Movement, *, payment: PaymentWrite | None = None, refund: RefundWrite | None = None) -> None:
        items = self._movement_items(move)
        if payment is not None:
            written = payment.before.then(payment.events, payment.after, payment.meta.traceparent)
            items.append({"Put": {
                "TableName": self.table, "Item": it.dump(it.payment_item(written)),
                "ConditionExpression": "#version = :previous", "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": it.dump({":previous": payment.before.payment.version}),
            }})
        if refund is not None:  # as RefundsTable.settle: the refund put whole, the payment updated
            written = refund.before.then(refund.events, refund.after, refund.meta.traceparent)
            items.append({"Put": {
                "TableName": self.table, "Item": it.dump(it.refund_item(written)),
                "ConditionExpression": "#version = :previous", "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": it.dump({":previous": refund.before.refund.version})}})
            update = it.payment_settle_update(refund.payment, refund.payment_events, refund.payment_after,
                                              refund.meta.traceparent, 0)
            items.append({"Update": {"TableName": self.table, **{k: v for k, v in update.items() if v}}})
        try:
            transact(self.client, items)
        except ClientError as exc:
            if not condition_failed(exc):
                if conflicted(exc):
                    raise ConcurrencyConflict("a transaction on the wallet collided") from exc
                raise
            codes = [reason.get("Code") for reason in _reasons(exc)]
            # The account on the other side (index 2) short: a refund the merchant's balance cannot
            # cover. Anything else: the wallet or the payment moved on; decide again from a fresh read.
            if len(codes) > 2 and codes[2] == "ConditionalCheckFailed" and move.counter is not None:
                raise InsufficientBalance(move.counter.key) from exc
            raise ConcurrencyConflict("the wallet or the payment moved on") from exc


class OrdersTable:
    """Orders (an event log per order, as payments), the inbox of their payment tasks, notifications."""

    def __init__(self, client: Any, table: str, keys: IdempotencyKeys) -> None:
        self.client, self.table, self.keys = client, table, keys

    def create(self, record: OrderRecord, key: IdempotencyRecord, now: int) -> None:
        self.keys.create_with(self.table, it.order_item(record), key, now)

    def get(self, order_id: str, *, consistent: bool = True) -> OrderRecord | None:
        if len(order_id) > 64:
            return None
        found = self.client.get_item(TableName=self.table, Key=it.dump(it.state_key(order_id)),
                                     ConsistentRead=consistent).get("Item")
        item = it.load(found) if found else None
        return it.order_record_from_item(item) if item and it.is_order_item(item) else None

    def for_customer(self, customer_id: str, *, limit: int, starting_after: Order | None) -> tuple[list[Order], bool]:
        query: dict[str, Any] = {
            "TableName": self.table, "IndexName": it.PAYMENTS_INDEX, "ScanIndexForward": False,
            "KeyConditionExpression": "gsi1pk = :c", "Limit": limit + 1,
            "ExpressionAttributeValues": it.dump({":c": it.orders_partition(customer_id)}),
        }
        if starting_after is not None:
            query["ExclusiveStartKey"] = it.dump({**it.state_key(starting_after.id),
                                                  "gsi1pk": it.orders_partition(customer_id),
                                                  "gsi1sk": f"{starting_after.created_at}#{starting_after.id}"})
        page = self.client.query(**query)
        ids = [it.load(k)["pk"] for k in page.get("Items", [])]
        found = [o.order for o in (self.get(i, consistent=False) for i in ids[:limit]) if o is not None]
        return found, len(ids) > limit

    def settle(self, before: OrderRecord, events: Sequence[OrderEvent], after: Order, meta: EventMeta,
               notification: Notification) -> OrderRecord:
        written = before.then(events, after, meta.traceparent)
        items = [
            {"Put": {"TableName": self.table, "Item": it.dump(it.order_item(written)),
                     "ConditionExpression": "#version = :previous", "ExpressionAttributeNames": {"#version": "version"},
                     "ExpressionAttributeValues": it.dump({":previous": before.order.version})}},
            {"Put": {"TableName": self.table, "Item": it.dump(it.notification_item(notification)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
        try:
            transact(self.client, items)
        except ClientError as exc:
            if condition_failed(exc) or conflicted(exc):
                raise ConcurrencyConflict(f"{after.id} is no longer at version {before.order.version}") from exc
            raise
        return written

    def record_task(self, order_id: str, payment: PaymentRecord) -> bool:
        """The inbox item and the order's payment in one transaction: a task recorded once."""
        items = [
            {"Put": {"TableName": self.table, "Item": it.dump(it.inbox_item(order_id, payment.payment.id,
                                                                              payment.payment.created_at)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self.table, "Item": it.dump(it.payment_item(payment)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
        try:
            transact(self.client, items)
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def notifications(self, customer_id: str, *, limit: int) -> list[Notification]:
        page = self.client.query(
            TableName=self.table, ScanIndexForward=False, Limit=limit,
            KeyConditionExpression="pk = :c AND begins_with(sk, :n)",
            ExpressionAttributeValues=it.dump({":c": customer_id, ":n": it.NOTIFICATION_PREFIX}))
        return [it.notification_from_item(it.load(i)) for i in page.get("Items", [])]
