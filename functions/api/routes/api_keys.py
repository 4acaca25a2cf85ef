"""/v1/api_keys: a merchant's API keys, made (shown once), listed, revoked."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from paygate.container import get_container
from paygate.schemas.openapi import API_KEYS, errors
from paygate.schemas.responses import ApiKey, ApiKeyList, ApiKeyWithSecret, DeletedApiKey, listing
from paygate.services import merchants
from routes.common import CurrentMerchant, ResourceRouter, accepted, params

router = ResourceRouter(API_KEYS)


@router.post("/v1/api_keys", status_code=201)
def create_api_key(merchant: CurrentMerchant) -> Response[ApiKeyWithSecret]:
    """Create an API key

    Another key for your account, shown in this answer only (only its hash is stored). To roll a key:
    create one, move your requests to it, then revoke the old one. No Idempotency-Key: the key cannot be
    answered twice, so a repeated request makes another key (revoke the one you do not use)."""
    key, secret = merchants.create_key(get_container().merchants, merchant)
    return accepted(201, ApiKeyWithSecret.of(key, secret), replayed=False)


@router.get("/v1/api_keys")
def list_api_keys(merchant: CurrentMerchant) -> ApiKeyList:
    """List API keys

    Oldest first, never the keys themselves: each key's id, its first characters (`prefix`), when it was
    made and when it was last used (written at most once per 5 minutes, so up to 5 minutes old)."""
    found = merchants.list_keys(get_container().merchants, merchant)
    return listing(ApiKeyList, [ApiKey.of(k) for k in found], False, "/v1/api_keys")


@router.delete("/v1/api_keys/<key_id>", openapi_extensions=errors({409: ["invalid_state"]}))
def revoke_api_key(key_id: params.ApiKeyId, merchant: CurrentMerchant) -> DeletedApiKey:
    """Revoke an API key

    At once: the next request with it is refused (401), in every function. Your last key cannot be
    revoked (409 `invalid_state`): create another one first. A key may revoke itself."""
    revoked = merchants.revoke_key(get_container().merchants, merchant, key_id)
    return DeletedApiKey(id=revoked, object="api_key", deleted=True)
