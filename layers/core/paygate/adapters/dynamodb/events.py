"""Events and deliveries (the events table): a merchant's events (the webhook bodies) and each
endpoint's delivery attempts, every item gone after its `expires_at` (the table's TTL: 30 days). Ids
sort by time: a newest-first list is one descending Query of a partition."""

from __future__ import annotations

import json
import random
import time
from typing import Any, Sequence

from paygate.adapters.dynamodb.items import dump, load
from paygate.domain.webhooks import EVENT_RETENTION_SECONDS, DeliveryAttempt


def events_partition(merchant_id: str) -> str:
    return f"EVENTS#{merchant_id}"


def deliveries_partition(endpoint_id: str) -> str:
    return f"DELIVERIES#{endpoint_id}"


def event_item(merchant_id: str, event: dict[str, Any], expires_at: int) -> dict[str, Any]:
    return {"pk": events_partition(merchant_id), "sk": event["id"], "type": event["type"],
            "body": json.dumps(event, separators=(",", ":")), "expires_at": expires_at}


def event_from_item(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(item["body"])


def attempt_item(a: DeliveryAttempt, expires_at: int) -> dict[str, Any]:
    return {"pk": deliveries_partition(a.endpoint_id), "sk": a.id, "event_id": a.event_id,
            "event_type": a.event_type, "attempt": a.attempt, "at": a.at, "status_code": a.status_code,
            "error": a.error, "next_attempt_at": a.next_attempt_at, "expires_at": expires_at}


def attempt_from_item(endpoint_id: str, item: dict[str, Any]) -> DeliveryAttempt:
    return DeliveryAttempt(endpoint_id=endpoint_id, event_id=item["event_id"], event_type=item["event_type"],
                           attempt=item["attempt"], at=item["at"], status_code=item.get("status_code"),
                           error=item.get("error"), next_attempt_at=item.get("next_attempt_at"), id=item["sk"])


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
            requests = {self.table: [{"PutRequest": {"Item": dump(i)}} for i in unique[start:start + self.BATCH]]}
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
        self._put_all([event_item(merchant_id, e, expires) for e in events])

    def record_attempts(self, merchant_id: str, attempts: Sequence[DeliveryAttempt]) -> None:
        expires = self._expires()
        self._put_all([attempt_item(a, expires) for a in attempts])

    def event(self, merchant_id: str, event_id: str) -> dict[str, Any] | None:
        found = self.client.get_item(TableName=self.table,
                                     Key=dump({"pk": events_partition(merchant_id), "sk": event_id})).get("Item")
        return event_from_item(load(found)) if found else None

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
        query["ExpressionAttributeValues"] = dump(query["ExpressionAttributeValues"])
        found: list[dict[str, Any]] = []
        while len(found) <= limit:
            page = self.client.query(**query)
            found += [load(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        now = int(self.clock())  # TTL deletes within days of expiry, not at once: hide what has expired
        found = [i for i in found if i.get("expires_at", now + 1) > now]
        return found[:limit], len(found) > limit

    def events(self, merchant_id: str, *, event_type: str | None, limit: int,
               starting_after: str | None) -> tuple[list[dict[str, Any]], bool]:
        found, more = self._newest_first(events_partition(merchant_id), limit, starting_after, event_type)
        return [event_from_item(i) for i in found], more

    def attempts(self, endpoint_id: str, *, limit: int,
                 starting_after: str | None) -> tuple[list[DeliveryAttempt], bool]:
        found, more = self._newest_first(deliveries_partition(endpoint_id), limit, starting_after)
        return [attempt_from_item(endpoint_id, i) for i in found], more
