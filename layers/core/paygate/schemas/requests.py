"""HTTP request bodies. Strict: unknown fields, floats, strings or booleans as amounts are refused.

Each field's docstring is its description in the OpenAPI document, with the model's example
(paygate.schemas.docs); the query parameters and headers are typed in the routes' signatures.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from paygate.domain import methods
from paygate.domain.errors import UnknownCurrency
from paygate.domain.money import MAX_AMOUNT, MIN_AMOUNT, Currency
from paygate.domain.webhooks import ALL_EVENTS, EVENT_TYPES
from paygate.schemas import examples
from paygate.schemas.docs import describe


def strict(example: dict[str, Any] | None = None) -> ConfigDict:
    # defer_build: a model's validator is built when it first validates, not when the API imports it.
    return ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True, json_schema_extra=describe(example))


class Strict(BaseModel):
    model_config = strict()


def _no_control_characters(value: str) -> str:
    if any(ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127 for c in value):
        raise ValueError("control characters (NUL and the like) are not allowed")
    return value


def _known(value: str) -> str:
    try:
        return Currency.parse(value).code
    except UnknownCurrency as exc:
        raise ValueError(f"unknown currency {value!r}: use an ISO 4217 code") from exc


Printable = AfterValidator(_no_control_characters)
Id = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
Amount = Annotated[StrictInt, Field(ge=MIN_AMOUNT, le=MAX_AMOUNT)]
CurrencyCode = Annotated[StrictStr, Field(min_length=3, max_length=3), AfterValidator(_known)]
Description = Annotated[StrictStr, Field(max_length=1000), Printable]


class CardMethod(Strict):
    type: Literal["card"]
    token: Annotated[StrictStr, Field(min_length=1, max_length=128), Printable]
    """The card's token from your provider. Sandbox: `tok_success`, `tok_decline`,
    `tok_insufficient_funds`, `tok_flaky`, `tok_provider_error`, `tok_timeout_after_success`, `tok_async`,
    `tok_async_no_callback`, `tok_pending`; in dev mode any other is refused (`invalid_token`)."""

    def typed(self) -> methods.CardMethod:
        return methods.CardMethod(self.token)


class WalletMethod(Strict):
    type: Literal["wallet"]
    wallet_id: Id
    """A wallet of one of your customers, in the payment's currency: the amount is held, then captured."""

    def typed(self) -> methods.WalletMethod:
        return methods.WalletMethod(self.wallet_id)


PaymentMethod = Annotated[Union[CardMethod, WalletMethod], Field(discriminator="type")]


class Destination(Strict):
    service_id: Id
    """The biller. Sandbox: `svc_electricity`, `svc_water`, `svc_phone` (others: `unknown_service`)."""
    client_number: Annotated[StrictStr, Field(min_length=1, max_length=64), Printable]
    """Your customer's number at the biller (sandbox: `0000000000` is declined)."""

    def typed(self) -> methods.Destination:
        return methods.Destination(self.service_id, self.client_number)


MetadataKey = Annotated[str, Field(min_length=1, max_length=40), Printable]
MetadataValue = Annotated[StrictStr, Field(max_length=500), Printable]


class CreatePayment(Strict):
    model_config = strict(examples.CREATE_PAYMENT)

    amount: Amount
    """In the currency's minor unit (1050 is 10.50 USD), 1 to 99,999,999; an integer, never a float or
    a string."""
    currency: CurrencyCode
    """ISO 4217, any case (`usd` and `USD` are the same request); answered upper-case."""
    payment_method: PaymentMethod
    description: Description | None = None
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=50)] = Field(default_factory=dict)
    """Up to 50 keys of 1-40 characters, string values up to 500: returned as given."""
    customer_id: Id | None = None
    destination: Destination | None = None
    """Makes it a bill payment (from a wallet only): the biller is paid through the provider."""


class CreateRefund(Strict):
    """Every field optional: an empty body (or none) refunds all that is left."""

    model_config = strict({"amount": 300})

    amount: Amount | None = None
    """What to refund, at most what is left of the payment; left out: all that is left."""


class CancelPayment(Strict):
    """A cancel takes no parameters (an empty body, or `{}`)."""


class CreateWebhookEndpoint(Strict):
    model_config = strict({"url": "https://shop.example/hooks", "enabled_events": ["payment.completed",
                                                                                  "payment.failed"]})

    url: Annotated[StrictStr, Field(min_length=1, max_length=2048), Printable]
    """An https URL that resolves to public addresses only, with no credentials in it. In dev mode
    (`Mode=dev`, as under `paygate dev`) http and private, loopback and link-local addresses are
    allowed too."""
    enabled_events: Annotated[list[StrictStr], Field(min_length=1, max_length=32)] = Field(
        default_factory=lambda: [ALL_EVENTS]
    )
    """The event types to receive (see the webhooks), or `["*"]` (the default) for all."""
    description: Description | None = None

    @field_validator("enabled_events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v != ALL_EVENTS and v not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)} or '*'")
        return sorted(set(value))


class Redeliver(Strict):
    model_config = strict({"event_id": examples.EVENT_ID})

    event_id: Id
    """An event of yours (`GET /v1/events`) of a type this endpoint receives."""


class CreateCustomer(Strict):
    model_config = strict({"name": "Ana", "email": "ana@example.com", "currency": "USD"})

    name: Annotated[StrictStr, Field(min_length=1, max_length=200), Printable]
    email: Annotated[StrictStr, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    currency: CurrencyCode = "USD"
    """The wallet's currency."""


class CreateTopup(Strict):
    model_config = strict({"amount": 1000})

    amount: Amount
    """Minor units credited to the wallet at once, 1 to 99,999,999."""


class CreateOrder(Strict):
    model_config = strict({"customer_id": examples.CUSTOMER["id"], "amount": 200, "description": "Order #2001"})

    customer_id: Id
    """The customer whose wallet pays."""
    amount: Amount
    currency: CurrencyCode | None = None
    """The wallet's currency (the default); another is refused."""
    description: Description | None = None
