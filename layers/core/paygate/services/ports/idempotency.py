"""Idempotency keys as the creating writes store them, and what a refused key says."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IdempotencyRecord:
    """What a used Idempotency-Key remembers: which request it was (the fingerprint) and what that
    request made (`ref`, the id of the object). The answer is rendered again from the object, so the
    merchant's text is stored once, on the object itself."""

    scope_key: str  # "<merchant id>#<key>"
    fingerprint: str
    ref: str
    expires_at: int  # epoch seconds; a key past it is free again (DynamoDB TTL deletes it later)


class KeyAlreadyUsed(Exception):
    """The creating write lost to an earlier request with the same key: nothing was written."""

    def __init__(self, existing: IdempotencyRecord) -> None:
        super().__init__(f"idempotency key {existing.scope_key!r} was used already")
        self.existing = existing


class KeyBusy(Exception):
    """Another request with the same key is being written at this very moment (a transaction
    conflict that outlasted its retries)."""
