"""How a payment is paid: its payment method, typed, and a bill payment's destination.

A card is charged at a payment provider; a wallet's money moves in the ledger (a hold, then a capture
or a release). What each method does is decided once, by the funding port the services choose for it
(paygate.services.funding); here a method is only what it is and how it is written down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from paygate.domain.errors import DomainError


class UnknownPaymentMethod(DomainError):
    """A payment method type the gateway does not know (none reaches it through the API)."""


@dataclass(frozen=True)
class CardMethod:
    """A card, by its token at the provider."""

    token: str
    type: ClassVar[str] = "card"
    # A card payment left PROCESSING waits on the provider (a pending charge): reconciliation asks it.
    reconciled: ClassVar[bool] = True

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "token": self.token}


@dataclass(frozen=True)
class WalletMethod:
    """A customer's wallet: the amount is held, then captured or released."""

    wallet_id: str
    type: ClassVar[str] = "wallet"
    # A wallet payment's money is in the ledger; its own command settles it, never reconciliation.
    reconciled: ClassVar[bool] = False

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "wallet_id": self.wallet_id}


PaymentMethod = CardMethod | WalletMethod

_BY_TYPE: Mapping[str, type[CardMethod] | type[WalletMethod]] = {CardMethod.type: CardMethod,
                                                                 WalletMethod.type: WalletMethod}


def method_of(data: Mapping[str, Any]) -> PaymentMethod:
    """A method from its written form (`{"type": "card", "token": ...}`)."""
    kind = _BY_TYPE.get(str(data.get("type")))
    if kind is None:
        raise UnknownPaymentMethod(f"unknown payment method type {data.get('type')!r}")
    return kind(**{k: v for k, v in data.items() if k != "type"})


@dataclass(frozen=True)
class Destination:
    """A bill payment's biller and the customer's number there."""

    service_id: str
    client_number: str

    def as_dict(self) -> dict[str, str]:
        return {"service_id": self.service_id, "client_number": self.client_number}

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> Destination | None:
        return cls(str(data["service_id"]), str(data["client_number"])) if data else None
