"""Merchants and their webhook endpoints."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class ApiKey:
    """Only the hash is ever stored; the key itself is shown once, when it is made."""

    key_hash: str
    merchant_id: str
    prefix: str = field(default="sk_test_")


def hash_api_key(key: str) -> str:
    # API keys carry 192 random bits, so a plain SHA-256 is enough (no password stretching needed).
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
