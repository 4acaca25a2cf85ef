"""The composition root: real adapters wired from Settings, built lazily once per process."""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Any

import boto3
from botocore.config import Config

from paygate.adapters.dynamodb import (
    AggregatesTable,
    EndpointsTable,
    IdempotencyTable,
    MerchantsTable,
)
from paygate.adapters.http import HttpxTransport, SandboxProvider, UrlGuard
from paygate.adapters.sqs import SqsPublisher, SqsQueueControl
from paygate.settings import Settings, get_settings

_BOTO = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=20)


class Container:
    def __init__(self, settings: Settings, client_kwargs: dict[str, Any] | None = None) -> None:
        self.settings = settings
        # Only for callers outside a function (the local CLI): an explicit endpoint and credentials.
        self.client_kwargs = client_kwargs or {}

    @cached_property
    def dynamodb(self) -> Any:
        # boto3 honours AWS_ENDPOINT_URL (LocalStack, the local runtime) on its own.
        return boto3.client("dynamodb", config=_BOTO, **self.client_kwargs)

    @cached_property
    def sqs(self) -> Any:
        return boto3.client("sqs", config=_BOTO, **self.client_kwargs)

    @cached_property
    def idempotency(self) -> IdempotencyTable:
        s = self.settings
        return IdempotencyTable(self.dynamodb, s.idempotency_table, ttl_seconds=s.idempotency_ttl_seconds,
                                lock_seconds=s.idempotency_lock_seconds)

    @cached_property
    def merchants(self) -> MerchantsTable:
        return MerchantsTable(self.dynamodb, self.settings.merchants_table)

    @cached_property
    def endpoints(self) -> EndpointsTable:
        return EndpointsTable(self.dynamodb, self.settings.merchants_table, self.idempotency)

    @cached_property
    def payments(self) -> AggregatesTable:
        return AggregatesTable(self.dynamodb, self.settings.aggregates_table, self.idempotency)

    @cached_property
    def publisher(self) -> SqsPublisher:
        return SqsPublisher(self.sqs)

    @cached_property
    def queues(self) -> SqsQueueControl:
        return SqsQueueControl(self.sqs)

    @cached_property
    def provider(self) -> SandboxProvider:
        return SandboxProvider(self.settings.provider_url, self.settings.provider_timeout)

    @cached_property
    def transport(self) -> HttpxTransport:
        return HttpxTransport()

    @cached_property
    def url_guard(self) -> UrlGuard:
        return UrlGuard(allow_private=self.settings.dev)


@lru_cache(maxsize=1)
def get_container() -> Container:
    return Container(get_settings())
