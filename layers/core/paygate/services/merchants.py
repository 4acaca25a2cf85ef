"""Merchants and their API keys: made (shown once, stored as a hash), listed, revoked, and each
request authenticated by one.

Revocation takes effect at the next request: nothing caches a key between requests, each request
reads its key's item (an eventually consistent GetItem: on AWS a delete may take up to about a second
to be seen, on moto and LocalStack none). A merchant always keeps one key: revoking the last is refused.

When a key was last used is written at most once per LAST_USED_EVERY seconds per key (a conditional
UpdateItem, 1 WRU, skipped while the value read with the key is recent enough), never once per request.
"""

from __future__ import annotations

import secrets

from paygate.domain.accounts import ApiKey, Merchant, hash_api_key
from paygate.ids import epoch_seconds, iso_of, new_id, utc_now
from paygate.services.errors import AuthenticationFailed, InvalidState, NotFound
from paygate.services.ports.merchants import LastKey, MerchantRepository

KEY_PREFIX = "sk_test_"
PREFIX_LENGTH = len(KEY_PREFIX) + 4  # what a listing shows of a key: "sk_test_" and 4 characters
LAST_USED_EVERY = 300  # seconds: `last_used_at` is at most this old (and written at most this often)


def _new_key(merchant_id: str) -> tuple[ApiKey, str]:
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    return ApiKey(id=new_id("key"), merchant_id=merchant_id, prefix=api_key[:PREFIX_LENGTH],
                  created_at=utc_now()), api_key


def register_merchant(repo: MerchantRepository, name: str) -> tuple[Merchant, str]:
    """A new merchant and its API key. The key is returned once and stored only as a hash."""
    merchant = Merchant(id=new_id("mer"), name=name, created_at=utc_now())
    key, api_key = _new_key(merchant.id)
    repo.create(merchant, key, hash_api_key(api_key))
    return merchant, api_key


def create_key(repo: MerchantRepository, merchant: Merchant) -> tuple[ApiKey, str]:
    """Another key for the merchant (to roll: make one, move to it, revoke the old): the key is in this
    answer only."""
    key, api_key = _new_key(merchant.id)
    repo.add_key(merchant, key, hash_api_key(api_key))
    return key, api_key


def list_keys(repo: MerchantRepository, merchant: Merchant) -> list[ApiKey]:
    return repo.keys(merchant.id)


def revoke_key(repo: MerchantRepository, merchant: Merchant, key_id: str) -> str:
    """Revoked at once (the next request with it is 401); NotFound for an unknown key, InvalidState for
    the merchant's last."""
    try:
        revoked = len(key_id) <= 64 and repo.revoke_key(merchant.id, key_id)
    except LastKey:
        raise InvalidState("this is your last API key: make another one first (POST /v1/api_keys), "
                           "then revoke this one", param="id") from None
    if not revoked:
        raise NotFound(f"no such API key: {key_id!r}", param="id")
    return key_id


def authenticate(repo: MerchantRepository, authorization: str | None, now: int | None = None) -> Merchant:
    """The merchant behind `Authorization: Bearer <key>`, and the key's use recorded (at most once per
    LAST_USED_EVERY seconds). `now`: epoch seconds (tests set it)."""
    if not authorization:
        raise AuthenticationFailed("no API key: send Authorization: Bearer sk_test_...")
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX) or len(key) > 200:
        raise AuthenticationFailed("malformed API key: send Authorization: Bearer sk_test_...")
    owner = repo.owner(hash_api_key(key))
    if owner is None:
        raise AuthenticationFailed("invalid API key")
    now = epoch_seconds() if now is None else now
    since = iso_of(now - LAST_USED_EVERY)
    if owner.key_id is not None and (owner.last_used_at is None or owner.last_used_at <= since):
        repo.touch_key(owner.key_hash, iso_of(now), since)
    return owner.merchant
