"""Idempotency keys (the idempotency table): the key's half of a creating transaction, and what a
refused key says about the request that took it first."""

from __future__ import annotations

from typing import Any

from paygate.adapters.dynamodb.errors import Refused, transact
from paygate.adapters.dynamodb.items import dump, load, new_put
from paygate.services.ports.idempotency import IdempotencyRecord, KeyAlreadyUsed, KeyBusy

KEY_INDEX = 1  # in a creating transaction, the key is the item after the object


def idempotency_item(key: IdempotencyRecord) -> dict[str, Any]:
    return {"pk": key.scope_key, "fingerprint": key.fingerprint, "ref": key.ref, "expires_at": key.expires_at}


def idempotency_from_item(item: dict[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(item["pk"], item["fingerprint"], item["ref"], item["expires_at"])


class IdempotencyKeys:
    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def put(self, key: IdempotencyRecord, now: int) -> dict[str, Any]:
        """The key is free if it was never used or its time ran out (TTL deletes it later)."""
        return {"Put": {
            "TableName": self.table, "Item": dump(idempotency_item(key)),
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
            "ExpressionAttributeValues": dump({":now": now}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}

    def create_with(self, table: str, item: dict[str, Any], key: IdempotencyRecord, now: int) -> None:
        """Write `item` (a new object) and its key together; KeyAlreadyUsed says who used the key first."""
        try:
            transact(self.client, [new_put(table, item), self.put(key, now)])
        except Refused as refused:
            if refused.conflicted:
                raise KeyBusy(key.scope_key) from refused
            raise KeyAlreadyUsed(self._taken_or_fail(refused, key, now)) from refused

    def create(self, key: IdempotencyRecord, now: int) -> None:
        """The key alone (a request that wrote nothing else); KeyAlreadyUsed says who used it first."""
        try:
            transact(self.client, [self.put(key, now)])
        except Refused as refused:
            if refused.conflicted:
                raise KeyBusy(key.scope_key) from refused
            raise KeyAlreadyUsed(self._taken_or_fail(refused, key, now, index=0)) from refused

    def get(self, scope_key: str) -> IdempotencyRecord | None:
        found = self.client.get_item(TableName=self.table, Key=dump({"pk": scope_key}), ConsistentRead=True).get("Item")
        return idempotency_from_item(load(found)) if found else None

    def taken(self, refused: Refused, key: IdempotencyRecord, now: int,
              index: int = KEY_INDEX) -> IdempotencyRecord | None:
        """Who holds the key, when it is the key's condition (item `index`) that refused the transaction:
        the old item DynamoDB returned, or (a backend that gives no reasons) the key read back, if live."""
        if refused.failed_at(index):
            old = refused.old_item(index)
            return idempotency_from_item(load(old)) if old is not None else self.get(key.scope_key)
        if not refused.reasons_known:
            existing = self.get(key.scope_key)
            return existing if existing is not None and existing.expires_at >= now else None
        return None

    def _taken_or_fail(self, refused: Refused, key: IdempotencyRecord, now: int,
                       index: int = KEY_INDEX) -> IdempotencyRecord:
        existing = self.taken(refused, key, now, index)
        if existing is None:
            raise RuntimeError(f"the new object's own id was taken, not the key {key.scope_key!r}") from refused
        return existing
