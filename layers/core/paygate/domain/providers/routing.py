"""A merchant's routing: ordered rules on currency, amount range and method, each naming providers in
order of preference, then a default. The first rule that matches decides."""

from __future__ import annotations

from dataclasses import dataclass, field

from paygate.domain.providers.registry import DEFAULT_ROUTE, eligible, known


class UnknownProvider(ValueError):
    def __init__(self, provider: str, path: str) -> None:
        super().__init__(f"unknown provider {provider!r} at {path}")
        self.provider, self.path = provider, path


@dataclass(frozen=True)
class Condition:
    currency: str | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    method: str | None = None

    def matches(self, *, currency: str, amount: int, method: str) -> bool:
        return ((self.currency is None or self.currency.upper() == currency.upper())
                and (self.min_amount is None or amount >= self.min_amount)
                and (self.max_amount is None or amount <= self.max_amount)
                and (self.method is None or self.method == method))


@dataclass(frozen=True)
class Rule:
    condition: Condition
    providers: tuple[str, ...]


@dataclass(frozen=True)
class Routing:
    rules: tuple[Rule, ...] = ()
    default: tuple[str, ...] = field(default=DEFAULT_ROUTE)

    def check(self) -> Routing:
        """Every provider named is one the gateway has a connector for (UnknownProvider names the first
        that is not, by its path: `rules[0].providers[1]`, `default[1]`)."""
        for i, rule in enumerate(self.rules):
            for j, provider in enumerate(rule.providers):
                if not known(provider):
                    raise UnknownProvider(provider, f"rules[{i}].providers[{j}]")
        for j, provider in enumerate(self.default):
            if not known(provider):
                raise UnknownProvider(provider, f"default[{j}]")
        return self

    def route(self, *, currency: str, amount: int, method: str) -> tuple[str, ...]:
        """The providers of a payment, in order: the first matching rule's, else the default; only those
        that can take the payment (the whole route when none can: the first provider then says why)."""
        chosen = next((r.providers for r in self.rules
                       if r.condition.matches(currency=currency, amount=amount, method=method)), self.default)
        return eligible(chosen, method, currency) or chosen
