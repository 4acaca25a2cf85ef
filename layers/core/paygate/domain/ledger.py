"""Wallets and the double-entry ledger: accounts, transfers, holds. Pure: no clock, no ids, no I/O.

Every movement of money is a Transfer of a positive amount from one account to another, so per
currency the sum over all accounts is zero at every instant. Accounts:

- a wallet's ``available`` and ``held`` (the customer's money: what can be spent, what a running
  payment has put aside);
- the merchant's ``balance`` (captured wallet payments less their refunds) and ``funding`` (where
  top-ups come from: the world's side of the ledger, the only account that goes below zero: its
  balance is minus what came in from outside);
- a biller's settlement account (bill payments; per merchant, service and currency).

A hold moves money from available to held and resolves exactly once: captured (held -> balance or
biller) or released (held -> available). A wallet's holds are kept by payment id, so a second
capture or release of the same hold is refused, whatever asks for it.

Each change of a wallet is one entry with the wallet's next `sequence` (its version): its events.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Mapping

from paygate.domain.errors import DomainError, InvalidAmount
from paygate.domain.money import MAX_AMOUNT, MIN_AMOUNT


class InsufficientFunds(DomainError):
    def __init__(self, account: str, balance: int, amount: int) -> None:
        super().__init__(f"{account} holds {balance}, less than {amount}")
        self.account, self.balance, self.amount = account, balance, amount


class HoldError(DomainError):
    """A hold placed twice, or resolved when it is not there (resolved already, or never placed)."""


class AccountKind(StrEnum):
    AVAILABLE = "available"
    HELD = "held"
    BALANCE = "balance"
    FUNDING = "funding"
    BILLER = "biller"


# The world's side: money that came in from outside shows here as a negative balance.
EXTERNAL = frozenset({AccountKind.FUNDING})


@dataclass(frozen=True)
class Account:
    kind: AccountKind
    owner: str  # the wallet id; the merchant id; "<merchant id>:<service id>" for a biller
    currency: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.owner}:{self.currency}"

    @property
    def may_go_negative(self) -> bool:
        return self.kind in EXTERNAL


def merchant_balance(merchant_id: str, currency: str) -> Account:
    return Account(AccountKind.BALANCE, merchant_id, currency)


def merchant_funding(merchant_id: str, currency: str) -> Account:
    return Account(AccountKind.FUNDING, merchant_id, currency)


def biller_account(merchant_id: str, service_id: str, currency: str) -> Account:
    return Account(AccountKind.BILLER, f"{merchant_id}:{service_id}", currency)


class EntryType(StrEnum):
    TOPUP = "topup"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    REFUND = "refund"


@dataclass(frozen=True)
class Transfer:
    id: str
    type: EntryType
    source: Account
    destination: Account
    amount: int

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1:
            raise InvalidAmount("a transfer moves a positive integer amount")
        if self.source.currency != self.destination.currency:
            raise InvalidAmount("a transfer stays in one currency")
        if self.source == self.destination:
            raise InvalidAmount("a transfer moves money between two accounts")

    @property
    def currency(self) -> str:
        return self.source.currency


@dataclass(frozen=True)
class Wallet:
    id: str
    merchant_id: str
    customer_id: str
    currency: str
    created_at: str
    available: int = 0
    held: int = 0
    version: int = 0  # the sequence of its last entry
    holds: Mapping[str, int] = field(default_factory=dict)  # payment id -> amount, until resolved

    @property
    def available_account(self) -> Account:
        return Account(AccountKind.AVAILABLE, self.id, self.currency)

    @property
    def held_account(self) -> Account:
        return Account(AccountKind.HELD, self.id, self.currency)


@dataclass(frozen=True)
class WalletEntry:
    """One change of a wallet, as its owner reads it. `amount` is signed from the customer's side:
    what they can spend went up (topup, release, refund) or down (hold), or what was put aside for a
    payment left them for good (capture: `held` went down)."""

    wallet_id: str
    sequence: int
    transfer: Transfer
    amount: int
    available_after: int
    held_after: int
    created_at: str
    payment_id: str | None = None
    order_id: str | None = None

    @property
    def type(self) -> EntryType:
        return self.transfer.type


@dataclass(frozen=True)
class Movement:
    """A transfer as the store writes it: the wallet before (its version is the condition) and after,
    the wallet's entry, and the account on the other side when it is not the wallet's own."""

    before: Wallet
    after: Wallet
    entry: WalletEntry
    counter: Account | None  # None: both sides are the wallet's (a hold, a release)
    hold: str | None = None  # "place" or "resolve": the payment id's hold is added or removed

    @property
    def transfer(self) -> Transfer:
        return self.entry.transfer


def _checked(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        raise InvalidAmount(f"amount must be between {MIN_AMOUNT} and {MAX_AMOUNT} minor units")
    return amount


def _entry(before: Wallet, after: Wallet, transfer: Transfer, signed: int, now: str, *, hold: str | None,
           counter: Account | None, payment_id: str | None, order_id: str | None) -> Movement:
    entry = WalletEntry(wallet_id=before.id, sequence=after.version, transfer=transfer, amount=signed,
                        available_after=after.available, held_after=after.held, created_at=now,
                        payment_id=payment_id, order_id=order_id)
    return Movement(before, after, entry, counter, hold)


def topup(wallet: Wallet, amount: int, *, transfer_id: str, now: str) -> Movement:
    """Money in from the merchant's funding account, credited at once."""
    amount = _checked(amount)
    transfer = Transfer(transfer_id, EntryType.TOPUP, merchant_funding(wallet.merchant_id, wallet.currency),
                        wallet.available_account, amount)
    after = replace(wallet, available=wallet.available + amount, version=wallet.version + 1)
    return _entry(wallet, after, transfer, amount, now, hold=None, counter=transfer.source, payment_id=None,
                  order_id=None)


def place_hold(wallet: Wallet, payment_id: str, amount: int, *, transfer_id: str, now: str,
               order_id: str | None = None) -> Movement:
    """available -> held for a payment. InsufficientFunds when available is short: nothing is held."""
    amount = _checked(amount)
    if payment_id in wallet.holds:
        raise HoldError(f"{payment_id} holds money in {wallet.id} already")
    if wallet.available < amount:
        raise InsufficientFunds(wallet.available_account.key, wallet.available, amount)
    transfer = Transfer(transfer_id, EntryType.HOLD, wallet.available_account, wallet.held_account, amount)
    after = replace(wallet, available=wallet.available - amount, held=wallet.held + amount,
                    version=wallet.version + 1, holds={**wallet.holds, payment_id: amount})
    return _entry(wallet, after, transfer, -amount, now, hold="place", counter=None, payment_id=payment_id,
                  order_id=order_id)


def _resolved(wallet: Wallet, payment_id: str) -> tuple[int, dict[str, int]]:
    if payment_id not in wallet.holds:
        raise HoldError(f"{payment_id} holds nothing in {wallet.id}: resolved already or never placed")
    rest = dict(wallet.holds)
    return rest.pop(payment_id), rest


def capture(wallet: Wallet, payment_id: str, destination: Account, *, transfer_id: str, now: str,
            order_id: str | None = None) -> Movement:
    """held -> the merchant's balance (or a biller's account): the hold resolved, the money gone."""
    amount, rest = _resolved(wallet, payment_id)
    transfer = Transfer(transfer_id, EntryType.CAPTURE, wallet.held_account, destination, amount)
    after = replace(wallet, held=wallet.held - amount, version=wallet.version + 1, holds=rest)
    return _entry(wallet, after, transfer, -amount, now, hold="resolve", counter=destination,
                  payment_id=payment_id, order_id=order_id)


def release(wallet: Wallet, payment_id: str, *, transfer_id: str, now: str, order_id: str | None = None) -> Movement:
    """held -> available: the hold resolved, the money the customer's again."""
    amount, rest = _resolved(wallet, payment_id)
    transfer = Transfer(transfer_id, EntryType.RELEASE, wallet.held_account, wallet.available_account, amount)
    after = replace(wallet, available=wallet.available + amount, held=wallet.held - amount,
                    version=wallet.version + 1, holds=rest)
    return _entry(wallet, after, transfer, amount, now, hold="resolve", counter=None, payment_id=payment_id,
                  order_id=order_id)


def refund(wallet: Wallet, amount: int, source: Account, *, payment_id: str, transfer_id: str, now: str) -> Movement:
    """Back to the wallet from the account the payment was captured to. The store refuses it when that
    account holds less than `amount` (it is not the wallet's, so this function cannot see it)."""
    amount = _checked(amount)
    transfer = Transfer(transfer_id, EntryType.REFUND, source, wallet.available_account, amount)
    after = replace(wallet, available=wallet.available + amount, version=wallet.version + 1)
    return _entry(wallet, after, transfer, amount, now, hold=None, counter=source, payment_id=payment_id,
                  order_id=None)


@dataclass
class Book:
    """Balances by account, every transfer applied whole or not at all: the ledger's rules in memory
    (what the DynamoDB transaction's conditions enforce, and what the property test checks)."""

    balances: dict[Account, int] = field(default_factory=dict)

    def balance(self, account: Account) -> int:
        return self.balances.get(account, 0)

    def post(self, transfer: Transfer) -> None:
        have = self.balance(transfer.source)
        if not transfer.source.may_go_negative and have < transfer.amount:
            raise InsufficientFunds(transfer.source.key, have, transfer.amount)
        self.balances[transfer.source] = have - transfer.amount
        self.balances[transfer.destination] = self.balance(transfer.destination) + transfer.amount

    def sum_by_currency(self) -> dict[str, int]:
        sums: dict[str, int] = {}
        for account, amount in self.balances.items():
            sums[account.currency] = sums.get(account.currency, 0) + amount
        return sums
