"""Merchants and their API keys (the merchants table): a merchant's profile, and each key by its hash
(only the hash is stored), written together; and a merchant's routing, one item beside its profile
(`ROUTING`), replaced whole by `PUT /v1/routing`."""

from __future__ import annotations

from typing import Any

from paygate.adapters.dynamodb.errors import transact
from paygate.adapters.dynamodb.items import dump, load, new_put
from paygate.domain.accounts import Merchant
from paygate.domain.providers.routing import Condition, Routing, Rule


def merchant_partition(merchant_id: str) -> str:
    return f"MERCHANT#{merchant_id}"


def merchant_item(m: Merchant) -> dict[str, Any]:
    return {"pk": merchant_partition(m.id), "sk": "PROFILE", "kind": "merchant", "merchant_id": m.id,
            "name": m.name, "created_at": m.created_at}


def api_key_key(key_hash: str) -> dict[str, str]:
    return {"pk": f"APIKEY#{key_hash}", "sk": "APIKEY"}


def api_key_item(key_hash: str, m: Merchant) -> dict[str, Any]:
    return {**api_key_key(key_hash), "kind": "api_key", "merchant_id": m.id, "name": m.name,
            "created_at": m.created_at}


def merchant_from_key_item(item: dict[str, Any]) -> Merchant:
    return Merchant(id=item["merchant_id"], name=item["name"], created_at=item["created_at"])


class MerchantsTable:
    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def create(self, merchant: Merchant, key_hash: str) -> None:
        transact(self.client, [new_put(self.table, merchant_item(merchant)),
                               new_put(self.table, api_key_item(key_hash, merchant))])

    def by_key_hash(self, key_hash: str) -> Merchant | None:
        found = self.client.get_item(TableName=self.table, Key=dump(api_key_key(key_hash))).get("Item")
        return merchant_from_key_item(load(found)) if found else None

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
