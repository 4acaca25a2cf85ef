"""Merchants and their webhook endpoints."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Merchant:
    id: str
    name: str
    created_at: str


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    merchant_id: str
    url: str
    secret: str
    enabled_events: tuple[str, ...]
    created_at: str
    description: str | None = None
    # After a rotation the secret before it keeps signing beside the new one until this (unix seconds).
    previous_secret: str | None = None
    previous_secret_expires: int | None = None

    def signing_secrets(self, now: int) -> tuple[str, ...]:
        """The secrets a webhook sent at ``now`` is signed with: the current one, and the previous one
        while its overlap lasts (Standard Webhooks carries several space-separated signatures)."""
        if self.previous_secret and self.previous_secret_expires is not None and now < self.previous_secret_expires:
            return (self.secret, self.previous_secret)
        return (self.secret,)

    def rotated(self, new_secret: str, now: int, overlap_seconds: int) -> "WebhookEndpoint":
        return replace(self, secret=new_secret, previous_secret=self.secret,
                       previous_secret_expires=now + overlap_seconds)


@dataclass(frozen=True)
class ApiKey:
    """A merchant's API key as it is listed: never the key itself (only its hash is stored; the key is
    shown once, when it is made), its first characters to tell it apart, and when it was last used."""

    id: str
    merchant_id: str
    prefix: str
    created_at: str
    last_used_at: str | None = None


def hash_api_key(key: str) -> str:
    # API keys carry 192 random bits, so a plain SHA-256 is enough (no password stretching needed).
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
