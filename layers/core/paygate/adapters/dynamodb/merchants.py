"""Merchants and their API keys (the merchants table): a merchant's profile, and each key by its hash
(only the hash is stored), written together."""

from __future__ import annotations

from typing import Any

from paygate.adapters.dynamodb.errors import transact
from paygate.adapters.dynamodb.items import dump, load, new_put
from paygate.domain.accounts import Merchant


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
