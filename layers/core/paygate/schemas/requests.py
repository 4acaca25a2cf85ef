"""HTTP request bodies. Strict: unknown fields, floats, strings or booleans as amounts are refused."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from paygate.domain.errors import UnknownCurrency
from paygate.domain.money import MAX_AMOUNT, MIN_AMOUNT, Currency
from paygate.domain.webhooks import ALL_EVENTS, EVENT_TYPES


class Strict(BaseModel):
    # defer_build: a model's validator is built when it first validates, not when the API imports it.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


def _no_control_characters(value: str) -> str:
    if any(ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127 for c in value):
        raise ValueError("control characters (NUL and the like) are not allowed")
    return value


Printable = AfterValidator(_no_control_characters)

Id = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


class CardMethod(Strict):
    type: Literal["card"]
    token: Annotated[StrictStr, Field(min_length=1, max_length=128), Printable]


class WalletMethod(Strict):
    type: Literal["wallet"]
    wallet_id: Id


PaymentMethod = Annotated[Union[CardMethod, WalletMethod], Field(discriminator="type")]


class Destination(Strict):
    service_id: Id
    client_number: Annotated[StrictStr, Field(min_length=1, max_length=64), Printable]


MetadataKey = Annotated[str, Field(min_length=1, max_length=40), Printable]
MetadataValue = Annotated[StrictStr, Field(max_length=500), Printable]


class CreatePayment(Strict):
    amount: Annotated[StrictInt, Field(ge=MIN_AMOUNT, le=MAX_AMOUNT)]
    currency: Annotated[StrictStr, Field(min_length=3, max_length=3)]
    payment_method: PaymentMethod
    description: Annotated[StrictStr, Field(max_length=1000), Printable] | None = None
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=50)] = Field(default_factory=dict)
    customer_id: Id | None = None
    destination: Destination | None = None

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        try:
            return Currency.parse(value).code
        except UnknownCurrency as exc:
            raise ValueError(f"unknown currency {value!r}: use an ISO 4217 code") from exc


class CreateRefund(Strict):
    """Every field optional: an empty body (or none) refunds all that is left."""

    amount: Annotated[StrictInt, Field(ge=MIN_AMOUNT, le=MAX_AMOUNT)] | None = None


class CancelPayment(Strict):
    """A cancel takes no parameters (an empty body, or `{}`)."""


class CreateWebhookEndpoint(Strict):
    url: Annotated[StrictStr, Field(min_length=1, max_length=2048), Printable]
    enabled_events: Annotated[list[StrictStr], Field(min_length=1, max_length=32)] = Field(
        default_factory=lambda: [ALL_EVENTS]
    )
    description: Annotated[StrictStr, Field(max_length=1000), Printable] | None = None

    @field_validator("enabled_events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v != ALL_EVENTS and v not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)} or '*'")
        return sorted(set(value))


class NoQuery(Strict):
    """Routes that take no query parameters say so, rather than ignore what the caller meant."""


class ListPaymentsQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True, defer_build=True)

    limit: Annotated[int, Field(ge=1, le=100)] = 10
    starting_after: Id | None = None
    status: Literal["NEW", "PROCESSING", "COMPLETED", "FAILED", "CANCELED"] | None = None


class ListEventsQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True, defer_build=True)

    limit: Annotated[int, Field(ge=1, le=100)] = 10
    starting_after: Id | None = None
    type: Literal[tuple(sorted(EVENT_TYPES))] | None = None  # type: ignore[valid-type]


class ListDeliveriesQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True, defer_build=True)

    limit: Annotated[int, Field(ge=1, le=100)] = 10
    starting_after: Id | None = None


class Redeliver(Strict):
    event_id: Id


def _known(value: str) -> str:
    try:
        return Currency.parse(value).code
    except UnknownCurrency as exc:
        raise ValueError(f"unknown currency {value!r}: use an ISO 4217 code") from exc


CurrencyCode = Annotated[StrictStr, Field(min_length=3, max_length=3), AfterValidator(_known)]
Amount = Annotated[StrictInt, Field(ge=MIN_AMOUNT, le=MAX_AMOUNT)]


class CreateCustomer(Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200), Printable]
    email: Annotated[StrictStr, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    currency: CurrencyCode = "USD"


class CreateTopup(Strict):
    amount: Amount


class CreateOrder(Strict):
    customer_id: Id
    amount: Amount
    currency: CurrencyCode | None = None
    description: Annotated[StrictStr, Field(max_length=1000), Printable] | None = None


class ListOrdersQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True, defer_build=True)

    customer_id: Id
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    starting_after: Id | None = None


class ListEntriesQuery(Strict):
    """`starting_after`: the `sequence` of the last entry of the previous page."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True, defer_build=True)

    limit: Annotated[int, Field(ge=1, le=100)] = 10
    starting_after: Annotated[int, Field(ge=1)] | None = None


class ListNotificationsQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True, defer_build=True)

    limit: Annotated[int, Field(ge=1, le=100)] = 10
