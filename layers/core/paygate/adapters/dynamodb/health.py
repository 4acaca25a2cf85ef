"""Providers' health in the merchants table, shared by every processor: a breaker item per provider
(`PROVIDER#<id>` / `BREAKER`), written only when it changes (a failure, the first success after
failures, a half-open trial claimed), and a counter item per provider and minute (`WINDOW#<minute>`,
expiring after a day), one UpdateItem per attempt. Each processor reads the breakers through a cache
of a few seconds, so a payment pays for one read every few seconds, not one per charge."""

from __future__ import annotations

import time
from typing import Any, Callable

from paygate.adapters.dynamodb.items import dump, load
from paygate.domain.providers.health import Breaker, Window

WINDOW_MINUTES = 5
TTL_SECONDS = 86400


def _key(provider: str, sk: str) -> dict[str, Any]:
    return dump({"pk": f"PROVIDER#{provider}", "sk": sk})


class ProviderHealthTable:
    def __init__(self, client: Any, table: str, *, cache_seconds: float = 2.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.client, self.table, self.cache_seconds, self.clock = client, table, cache_seconds, clock
        self._cache: dict[str, tuple[float, Breaker]] = {}

    def breaker(self, provider: str) -> Breaker:
        now = self.clock()
        cached = self._cache.get(provider)
        if cached and now - cached[0] < self.cache_seconds:
            return cached[1]
        item = self.client.get_item(TableName=self.table, Key=_key(provider, "BREAKER")).get("Item")
        found = load(item) if item else {}
        breaker = Breaker(provider, int(found.get("consecutive", 0)), float(found.get("last_failure", 0)) / 1000,
                          float(found.get("trial_at", 0)) / 1000)
        self._cache[provider] = (now, breaker)
        return breaker

    def record(self, provider: str, *, unavailable: bool) -> int:
        now = self.clock()
        minute = int(now // 60)
        self.client.update_item(
            TableName=self.table, Key=_key(provider, f"WINDOW#{minute}"),
            UpdateExpression="ADD attempts :one, failures :f SET expires_at = :ttl",
            ExpressionAttributeValues=dump({":one": 1, ":f": 1 if unavailable else 0,
                                            ":ttl": int(now) + TTL_SECONDS}))
        cached = self._cache.get(provider)
        if unavailable:
            written = self.client.update_item(
                TableName=self.table, Key=_key(provider, "BREAKER"),
                UpdateExpression="ADD consecutive :one SET last_failure = :now",
                ExpressionAttributeValues=dump({":one": 1, ":now": int(now * 1000)}), ReturnValues="UPDATED_NEW")
            self._cache.pop(provider, None)
            return int(load(written.get("Attributes") or {}).get("consecutive", 0))
        if cached is None or cached[1].consecutive_failures:
            self.client.update_item(TableName=self.table, Key=_key(provider, "BREAKER"),
                                    UpdateExpression="SET consecutive = :zero",
                                    ExpressionAttributeValues=dump({":zero": 0}))
            self._cache[provider] = (now, Breaker(provider))
        return 0

    def claim_trial(self, provider: str, cooldown: float) -> bool:
        """The half-open trial, claimed by one processor (a conditional write)."""
        now = self.clock()
        try:
            self.client.update_item(
                TableName=self.table, Key=_key(provider, "BREAKER"), UpdateExpression="SET trial_at = :now",
                ConditionExpression="attribute_not_exists(trial_at) OR trial_at <= :before",
                ExpressionAttributeValues=dump({":now": int(now * 1000), ":before": int((now - cooldown) * 1000)}))
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        self._cache.pop(provider, None)
        return True

    def window(self, provider: str) -> Window:
        minute = int(self.clock() // 60)
        keys = [_key(provider, f"WINDOW#{m}") for m in range(minute - WINDOW_MINUTES + 1, minute + 1)]
        items = self.client.batch_get_item(RequestItems={self.table: {"Keys": keys}})["Responses"].get(self.table, [])
        rows = [load(i) for i in items]
        return Window(sum(int(r.get("attempts", 0)) for r in rows), sum(int(r.get("failures", 0)) for r in rows))
