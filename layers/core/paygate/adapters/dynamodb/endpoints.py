"""Webhook endpoints (the merchants table, under their merchant's partition) and the deliveries
that never arrived (FAILED#<endpoint>#<time>#<event>, kept for the merchant to see)."""

from __future__ import annotations

from typing import Any

from paygate.adapters.dynamodb.errors import Refused, write
from paygate.adapters.dynamodb.idempotency import IdempotencyKeys
from paygate.adapters.dynamodb.items import dump, load
from paygate.adapters.dynamodb.merchants import merchant_partition
from paygate.domain.accounts import WebhookEndpoint
from paygate.domain.webhooks import FailedDelivery
from paygate.services.ports.idempotency import IdempotencyRecord

ENDPOINT_PREFIX = "ENDPOINT#"


def endpoint_key(merchant_id: str, endpoint_id: str) -> dict[str, str]:
    return {"pk": merchant_partition(merchant_id), "sk": f"{ENDPOINT_PREFIX}{endpoint_id}"}


def endpoint_item(e: WebhookEndpoint) -> dict[str, Any]:
    return {**endpoint_key(e.merchant_id, e.id), "kind": "webhook_endpoint", "endpoint_id": e.id,
            "merchant_id": e.merchant_id, "url": e.url, "secret": e.secret,
            "enabled_events": list(e.enabled_events), "created_at": e.created_at,
            "description": e.description, "previous_secret": e.previous_secret,
            "previous_secret_expires": e.previous_secret_expires}


def endpoint_from_item(item: dict[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(id=item["endpoint_id"], merchant_id=item["merchant_id"], url=item["url"],
                           secret=item["secret"], enabled_events=tuple(item["enabled_events"]),
                           created_at=item["created_at"], description=item.get("description"),
                           previous_secret=item.get("previous_secret"),
                           previous_secret_expires=(int(item["previous_secret_expires"])
                                                    if item.get("previous_secret_expires") is not None else None))


def failure_prefix(endpoint_id: str) -> str:
    return f"FAILED#{endpoint_id}#"


def failure_item(merchant_id: str, f: FailedDelivery) -> dict[str, Any]:
    # Sorted by time of failure within the endpoint; the event id keeps keys unique.
    return {"pk": merchant_partition(merchant_id), "sk": f"{failure_prefix(f.endpoint_id)}{f.failed_at}#{f.event_id}",
            "kind": "failed_delivery", "endpoint_id": f.endpoint_id, "event_id": f.event_id,
            "event_type": f.event_type, "created_at": f.created_at, "failed_at": f.failed_at,
            "attempts": f.attempts, "object": f.object}


def failure_from_item(item: dict[str, Any]) -> FailedDelivery:
    return FailedDelivery(endpoint_id=item["endpoint_id"], event_id=item["event_id"], event_type=item["event_type"],
                          created_at=item["created_at"], failed_at=item["failed_at"], attempts=item["attempts"],
                          object=item["object"])


class EndpointsTable:
    def __init__(self, client: Any, table: str, keys: IdempotencyKeys) -> None:
        self.client, self.table, self.keys = client, table, keys

    def create(self, endpoint: WebhookEndpoint, key: IdempotencyRecord, now: int) -> None:
        self.keys.create_with(self.table, endpoint_item(endpoint), key, now)

    def list(self, merchant_id: str) -> list[WebhookEndpoint]:
        found: list[WebhookEndpoint] = []
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=dump({":pk": merchant_partition(merchant_id), ":prefix": ENDPOINT_PREFIX}))
        for page in pages:
            found += [endpoint_from_item(load(i)) for i in page.get("Items", [])]
        return sorted(found, key=lambda e: (e.created_at, e.id))

    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        found = self.client.get_item(TableName=self.table, Key=dump(endpoint_key(merchant_id, endpoint_id))).get("Item")
        return endpoint_from_item(load(found)) if found else None

    def replace_secret(self, before: WebhookEndpoint, after: WebhookEndpoint) -> bool:
        """Write ``after`` if the endpoint still has ``before``'s secret (False: it is gone, or another
        rotation came first)."""
        try:
            write(self.client.put_item, TableName=self.table, Item=dump(endpoint_item(after)),
                  ConditionExpression="attribute_exists(pk) AND secret = :s",
                  ExpressionAttributeValues=dump({":s": before.secret}))
            return True
        except Refused:
            return False

    def record_failure(self, merchant_id: str, failure: FailedDelivery) -> None:
        self.client.put_item(TableName=self.table, Item=dump(failure_item(merchant_id, failure)))

    def failures(self, merchant_id: str, endpoint_id: str, limit: int) -> list[FailedDelivery]:
        page = self.client.query(
            TableName=self.table, ScanIndexForward=False, Limit=limit,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=dump({":pk": merchant_partition(merchant_id),
                                            ":prefix": failure_prefix(endpoint_id)}),
        )
        return [failure_from_item(load(i)) for i in page.get("Items", [])]

    def delete(self, merchant_id: str, endpoint_id: str) -> bool:
        try:
            write(self.client.delete_item, TableName=self.table, Key=dump(endpoint_key(merchant_id, endpoint_id)),
                  ConditionExpression="attribute_exists(pk)")
            return True
        except Refused:
            return False
