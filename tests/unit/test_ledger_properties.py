"""The ledger's rules, checked over any sequence of top-ups, holds, captures, releases and refunds
(Hypothesis): no account but the world's side (funding) ever goes below zero, per currency all
accounts sum to zero, a wallet's balances are its accounts' balances, and a hold resolves once."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from paygate.domain import ledger
from paygate.domain.errors import InvalidAmount
from paygate.domain.ledger import Book, HoldError, InsufficientFunds, Wallet

NOW = "2026-11-24T00:00:00.000Z"
WALLETS = [("wal_a", "USD"), ("wal_b", "USD"), ("wal_c", "JPY")]
amounts = st.integers(min_value=1, max_value=5_000)


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def open_wallets(self) -> None:
        self.book = Book()
        self.wallets = {w: Wallet(w, "mer_1", f"cus_{w}", currency, NOW) for w, currency in WALLETS}
        self.ids = (f"txn_{n}" for n in itertools.count())
        self.payments = (f"pay_{n}" for n in itertools.count())
        self.captured: dict[str, tuple[str, ledger.Account]] = {}  # payment -> (wallet, where it went)
        self.resolved: set[str] = set()

    def _apply(self, move: ledger.Movement) -> None:
        self.book.post(move.transfer)  # all or nothing: raises before changing a balance
        self.wallets[move.after.id] = move.after

    @rule(wallet=st.sampled_from([w for w, _ in WALLETS]), amount=amounts)
    def topup(self, wallet: str, amount: int) -> None:
        self._apply(ledger.topup(self.wallets[wallet], amount, transfer_id=next(self.ids), now=NOW))

    @rule(wallet=st.sampled_from([w for w, _ in WALLETS]), amount=amounts)
    def hold(self, wallet: str, amount: int) -> None:
        before = self.wallets[wallet]
        payment = next(self.payments)
        try:
            move = ledger.place_hold(before, payment, amount, transfer_id=next(self.ids), now=NOW)
        except InsufficientFunds:
            assert before.available < amount
            return
        self._apply(move)

    def _open_holds(self) -> list[tuple[str, str]]:
        return sorted((w.id, p) for w in self.wallets.values() for p in w.holds)

    @precondition(lambda self: self._open_holds())
    @rule(data=st.data(), to_biller=st.booleans())
    def capture(self, data: st.DataObject, to_biller: bool) -> None:
        wallet_id, payment = data.draw(st.sampled_from(self._open_holds()))
        wallet = self.wallets[wallet_id]
        to = (ledger.biller_account("mer_1", "svc_water", wallet.currency) if to_biller
              else ledger.merchant_balance("mer_1", wallet.currency))
        self._apply(ledger.capture(wallet, payment, to, transfer_id=next(self.ids), now=NOW))
        self.captured[payment] = (wallet_id, to)
        self.resolved.add(payment)

    @precondition(lambda self: self._open_holds())
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        wallet_id, payment = data.draw(st.sampled_from(self._open_holds()))
        self._apply(ledger.release(self.wallets[wallet_id], payment, transfer_id=next(self.ids), now=NOW))
        self.resolved.add(payment)

    @precondition(lambda self: self.resolved)
    @rule(data=st.data(), capture=st.booleans())
    def resolve_again(self, data: st.DataObject, capture: bool) -> None:
        """A hold already captured or released cannot be resolved a second time, either way."""
        payment = data.draw(st.sampled_from(sorted(self.resolved)))
        for wallet in self.wallets.values():
            with pytest.raises(HoldError):
                if capture:
                    ledger.capture(wallet, payment, ledger.merchant_balance("mer_1", wallet.currency),
                                   transfer_id=next(self.ids), now=NOW)
                else:
                    ledger.release(wallet, payment, transfer_id=next(self.ids), now=NOW)

    @precondition(lambda self: self.captured)
    @rule(data=st.data(), amount=amounts)
    def refund(self, data: st.DataObject, amount: int) -> None:
        payment = data.draw(st.sampled_from(sorted(self.captured)))
        wallet_id, source = self.captured[payment]
        before = dict(self.book.balances)
        move = ledger.refund(self.wallets[wallet_id], amount, source, payment_id=payment,
                             transfer_id=next(self.ids), now=NOW)
        try:
            self._apply(move)
        except InsufficientFunds:
            assert self.book.balances == before  # refused whole: nothing moved
            assert self.book.balance(source) < amount

    @invariant()
    def no_account_below_zero(self) -> None:
        for account, amount in self.book.balances.items():
            assert amount >= 0 or account.may_go_negative, (account, amount)

    @invariant()
    def each_currency_sums_to_zero(self) -> None:
        assert all(total == 0 for total in self.book.sum_by_currency().values()), self.book.sum_by_currency()

    @invariant()
    def wallets_are_their_accounts(self) -> None:
        for w in self.wallets.values():
            assert (w.available, w.held) == (self.book.balance(w.available_account), self.book.balance(w.held_account))
            assert w.held == sum(w.holds.values()) and w.available >= 0 and w.held >= 0

    @invariant()
    def only_the_world_side_is_negative(self) -> None:
        funding = [a for a in self.book.balances if a.kind == ledger.AccountKind.FUNDING]
        assert all(self.book.balance(a) <= 0 for a in funding)


LedgerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_the_ledger_keeps_its_rules_over_any_sequence = LedgerMachine.TestCase


def test_a_transfer_is_one_positive_amount_in_one_currency_between_two_accounts():
    usd = ledger.merchant_balance("mer_1", "USD")
    for bad in (0, -5, True, 1.5):
        with pytest.raises(InvalidAmount):
            ledger.Transfer("t", ledger.EntryType.TOPUP, ledger.merchant_funding("mer_1", "USD"), usd, bad)
    with pytest.raises(InvalidAmount):
        ledger.Transfer("t", ledger.EntryType.TOPUP, ledger.merchant_funding("mer_1", "EUR"), usd, 5)
    with pytest.raises(InvalidAmount):
        ledger.Transfer("t", ledger.EntryType.TOPUP, usd, usd, 5)


def test_entries_number_a_wallets_changes_and_say_what_is_left():
    w = Wallet("wal_a", "mer_1", "cus_a", "USD", NOW)
    top = ledger.topup(w, 1000, transfer_id="t1", now=NOW)
    hold = ledger.place_hold(top.after, "pay_1", 150, transfer_id="t2", now=NOW)
    cap = ledger.capture(hold.after, "pay_1", ledger.merchant_balance("mer_1", "USD"), transfer_id="t3", now=NOW)
    assert [(m.entry.sequence, m.entry.type, m.entry.amount, m.entry.available_after, m.entry.held_after)
            for m in (top, hold, cap)] == [(1, "topup", 1000, 1000, 0), (2, "hold", -150, 850, 150),
                                           (3, "capture", -150, 850, 0)]
    with pytest.raises(HoldError):
        ledger.place_hold(hold.after, "pay_1", 10, transfer_id="t4", now=NOW)
