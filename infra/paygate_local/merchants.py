"""Merchants of a deployed or local stack, created straight in its merchants table.

Kept free of the CLI's own dependencies (typer, rich): localstack/deploy.py imports it from the
deployer's venv, which has only the layer's packages.
"""

from __future__ import annotations

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
