"""The composition root: real adapters wired from Settings, built lazily once per process, and the one
place a command's context is put together (`command_context`).

Every adapter is imported where it is first built, not at the top: a function pays at cold start only
for what it uses (the relay never loads an HTTP client, only the processor and the webhooks function do).
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from paygate.services.ports.provider import DEFAULT_PROVIDER, PaymentProvider
from paygate.settings import Settings, get_settings

if TYPE_CHECKING:
    from paygate.adapters.dynamodb.endpoints import EndpointsTable
    from paygate.adapters.dynamodb.events import EventsTable
    from paygate.adapters.dynamodb.health import ProviderHealthTable
    from paygate.adapters.dynamodb.idempotency import IdempotencyKeys
    from paygate.adapters.dynamodb.merchants import MerchantsTable, RoutingTable
    from paygate.adapters.dynamodb.orders import OrdersTable
    from paygate.adapters.dynamodb.payments import PaymentsTable
    from paygate.adapters.dynamodb.refunds import RefundsTable
    from paygate.adapters.dynamodb.stream import PaymentChanges
    from paygate.adapters.dynamodb.wallets import WalletsTable
    from paygate.adapters.http import HttpxTransport
    from paygate.adapters.sqs import SqsDeliveryQueue, SqsPublisher, SqsQueueControl
    from paygate.adapters.url_guard import UrlGuard
    from paygate.services.commands.context import CommandContext


class Connectors(Mapping[str, PaymentProvider]):
    """The providers' connectors by name, each built on first use (an HTTP client only when a payment
    needs a provider). A name with no connector here is ProviderUnknown (a route naming a provider
    this deployment has no URL or key for)."""

    def __init__(self, makers: Mapping[str, Callable[[], PaymentProvider]]) -> None:
        self.makers = makers
        self.built: dict[str, PaymentProvider] = {}

    def __getitem__(self, name: str) -> PaymentProvider:
        if name not in self.built:
            self.built[name] = self.makers[name]()
        return self.built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.makers)

    def __len__(self) -> int:
        return len(self.makers)


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        # boto3 honours AWS_ENDPOINT_URL (LocalStack, the local runtime) on its own.
        config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=20)
        return boto3.client(service, config=config)

    def command_context(self, *, attempt: int = 1, time_left: Callable[[], float] | None = None) -> CommandContext:
        """What a command (or the API's check of a payment method) runs with: the repositories, the
        connectors, the limits the settings give, and the command's delivery. Imported here: the relay
        and the webhooks functions never run a command, and the command's ports and domain cost them
        ~100 ms of cold import (`make bench`)."""
        from paygate.services.commands.context import CommandContext

        s = self.settings
        return CommandContext(
            payments=self.payments, refunds=self.refunds, wallets=self.wallets, orders=self.orders,
            connectors=self.connectors, attempt=attempt, max_attempts=s.command_max_attempts,
            backoff_base=s.command_backoff_base, provider_timeout=s.provider_timeout, sandbox=s.dev,
            health=self.provider_health, breaker_cooldown=s.breaker_cooldown,
            **({"time_left": time_left} if time_left is not None else {}),
        )

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb")

    @cached_property
    def sqs(self) -> Any:
        return self._client("sqs")

    @cached_property
    def idempotency_keys(self) -> IdempotencyKeys:
        from paygate.adapters.dynamodb.idempotency import IdempotencyKeys

        return IdempotencyKeys(self.dynamodb, self.settings.idempotency_table)

    @cached_property
    def merchants(self) -> MerchantsTable:
        from paygate.adapters.dynamodb.merchants import MerchantsTable

        return MerchantsTable(self.dynamodb, self.settings.merchants_table)

    @cached_property
    def routing(self) -> RoutingTable:
        from paygate.adapters.dynamodb.merchants import RoutingTable

        return RoutingTable(self.dynamodb, self.settings.merchants_table)

    @cached_property
    def provider_health(self) -> ProviderHealthTable:
        from paygate.adapters.dynamodb.health import ProviderHealthTable

        return ProviderHealthTable(self.dynamodb, self.settings.merchants_table)

    @cached_property
    def endpoints(self) -> EndpointsTable:
        from paygate.adapters.dynamodb.endpoints import EndpointsTable

        return EndpointsTable(self.dynamodb, self.settings.merchants_table, self.idempotency_keys)

    @cached_property
    def event_log(self) -> EventsTable:
        from paygate.adapters.dynamodb.events import EventsTable

        return EventsTable(self.dynamodb, self.settings.events_table)

    @cached_property
    def payments(self) -> PaymentsTable:
        from paygate.adapters.dynamodb.payments import PaymentsTable

        return PaymentsTable(self.dynamodb, self.settings.aggregates_table, self.idempotency_keys)

    @cached_property
    def refunds(self) -> RefundsTable:
        from paygate.adapters.dynamodb.refunds import RefundsTable

        return RefundsTable(self.dynamodb, self.settings.aggregates_table, self.idempotency_keys)

    @cached_property
    def wallets(self) -> WalletsTable:
        from paygate.adapters.dynamodb.wallets import WalletsTable

        return WalletsTable(self.dynamodb, self.settings.aggregates_table, self.idempotency_keys)

    @cached_property
    def orders(self) -> OrdersTable:
        from paygate.adapters.dynamodb.orders import OrdersTable

        return OrdersTable(self.dynamodb, self.settings.aggregates_table, self.idempotency_keys)

    @cached_property
    def payment_changes(self) -> PaymentChanges:
        from paygate.adapters.dynamodb.stream import PaymentChanges

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
    def connectors(self) -> Connectors:
        """Every provider with a URL: the sandbox's (PROVIDER_URL), and the others' (PROVIDER_URLS)."""
        urls = {DEFAULT_PROVIDER: self.settings.provider_url, **self.settings.provider_urls}
        makers = {name: self._sandbox_at(url) for name, url in urls.items() if name.startswith("sandbox")}
        if self.settings.stripe_configured:
            makers["stripe"] = self._stripe
        return Connectors(makers)

    def _stripe(self) -> PaymentProvider:
        from paygate.adapters.stripe import StripeProvider

        return StripeProvider(self.stripe_secrets["api_key"], api_base=self.settings.stripe_api_base or None,
                              timeout=self.settings.provider_timeout)

    @cached_property
    def stripe_secrets(self) -> dict[str, str]:
        """Stripe's secret key and webhook secret: from Secrets Manager, by the names the template's
        parameters give (read once, at the first use in this process; never logged), or in dev mode
        the values paygate dev gives."""
        s = self.settings
        if not (s.stripe_secret_key_secret or s.stripe_webhook_secret_secret):
            return {"api_key": s.stripe_api_key, "webhook_secret": s.stripe_webhook_secret}
        client = self._client("secretsmanager")

        def read(name: str) -> str:
            return client.get_secret_value(SecretId=name)["SecretString"] if name else ""
        return {"api_key": read(s.stripe_secret_key_secret), "webhook_secret": read(s.stripe_webhook_secret_secret)}

    def _sandbox_at(self, url: str) -> Callable[[], PaymentProvider]:
        def make() -> PaymentProvider:
            from paygate.adapters.http import SandboxProvider

            return SandboxProvider(url, self.settings.provider_timeout)
        return make

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
