"""The composition root: real adapters wired from Settings, built lazily once per process.

Every adapter is imported where it is first built, not at the top: a function pays at cold start only
for what it uses (the relay never loads an HTTP client, only the processor and the webhooks function do).
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from paygate.settings import Settings, get_settings

if TYPE_CHECKING:
    from paygate.adapters.dynamodb import (
        EndpointsTable,
        EventsTable,
        IdempotencyKeys,
        MerchantsTable,
        OrdersTable,
        PaymentChanges,
        PaymentsTable,
        RefundsTable,
        WalletsTable,
    )
    from paygate.adapters.http import HttpxTransport, SandboxProvider
    from paygate.adapters.sqs import SqsDeliveryQueue, SqsPublisher, SqsQueueControl
    from paygate.adapters.url_guard import UrlGuard


class Container:
    def __init__(self, settings: Settings, client_kwargs: dict[str, Any] | None = None) -> None:
        self.settings = settings
        # Only for callers outside a function (the local CLI): an explicit endpoint and credentials.
        self.client_kwargs = client_kwargs or {}

    def _client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        # boto3 honours AWS_ENDPOINT_URL (LocalStack, the local runtime) on its own.
        config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=20)
        return boto3.client(service, config=config, **self.client_kwargs)

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb")

    @cached_property
    def sqs(self) -> Any:
        return self._client("sqs")

    @cached_property
    def idempotency_keys(self) -> IdempotencyKeys:
        from paygate.adapters.dynamodb import IdempotencyKeys

        return IdempotencyKeys(self.dynamodb, self.settings.idempotency_table)

    @cached_property
    def merchants(self) -> MerchantsTable:
        from paygate.adapters.dynamodb import MerchantsTable

        return MerchantsTable(self.dynamodb, self.settings.merchants_table)

    @cached_property
    def endpoints(self) -> EndpointsTable:
        from paygate.adapters.dynamodb import EndpointsTable

        return EndpointsTable(self.dynamodb, self.settings.merchants_table, self.idempotency_keys)

    @cached_property
    def event_log(self) -> EventsTable:
        from paygate.adapters.dynamodb import EventsTable

        return EventsTable(self.dynamodb, self.settings.events_table)

    @cached_property
    def payments(self) -> PaymentsTable:
        from paygate.adapters.dynamodb import PaymentsTable

        return PaymentsTable(self.dynamodb, self.settings.aggregates_table, self.idempotency_keys)

    @cached_property
    def refunds(self) -> RefundsTable:
        from paygate.adapters.dynamodb import RefundsTable

        return RefundsTable(self.dynamodb, self.settings.aggregates_table, self.idempotency_keys)

    @cached_property
    def wallets(self) -> WalletsTable:
        from paygate.adapters.dynamodb import WalletsTable

        return WalletsTable(self.dynamodb, self.settings.aggregates_table, self.idempotency_keys)

    @cached_property
    def orders(self) -> OrdersTable:
        from paygate.adapters.dynamodb import OrdersTable

        return OrdersTable(self.dynamodb, self.settings.aggregates_table, self.idempotency_keys)

    @cached_property
    def payment_changes(self) -> PaymentChanges:
        from paygate.adapters.dynamodb import PaymentChanges

        return PaymentChanges()

    @cached_property
    def publisher(self) -> SqsPublisher:
        from paygate.adapters.sqs import SqsPublisher

        return SqsPublisher(self.sqs)

    @cached_property
    def queues(self) -> SqsQueueControl:
        from paygate.adapters.sqs import SqsQueueControl

        return SqsQueueControl(self.sqs)

    @cached_property
    def delivery_queue(self) -> SqsDeliveryQueue:
        from paygate.adapters.sqs import SqsDeliveryQueue

        return SqsDeliveryQueue(self.publisher, self.queues, self.settings.webhooks_queue_url,
                                self.settings.webhooks_dlq_url)

    @cached_property
    def provider(self) -> SandboxProvider:
        from paygate.adapters.http import SandboxProvider

        return SandboxProvider(self.settings.provider_url, self.settings.provider_timeout)

    @cached_property
    def transport(self) -> HttpxTransport:
        from paygate.adapters.http import HttpxTransport

        return HttpxTransport()

    @cached_property
    def url_guard(self) -> UrlGuard:
        from paygate.adapters.url_guard import UrlGuard

        return UrlGuard(allow_private=self.settings.dev)


@lru_cache(maxsize=1)
def get_container() -> Container:
    return Container(get_settings())
