"""A merchant's routing in the merchants table: one item beside its profile (`ROUTING`), replaced
whole by `PUT /v1/routing`."""

from __future__ import annotations

from typing import Any

from paygate.adapters.dynamodb.items import dump, load
from paygate.adapters.dynamodb.merchants import merchant_partition
from paygate.domain.providers.routing import Condition, Routing, Rule


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
