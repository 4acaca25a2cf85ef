"""A payment provider's connector: what the gateway asks of a provider, and how it fails.

Connectors are found by provider id (`Connectors`; what each supports is
`paygate.domain.providers.registry`): a card payment's attempt names its provider, a bill payment goes
through `DEFAULT_PROVIDER` (the sandbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol

from paygate.domain.providers.health import Breaker, Window
from paygate.domain.providers.registry import DEFAULT_PROVIDER

__all__ = ["DEFAULT_PROVIDER", "ChargeRequest", "ChargeResult", "Connectors", "PaymentProvider", "ProviderRejected",
           "ProviderHealth", "ProviderUnavailable", "RefundResult"]


@dataclass(frozen=True)
class ChargeResult:
    status: str  # succeeded | declined | pending
    charge_id: str | None
    decline_code: str | None = None


@dataclass(frozen=True)
class ChargeRequest:
    """What a charge asked for: a provider that is looked up by repeating the create (Stripe, by its
    Idempotency-Key) needs it."""

    amount: int
    currency: str
    token: str


@dataclass(frozen=True)
class RefundResult:
    status: str  # succeeded
    refund_id: str | None


class ProviderUnavailable(Exception):
    """A transient fault: 5xx, timeout, refused connection. Safe to retry with the same key.

    `charged_maybe` says whether the request may have been carried out: False when the provider
    answered 5xx or could not even be connected to (the charge can go to another provider), True when
    the answer was lost after the request left (a timeout: settle it at this provider first)."""

    def __init__(self, message: str, *, charged_maybe: bool = False) -> None:
        super().__init__(message)
        self.charged_maybe = charged_maybe


class ProviderRejected(Exception):
    """The provider refused the request itself (4xx): retrying will not help."""


class PaymentProvider(Protocol):
    def charge(self, *, reference: str, amount: int, currency: str, token: str,
               idempotency_key: str) -> ChargeResult: ...
    def find_charge(self, reference: str, request: ChargeRequest | None = None) -> ChargeResult | None:
        """The charge that took money for this reference (else a pending one, else None); `request`
        for a provider that answers by repeating the create under the same key."""
    def void(self, charge_id: str) -> ChargeResult:
        """Void a pending charge (voiding a voided one again is harmless); ProviderRejected when the
        charge is not pending any more (it succeeded or was declined meanwhile)."""
    def refund(self, *, charge_id: str, amount: int, idempotency_key: str) -> RefundResult:
        """Give `amount` back; the same key again answers the same refund and never refunds twice."""
    def find_refund(self, reference: str, idempotency_key: str) -> RefundResult | None:
        """The refund made for the payment `reference` with this key, if the provider made one."""
    def pay_bill(self, *, reference: str, service_id: str, client_number: str, amount: int, currency: str,
                 idempotency_key: str) -> ChargeResult:
        """Pay a biller (status succeeded or declined); the same key again answers the same payment."""
    def find_bill_payment(self, reference: str) -> ChargeResult | None: ...


class ProviderHealth(Protocol):
    """The providers' breakers and recent counts, shared by every processor (paygate.domain.providers.health)."""

    def breaker(self, provider: str) -> Breaker: ...
    def record(self, provider: str, *, unavailable: bool) -> int:
        """One attempt's outcome: unavailable (5xx after retries, refused) or answered. Answers the
        provider's unavailable attempts in a row, this one included (0 once answered)."""
    def claim_trial(self, provider: str, cooldown: float) -> bool:
        """The half-open trial for this processor, or False when another took it."""
    def window(self, provider: str) -> Window: ...


# The connectors by provider name (the composition root builds each on first use).
Connectors = Mapping[str, PaymentProvider]
