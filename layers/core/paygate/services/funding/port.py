"""The funding port: how a payment's money moves, one implementation per payment method.

A card is charged through its provider's connector (services/funding/card.py); a wallet payment, and
a bill payment from a wallet, move money in the ledger: a hold, then a capture or a release
(services/funding/ledger.py). Both behind one interface, chosen once per payment by
`factory.funding_for`; the commands (processing, cancellation, refunds) only read the payment, check
what every payment shares (stale, canceled, terminal) and hand it to its funding.

Each method writes the payment's (or the refund's) outcome itself: a wallet's movement and the
payment's event are one transaction, which only the ledger's side can make.
"""

from __future__ import annotations

from typing import Protocol

from paygate.domain.accounts import Merchant
from paygate.domain.methods import Destination
from paygate.services.commands.outcomes import Outcome
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.records import EventMeta
from paygate.services.ports.refunds import RefundRecord


class Funding(Protocol):
    # A write that lost a race (ConcurrencyConflict) is decided again from a fresh read, up to this
    # many times in one command, after `pause(attempt)`.
    write_tries: int

    def pause(self, attempt: int) -> None: ...

    def check(self, merchant: Merchant, currency: str, destination: Destination | None) -> None:
        """At the edge, before a payment is accepted: InvalidRequest for what this method cannot take."""

    def take(self, record: PaymentRecord, meta: EventMeta) -> Outcome:
        """The payment's command: charge it, or hold the amount and capture it."""

    def settle(self, record: PaymentRecord, meta: EventMeta) -> Outcome:
        """A signal from outside (a callback, reconciliation): record what the provider holds now."""

    def cancel(self, record: PaymentRecord, meta: EventMeta) -> Outcome:
        """A requested cancel: void a pending charge or release a hold, unless the money was taken."""

    def refund(self, refund: RefundRecord, payment: PaymentRecord, meta: EventMeta) -> Outcome:
        """Give the refund's amount back (through the provider, or to the wallet) and record it."""

    def end_dead(self, record: PaymentRecord, meta: EventMeta) -> Outcome:
        """The payment's command reached the dead-letter queue: end it by what is known, never stuck."""

    def end_dead_refund(self, refund: RefundRecord, payment: PaymentRecord, meta: EventMeta) -> Outcome:
        """A refund's command reached the dead-letter queue: settle it by what is known."""
