"""Merchants and their API keys (the merchants table): a merchant's profile, and each key twice: by its
hash (what a request is authenticated by; only the hash is stored) and under its merchant (what lists
and revokes it). The profile counts the keys, so that the last one can never be revoked: a revocation
is one transaction, conditioned on that count being above one. And a merchant's routing, one item
beside its profile (`ROUTING`), replaced whole by `PUT /v1/routing`."""

from __future__ import annotations

from typing import Any

from paygate.adapters.dynamodb.errors import Refused, transact, write
from paygate.adapters.dynamodb.items import batch_get, dump, load, new_put
from paygate.domain.accounts import ApiKey, Merchant
from paygate.domain.providers.routing import Condition, Routing, Rule
from paygate.services.ports.merchants import KeyOwner, LastKey

KEYS = "api_keys"  # on the profile: how many keys the merchant has (absent: one, made with the merchant)


def merchant_partition(merchant_id: str) -> str:
    return f"MERCHANT#{merchant_id}"


def merchant_key(merchant_id: str) -> dict[str, str]:
    return {"pk": merchant_partition(merchant_id), "sk": "PROFILE"}


def merchant_item(m: Merchant) -> dict[str, Any]:
    return {**merchant_key(m.id), "kind": "merchant", "merchant_id": m.id, "name": m.name,
            "created_at": m.created_at, KEYS: 1}


def api_key_key(key_hash: str) -> dict[str, str]:
    return {"pk": f"APIKEY#{key_hash}", "sk": "APIKEY"}


def listed_key_key(merchant_id: str, key_id: str) -> dict[str, str]:
    return {"pk": merchant_partition(merchant_id), "sk": f"APIKEY#{key_id}"}


def api_key_item(key_hash: str, m: Merchant, key: ApiKey) -> dict[str, Any]:
    """What authenticates a request: the merchant (read with the key, in one GetItem), the key's id,
    and when it was last used."""
    return {**api_key_key(key_hash), "kind": "api_key", "merchant_id": m.id, "name": m.name,
            "created_at": m.created_at, "key_id": key.id, "prefix": key.prefix, "key_created_at": key.created_at}


def listed_key_item(key_hash: str, key: ApiKey) -> dict[str, Any]:
    return {**listed_key_key(key.merchant_id, key.id), "kind": "listed_api_key", "key_hash": key_hash,
            "prefix": key.prefix, "created_at": key.created_at}


def merchant_from_key_item(item: dict[str, Any]) -> Merchant:
    return Merchant(id=item["merchant_id"], name=item["name"], created_at=item["created_at"])


def owner_from_key_item(key_hash: str, item: dict[str, Any]) -> KeyOwner:
    # A key made before keys were listed has no id: it authenticates, and is never touched nor listed.
    return KeyOwner(merchant_from_key_item(item), key_hash, item.get("key_id"), item.get("last_used_at"))


class MerchantsTable:
    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def create(self, merchant: Merchant, key: ApiKey, key_hash: str) -> None:
        transact(self.client, [new_put(self.table, merchant_item(merchant)),
                               new_put(self.table, api_key_item(key_hash, merchant, key)),
                               new_put(self.table, listed_key_item(key_hash, key))])

    def merchant(self, merchant_id: str) -> Merchant | None:
        found = self.client.get_item(TableName=self.table, Key=dump(merchant_key(merchant_id))).get("Item")
        return merchant_from_key_item(load(found)) if found else None

    def by_key_hash(self, key_hash: str) -> Merchant | None:
        found = self.owner(key_hash)
        return found.merchant if found else None

    def owner(self, key_hash: str) -> KeyOwner | None:
        """Eventually consistent (half the price): a key revoked a moment ago may still be read for as
        long as DynamoDB takes to propagate the delete (typically under a second, on AWS only)."""
        found = self.client.get_item(TableName=self.table, Key=dump(api_key_key(key_hash))).get("Item")
        return owner_from_key_item(key_hash, load(found)) if found else None

    def add_key(self, merchant: Merchant, key: ApiKey, key_hash: str) -> None:
        transact(self.client, [
            new_put(self.table, api_key_item(key_hash, merchant, key)),
            new_put(self.table, listed_key_item(key_hash, key)),
            {"Update": {"TableName": self.table, "Key": dump(merchant_key(merchant.id)),
                        "UpdateExpression": "SET #keys = if_not_exists(#keys, :one) + :one",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeNames": {"#keys": KEYS},
                        "ExpressionAttributeValues": dump({":one": 1})}}])

    def keys(self, merchant_id: str) -> list[ApiKey]:
        """Oldest first: the listed keys (one Query), with when each was last used (one BatchGetItem of
        the keys by hash, where the authentication writes it)."""
        query: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :p AND begins_with(sk, :k)",
            "ExpressionAttributeValues": dump({":p": merchant_partition(merchant_id), ":k": "APIKEY#"})}
        listed: list[dict[str, Any]] = []
        while True:
            page = self.client.query(**query)
            listed += [load(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        used = {o.key_hash: o.last_used_at for o in batch_get(
            self.client, self.table, [api_key_key(i["key_hash"]) for i in listed],
            lambda item: owner_from_key_item(item["pk"].removeprefix("APIKEY#"), item))}
        found = [ApiKey(id=i["sk"].removeprefix("APIKEY#"), merchant_id=merchant_id, prefix=i["prefix"],
                        created_at=i["created_at"], last_used_at=used.get(i["key_hash"])) for i in listed]
        return sorted(found, key=lambda k: (k.created_at, k.id))

    def revoke_key(self, merchant_id: str, key_id: str) -> bool:
        """Both items of the key deleted and the count lowered, in one transaction that holds only while
        another key is left (LastKey otherwise). False: no such key (revoked already)."""
        found = self.client.get_item(TableName=self.table, Key=dump(listed_key_key(merchant_id, key_id)),
                                     ConsistentRead=True).get("Item")
        if not found:
            return False
        key_hash = load(found)["key_hash"]
        try:
            transact(self.client, [
                {"Delete": {"TableName": self.table, "Key": dump(listed_key_key(merchant_id, key_id)),
                            "ConditionExpression": "attribute_exists(pk)"}},
                {"Delete": {"TableName": self.table, "Key": dump(api_key_key(key_hash))}},
                {"Update": {"TableName": self.table, "Key": dump(merchant_key(merchant_id)),
                            "UpdateExpression": "SET #keys = #keys - :one",
                            "ConditionExpression": "#keys > :one",
                            "ExpressionAttributeNames": {"#keys": KEYS},
                            "ExpressionAttributeValues": dump({":one": 1})}}])
        except Refused as refused:
            if refused.failed_at(0):
                return False
            if refused.failed_at(2) or not refused.reasons_known:
                still = self.client.get_item(TableName=self.table, Key=dump(listed_key_key(merchant_id, key_id)),
                                             ConsistentRead=True).get("Item")
                if not still:
                    return False
                raise LastKey(key_id) from refused
            raise
        return True

    def touch_key(self, key_hash: str, at: str, unless_since: str) -> None:
        """`last_used_at` = `at`, unless it was written after `unless_since` (by another request
        or another warm function): one UpdateItem, whose refusal is the expected race, not an error."""
        try:
            write(self.client.update_item, TableName=self.table, Key=dump(api_key_key(key_hash)),
                  UpdateExpression="SET last_used_at = :at",
                  ConditionExpression="attribute_exists(pk) AND "
                                      "(attribute_not_exists(last_used_at) OR last_used_at <= :since)",
                  ExpressionAttributeValues=dump({":at": at, ":since": unless_since}))
        except Refused:
            pass


def routing_key(merchant_id: str) -> dict[str, str]:
    return {"pk": merchant_partition(merchant_id), "sk": "ROUTING"}


def routing_item(merchant_id: str, routing: Routing) -> dict[str, Any]:
    rules = [{"if": {k: v for k, v in vars(r.condition).items() if v is not None}, "providers": list(r.providers)}
             for r in routing.rules]
    return {**routing_key(merchant_id), "kind": "routing", "rules": rules, "default": list(routing.default)}


def routing_from_item(item: dict[str, Any]) -> Routing:
    return Routing(rules=tuple(Rule(Condition(**r["if"]), tuple(r["providers"])) for r in item.get("rules") or []),
                   default=tuple(item["default"]))


class RoutingTable:
    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def get(self, merchant_id: str) -> Routing | None:
        found = self.client.get_item(TableName=self.table, Key=dump(routing_key(merchant_id))).get("Item")
        return routing_from_item(load(found)) if found else None

    def put(self, merchant_id: str, routing: Routing) -> None:
        self.client.put_item(TableName=self.table, Item=dump(routing_item(merchant_id, routing)))
