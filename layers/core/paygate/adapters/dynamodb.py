"""DynamoDB repositories (boto3's low-level client: one TransactWriteItems per state change)."""

from __future__ import annotations

import json
import time
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from paygate.adapters import items as it
from paygate.domain.accounts import Merchant, WebhookEndpoint
from paygate.domain.payment import Payment, PaymentEvent
from paygate.domain.webhooks import FailedDelivery
from paygate.services.ports import (
    Claimed,
    ClaimResult,
    ConcurrencyConflict,
    EventMeta,
    IdempotencyCompletion,
    InProgress,
    Mismatch,
    Replay,
    StoredEvent,
    StoredResponse,
)

_ser = TypeSerializer()
_de = TypeDeserializer()


def dump(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in item.items() if v is not None}


def load(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in item.items()}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _cancelled_by_condition(exc: ClientError) -> bool:
    if _code(exc) == "ConditionalCheckFailedException":
        return True
    if _code(exc) != "TransactionCanceledException":
        return False
    reasons = exc.response.get("CancellationReasons") or []
    if reasons:
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)
    return "ConditionalCheckFailed" in str(exc)


def _conflicted(exc: ClientError) -> bool:
    """Cancelled only because another request touched one of the items at the same moment."""
    if _code(exc) == "TransactionConflictException":
        return True
    reasons = exc.response.get("CancellationReasons") or []
    return _code(exc) == "TransactionCanceledException" and any(
        r.get("Code") == "TransactionConflict" for r in reasons) and not _cancelled_by_condition(exc)


def transact(client: Any, items: list[dict[str, Any]], tries: int = 3) -> None:
    """TransactWriteItems, tried again when it lost a race that did not break any condition.
    botocore does not retry TransactionConflict; DynamoDB says the caller may."""
    for attempt in range(1, tries + 1):
        try:
            client.transact_write_items(TransactItems=items)
            return
        except ClientError as exc:
            if attempt == tries or not _conflicted(exc):
                raise
            time.sleep(0.05 * attempt)


class IdempotencyTable:
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"

    def __init__(self, client: Any, table: str, *, ttl_seconds: int, lock_seconds: int) -> None:
        self.client, self.table = client, table
        self.ttl_seconds, self.lock_seconds = ttl_seconds, lock_seconds

    def claim(self, scope_key: str, fingerprint: str, lock_id: str, now: int) -> ClaimResult:
        for _ in range(3):
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item=dump({"pk": scope_key, "state": self.IN_PROGRESS, "fingerprint": fingerprint,
                               "lock_id": lock_id, "locked_until": now + self.lock_seconds,
                               "expires_at": now + self.ttl_seconds}),
                    ConditionExpression="attribute_not_exists(pk) OR (#s = :in_progress AND locked_until < :now)",
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues=dump({":in_progress": self.IN_PROGRESS, ":now": now}),
                )
                return Claimed(lock_id)
            except ClientError as exc:
                if _conflicted(exc):
                    return InProgress()  # the first request's transaction is writing this key now
                if not _cancelled_by_condition(exc):
                    raise
            found = self.client.get_item(TableName=self.table, Key=dump({"pk": scope_key}),
                                         ConsistentRead=True).get("Item")
            if found is None:
                continue  # released in between: try to claim again
            existing = it.plain(load(found))
            if existing["fingerprint"] != fingerprint:
                return Mismatch()
            if existing["state"] == self.COMPLETED:
                r = existing["response"]
                return Replay(StoredResponse(r["status"], json.loads(r["body"]), r.get("headers") or {}))
            return InProgress()
        return InProgress()

    def release(self, scope_key: str, lock_id: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.table, Key=dump({"pk": scope_key}),
                # Only a key this request still holds and never completed: if the work's transaction
                # landed but its answer was lost, the key must stay, or a retry would pay twice.
                ConditionExpression="lock_id = :lock AND #s = :in_progress",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=dump({":lock": lock_id, ":in_progress": self.IN_PROGRESS}),
            )
        except ClientError as exc:
            if not _cancelled_by_condition(exc):
                raise

    def completion_update(self, completion: IdempotencyCompletion) -> dict[str, Any]:
        """The transaction item that marks the key completed, only if this request still holds it."""
        r = completion.response
        return {"Update": {
            "TableName": self.table,
            "Key": dump({"pk": completion.scope_key}),
            "UpdateExpression": "SET #s = :completed, #r = :response REMOVE locked_until",
            "ConditionExpression": "lock_id = :lock",
            "ExpressionAttributeNames": {"#s": "state", "#r": "response"},
            "ExpressionAttributeValues": dump({
                ":completed": self.COMPLETED, ":lock": completion.lock_id,
                ":response": {"status": r.status, "body": json.dumps(r.body, separators=(",", ":")),
                              "headers": r.headers},
            }),
        }}


class MerchantsTable:
    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def create(self, merchant: Merchant, key_hash: str) -> None:
        transact(self.client, [
            {"Put": {"TableName": self.table, "Item": dump(it.merchant_item(merchant)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self.table, "Item": dump(it.api_key_item(key_hash, merchant)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])

    def by_key_hash(self, key_hash: str) -> Merchant | None:
        found = self.client.get_item(TableName=self.table, Key=dump({"pk": f"APIKEY#{key_hash}", "sk": "APIKEY"}),
                                     ConsistentRead=True).get("Item")
        return it.merchant_from_key_item(load(found)) if found else None


class EndpointsTable:
    def __init__(self, client: Any, table: str, idempotency: IdempotencyTable) -> None:
        self.client, self.table, self.idempotency = client, table, idempotency

    def create(self, endpoint: WebhookEndpoint, completion: IdempotencyCompletion) -> None:
        transact(self.client, [
            {"Put": {"TableName": self.table, "Item": dump(it.endpoint_item(endpoint)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            self.idempotency.completion_update(completion),
        ])

    def list(self, merchant_id: str) -> list[WebhookEndpoint]:
        found: list[WebhookEndpoint] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": dump({":pk": f"MERCHANT#{merchant_id}", ":prefix": "ENDPOINT#"}),
        }
        while True:
            page = self.client.query(**kwargs)
            found += [it.endpoint_from_item(load(i)) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(found, key=lambda e: (e.created_at, e.id))
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        found = self.client.get_item(TableName=self.table, Key=dump(it.endpoint_key(merchant_id, endpoint_id)),
                                     ConsistentRead=True).get("Item")
        return it.endpoint_from_item(load(found)) if found else None

    def record_failure(self, merchant_id: str, failure: FailedDelivery) -> None:
        self.client.put_item(TableName=self.table, Item=dump(it.failure_item(merchant_id, failure)))

    def failures(self, merchant_id: str, endpoint_id: str, limit: int) -> list[FailedDelivery]:
        page = self.client.query(
            TableName=self.table, ScanIndexForward=False, Limit=limit,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=dump({":pk": f"MERCHANT#{merchant_id}",
                                            ":prefix": it.failure_prefix(endpoint_id)}),
        )
        return [it.failure_from_item(load(i)) for i in page.get("Items", [])]

    def delete(self, merchant_id: str, endpoint_id: str) -> bool:
        try:
            self.client.delete_item(TableName=self.table, Key=dump(it.endpoint_key(merchant_id, endpoint_id)),
                                    ConditionExpression="attribute_exists(pk)")
            return True
        except ClientError as exc:
            if _cancelled_by_condition(exc):
                return False
            raise


class AggregatesTable:
    """Payments: a state item and one event item per change, always written together."""

    def __init__(self, client: Any, table: str, idempotency: IdempotencyTable) -> None:
        self.client, self.table, self.idempotency = client, table, idempotency

    def _event_put(self, event: PaymentEvent, payment: Payment, meta: EventMeta) -> dict[str, Any]:
        return {"Put": {"TableName": self.table, "Item": dump(it.event_item(event, payment, meta)),
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def create(self, payment: Payment, event: PaymentEvent, meta: EventMeta,
               completion: IdempotencyCompletion) -> None:
        transact(self.client, [
            {"Put": {"TableName": self.table, "Item": dump(it.payment_item(payment)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            self._event_put(event, payment, meta),
            self.idempotency.completion_update(completion),
        ])

    def append(self, payment: Payment, event: PaymentEvent, meta: EventMeta) -> None:
        try:
            transact(self.client, [
                {"Put": {"TableName": self.table, "Item": dump(it.payment_item(payment)),
                         "ConditionExpression": "version = :previous",
                         "ExpressionAttributeValues": dump({":previous": payment.version - 1})}},
                self._event_put(event, payment, meta),
            ])
        except ClientError as exc:
            if _cancelled_by_condition(exc):
                raise ConcurrencyConflict(f"{payment.id} is no longer at version {payment.version - 1}") from exc
            raise

    def get(self, payment_id: str) -> Payment | None:
        found = self.client.get_item(TableName=self.table, Key=dump({"pk": payment_id, "sk": it.STATE_SK}),
                                     ConsistentRead=True).get("Item")
        return it.payment_from_item(load(found)) if found else None

    def list(self, merchant_id: str, *, limit: int, starting_after: Payment | None,
             status: str | None) -> tuple[list[Payment], bool]:
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": "gsi1", "ScanIndexForward": False,
            "KeyConditionExpression": "gsi1pk = :m",
            "ExpressionAttributeValues": dump({":m": f"{merchant_id}#payments"}),
            "Limit": limit + 1,
        }
        if status:
            kwargs["FilterExpression"] = "#s = :status"
            kwargs["ExpressionAttributeNames"] = {"#s": "status"}
            kwargs["ExpressionAttributeValues"].update(dump({":status": status}))
        if starting_after is not None:
            kwargs["ExclusiveStartKey"] = dump({"pk": starting_after.id, "sk": it.STATE_SK,
                                                **it.merchant_index_key(starting_after)})
        found: list[Payment] = []
        while len(found) <= limit:
            page = self.client.query(**kwargs)
            found += [it.payment_from_item(load(i)) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit], len(found) > limit

    def events(self, payment_id: str) -> list[StoredEvent]:
        kwargs: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": dump({":p": payment_id, ":prefix": it.EVENT_SK_PREFIX}),
        }
        found: list[StoredEvent] = []
        while True:
            page = self.client.query(**kwargs)
            found += [it.stored_event_from_item(load(i)) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
