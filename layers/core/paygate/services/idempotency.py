"""Idempotent POSTs: one object per key, the first answer replayed, a different request refused.

The key is written in the same transaction as the object it creates, conditioned on not existing (or
having expired): the request that wins creates both; a request that loses learns from the refused
condition which request used the key and what it made, and answers that again. There is no claim
and no lock, so a crash can never leave a key without its object, an object without its key, or a
key locked while nobody works on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paygate.domain.idempotency import fingerprint, valid_key
from paygate.services.errors import IdempotencyKeyReused, InvalidRequest
from paygate.services.ports.idempotency import IdempotencyRecord

KEY_TTL_SECONDS = 24 * 3600


def require_key(key: str | None) -> str:
    if key is None or key == "":
        raise InvalidRequest(
            "an Idempotency-Key header is required on this request (1 to 255 characters)",
            param="Idempotency-Key", code="idempotency_key_missing",
        )
    if not valid_key(key):
        raise InvalidRequest(
            "the Idempotency-Key header must be 1 to 255 printable characters",
            param="Idempotency-Key", code="idempotency_key_invalid",
        )
    return key


@dataclass(frozen=True)
class IdempotentRequest:
    """A creating request and its key: what the creating transaction writes, and how a loser checks
    that the key's first use was this same request."""

    scope_key: str
    fingerprint: str
    now: int  # epoch seconds

    def record(self, ref: str, ttl_seconds: int = KEY_TTL_SECONDS) -> IdempotencyRecord:
        return IdempotencyRecord(self.scope_key, self.fingerprint, ref, self.now + ttl_seconds)

    def replay_of(self, existing: IdempotencyRecord) -> str:
        """The id of what the key's first use created; IdempotencyKeyReused when that was another request."""
        if existing.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used with a different request", param="Idempotency-Key"
            )
        return existing.ref


def idempotent_request(*, merchant_id: str, key: str, method: str, path: str, body: Any,
                       now: int) -> IdempotentRequest:
    """Keys are scoped to the merchant; the fingerprint covers the method, the path and the parsed body."""
    return IdempotentRequest(f"{merchant_id}#{key}", fingerprint(method, path, body), now)
