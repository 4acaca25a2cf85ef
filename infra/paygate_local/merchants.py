"""Merchants of a deployed or local stack, created straight in its merchants table.

Kept free of the CLI's own dependencies (typer, rich): localstack/deploy.py imports it from the
deployer's venv, which has only the layer's packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def client_kwargs(endpoint: str, region: str) -> dict[str, Any]:
    return {"endpoint_url": endpoint, "region_name": region,
            "aws_access_key_id": "test", "aws_secret_access_key": "test"}


def merchants_repository(*, merchants_table: str, endpoint: str, region: str) -> Any:
    import boto3

    from paygate.adapters.dynamodb.merchants import MerchantsTable

    return MerchantsTable(boto3.client("dynamodb", **client_kwargs(endpoint, region)), merchants_table)


def create_merchant(name: str, *, merchants_table: str, endpoint: str, region: str) -> dict[str, str]:
    from paygate.services.merchants import register_merchant

    merchant, api_key = register_merchant(
        merchants_repository(merchants_table=merchants_table, endpoint=endpoint, region=region), name)
    return {"merchant_id": merchant.id, "api_key": api_key}


@dataclass(frozen=True)
class Where:
    merchants_table: str
    endpoint: str
    region: str


class KeyRefused(Exception):
    """What the merchant's keys refused: an unknown merchant or key, the last key."""


class MerchantKeys:
    """One merchant's API keys, through the same service the API's /v1/api_keys uses."""

    def __init__(self, repo: Any, merchant: Any) -> None:
        self.repo, self.merchant = repo, merchant

    def create(self) -> dict[str, Any]:
        from paygate.services.merchants import create_key

        key, secret = create_key(self.repo, self.merchant)
        return {"id": key.id, "prefix": key.prefix, "created_at": key.created_at, "api_key": secret}

    def list(self) -> list[dict[str, Any]]:
        from paygate.services.merchants import list_keys

        return [{"id": k.id, "prefix": k.prefix, "created_at": k.created_at, "last_used_at": k.last_used_at}
                for k in list_keys(self.repo, self.merchant)]

    def revoke(self, key_id: str) -> dict[str, Any]:
        from paygate.services.errors import RequestError
        from paygate.services.merchants import revoke_key

        try:
            return {"id": revoke_key(self.repo, self.merchant, key_id), "revoked": True}
        except RequestError as refused:
            raise KeyRefused(str(refused)) from None


def keys_of(merchant_id: str, where: Where) -> MerchantKeys:
    repo = merchants_repository(merchants_table=where.merchants_table, endpoint=where.endpoint, region=where.region)
    merchant = repo.merchant(merchant_id)
    if merchant is None:
        raise KeyRefused(f"no merchant {merchant_id!r} in {where.merchants_table}")
    return MerchantKeys(repo, merchant)
