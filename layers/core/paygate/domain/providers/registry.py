"""The providers the gateway has a connector for, and what each supports. One table: routing refuses
a provider not listed here (400 `unknown_provider`), and a route keeps only the providers that can take
the payment (method, currency)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PROVIDER = "sandbox"
DEFAULT_ROUTE: tuple[str, ...] = (DEFAULT_PROVIDER,)
ANY_CURRENCY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ProviderInfo:
    id: str
    methods: frozenset[str]  # payment method types it can charge
    currencies: frozenset[str] = ANY_CURRENCY  # empty: any ISO 4217 currency
    refunds: bool = True
    void: bool = True  # a pending charge can be voided (a cancel)
    asynchronous: bool = True  # a charge may answer pending and settle later (callback or lookup)
    bills: bool = False  # it pays billers (a wallet's bill payment)

    def supports(self, method: str, currency: str) -> bool:
        return method in self.methods and (not self.currencies or currency.upper() in self.currencies)


REGISTRY: dict[str, ProviderInfo] = {
    "sandbox": ProviderInfo("sandbox", frozenset({"card"}), bills=True),
    # A second instance of the sandbox, with its own charges: the failover target in `paygate dev`.
    "sandbox-b": ProviderInfo("sandbox-b", frozenset({"card"})),
    "stripe": ProviderInfo("stripe", frozenset({"card"})),
}


def known(provider: str) -> bool:
    return provider in REGISTRY


def eligible(route: tuple[str, ...], method: str, currency: str) -> tuple[str, ...]:
    """The route's providers that can take this payment, in the route's order."""
    return tuple(p for p in route if p in REGISTRY and REGISTRY[p].supports(method, currency))
