"""`PUT /v1/routing`'s body and the routing it answers (and `GET /v1/routing`'s): ordered rules on
currency, amount range and method, each naming providers in order of preference, then a default."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from paygate.domain.providers import routing as domain
from paygate.schemas.requests import Amount, CurrencyCode, strict

ProviderId = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Providers = Annotated[list[ProviderId], Field(min_length=1, max_length=8)]
EXAMPLE = {"rules": [{"if": {"currency": "EUR", "min_amount": 1, "max_amount": 100000, "method": "card"},
                      "providers": ["stripe", "sandbox"]}], "default": ["sandbox", "sandbox-b"]}


class Condition(BaseModel):
    model_config = strict()

    currency: CurrencyCode | None = None
    """ISO 4217 code (any case)."""
    min_amount: Amount | None = None
    """The smallest amount (minor units) the rule takes."""
    max_amount: Amount | None = None
    """The largest amount (minor units) the rule takes."""
    method: Literal["card"] | None = None
    """The payment method type (only cards go through a provider)."""

    @model_validator(mode="after")
    def _range(self) -> Condition:
        if self.min_amount is not None and self.max_amount is not None and self.min_amount > self.max_amount:
            raise ValueError("min_amount is above max_amount")
        return self


class RoutingRule(BaseModel):
    model_config = ConfigDict(**strict(), populate_by_name=False)

    condition: Condition = Field(default_factory=Condition, alias="if")
    """What the payment must match (every key optional: `{}` matches all)."""
    providers: Providers
    """Provider ids in order of preference: the payment goes to the next one when one is unavailable."""


class PutRouting(BaseModel):
    model_config = strict(EXAMPLE)

    rules: Annotated[list[RoutingRule], Field(max_length=50)] = Field(default_factory=list)
    """Tried in order: the first that matches decides."""
    default: Providers = Field(default_factory=lambda: ["sandbox"])
    """The providers when no rule matches."""

    def typed(self) -> domain.Routing:
        return domain.Routing(
            rules=tuple(domain.Rule(domain.Condition(**r.condition.model_dump()), tuple(r.providers)) for r in self.rules),
            default=tuple(self.default))


class Routing(PutRouting):
    """The routing in force."""

    model_config = ConfigDict(**strict({"object": "routing", **EXAMPLE}), serialize_by_alias=True)

    object: Literal["routing"] = "routing"

    @classmethod
    def of(cls, routing: domain.Routing) -> Routing:
        return cls.model_validate({"object": "routing", "default": list(routing.default), "rules": [
            {"if": {k: v for k, v in vars(r.condition).items() if v is not None}, "providers": list(r.providers)}
            for r in routing.rules]})


class ProviderHealth(BaseModel):
    model_config = strict({"id": "sandbox", "status": "up", "attempts": 120, "failures": 3, "success_rate": 0.975})

    id: str
    """The provider's id, as routing names it."""
    status: Literal["up", "open", "half_open"]
    """`open` after 5 unavailable attempts in a row (new payments skip it while another provider of their
    route is eligible); `half_open` after a cool-down (one trial goes through); `up` after a success."""
    attempts: int
    """Charge attempts in the last 5 minutes."""
    failures: int
    """Of those, the ones the provider was unavailable for."""
    success_rate: float | None
    """1 - failures / attempts (null without attempts)."""


class ProviderList(BaseModel):
    model_config = strict()

    object: Literal["list"] = "list"
    data: list[ProviderHealth]
