"""Merchants and API keys."""

from __future__ import annotations

import secrets

from paygate.domain.accounts import Merchant, hash_api_key
from paygate.ids import new_id, utc_now
from paygate.services.errors import AuthenticationFailed
from paygate.services.ports.merchants import MerchantRepository

KEY_PREFIX = "sk_test_"


def register_merchant(repo: MerchantRepository, name: str) -> tuple[Merchant, str]:
    """A new merchant and its API key. The key is returned once and stored only as a hash."""
    merchant = Merchant(id=new_id("mer"), name=name, created_at=utc_now())
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    repo.create(merchant, hash_api_key(api_key))
    return merchant, api_key


def authenticate(repo: MerchantRepository, authorization: str | None) -> Merchant:
    if not authorization:
        raise AuthenticationFailed("no API key: send Authorization: Bearer sk_test_...")
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX) or len(key) > 200:
        raise AuthenticationFailed("malformed API key: send Authorization: Bearer sk_test_...")
    merchant = repo.by_key_hash(hash_api_key(key))
    if merchant is None:
        raise AuthenticationFailed("invalid API key")
    return merchant
