"""The one place a payment method is told apart: each method's funding port."""

from __future__ import annotations

from paygate.domain.methods import CardMethod, PaymentMethod, WalletMethod
from paygate.services.commands.context import CommandContext
from paygate.services.funding.card import CardFunding
from paygate.services.funding.ledger import LedgerFunding
from paygate.services.funding.port import Funding


def funding_for(method: PaymentMethod, ctx: CommandContext) -> Funding:
    """A card through the provider's connector; a wallet (a bill payment too) through the ledger."""
    match method:
        case CardMethod():
            return CardFunding(ctx, method)
        case WalletMethod():
            return LedgerFunding(ctx, method)
    raise TypeError(f"no funding for {method!r}")
