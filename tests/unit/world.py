"""A gateway's services over in-memory fakes: a merchant, its customers' wallets, payments, refunds and
orders, a scripted provider, and the commands run as the processor runs them (the workflow's runner)."""

from __future__ import annotations

from typing import Any

from fakes import FakeOrders, FakePayments, FakeRefunds, FakeWallets, ScriptedProvider, command_context

from paygate.domain import ledger
from paygate.domain.accounts import Merchant
from paygate.domain.methods import CardMethod, Destination, WalletMethod
from paygate.domain.order import Customer
from paygate.domain.payment import Payment
from paygate.domain.refund import Refund
from paygate.schemas.messages import Command
from paygate.services import payments, refunds, wallets
from paygate.services.commands.context import CommandContext
from paygate.services.commands.outcomes import Outcome
from paygate.services.commands.runner import run_command, run_dead_command
from paygate.services.idempotency import IdempotentRequest, idempotent_request
from paygate.services.ports.provider import ChargeResult

NOW = 1000  # epoch seconds of every request: keys live 24 hours from it, whatever the date
OK = ChargeResult("succeeded", "ch_1")


class World:
    def __init__(self, provider: ScriptedProvider | None = None, **limits: Any) -> None:
        self.payments = FakePayments()
        self.refunds = FakeRefunds(self.payments)
        self.wallets = FakeWallets(self.payments, self.refunds)
        self.orders = FakeOrders(self.payments)
        self.provider = provider or ScriptedProvider(OK)
        self.merchant = Merchant("mer_1", "acme", "2026-01-01T00:00:00.000Z")
        self.limits = {"backoff_base": 5, **limits}
        self.keys = 0

    def ctx(self, **delivery: Any) -> CommandContext:
        return command_context(self.payments, self.provider, refunds=self.refunds, wallets=self.wallets,
                               orders=self.orders, **{**self.limits, **delivery})

    def request(self, key: str | None = None, path: str = "/v1/test", body: Any = None,
                merchant: Merchant | None = None) -> IdempotentRequest:
        if key is None:
            self.keys += 1
            key = f"k{self.keys}"
        return idempotent_request(merchant_id=(merchant or self.merchant).id, key=key, method="POST", path=path,
                                  body=body or {}, now=NOW)

    # ------------------------------------------------------------------------------ the API's side

    def customer(self, funds: int = 1000, currency: str = "USD") -> Customer:
        created = wallets.create_customer(self.wallets, merchant=self.merchant, request=self.request(), name="Ana",
                                          email=None, currency=currency).customer
        if funds:
            wallets.topup(self.wallets, merchant=self.merchant, wallet_id=created.wallet_id, amount=funds,
                          request=self.request())
        return created

    def pay(self, method: CardMethod | WalletMethod, amount: int = 500, currency: str = "USD",
            destination: Destination | None = None, key: str | None = None) -> Payment:
        new = payments.NewPayment(amount, currency, method, destination=destination)
        payments.check_payment_method(self.ctx(), self.merchant, new)
        return payments.create_payment(self.payments, merchant=self.merchant, request=self.request(key, body=amount),
                                       new=new, correlation_id="corr").payment

    def wallet_payment(self, customer: Customer, amount: int = 500, destination: Destination | None = None) -> Payment:
        return self.pay(WalletMethod(customer.wallet_id), amount, customer.currency, destination)

    def refund(self, payment: Payment, amount: int | None = None, key: str | None = None) -> Refund:
        return refunds.create_refund(self.payments, self.refunds, merchant=self.merchant, payment_id=payment.id,
                                     amount=amount, request=self.request(key, body=amount),
                                     correlation_id="corr").refund

    # ------------------------------------------------------------------------------ the commands

    def command(self, kind: str, payment_id: str, version: int = 1, **ids: Any) -> Command:
        return Command(type=kind, payment_id=payment_id, expected_version=version, event_id=f"evt_{kind}", **ids)

    def run(self, kind: str, payment_id: str, version: int = 1, *, attempt: int = 1, **ids: Any) -> Outcome:
        return run_command(self.command(kind, payment_id, version, **ids), self.ctx(attempt=attempt))

    def dead(self, kind: str, payment_id: str, version: int = 1, **ids: Any) -> Outcome:
        return run_dead_command(self.command(kind, payment_id, version, **ids), self.ctx())

    # ------------------------------------------------------------------------------ what is stored

    def payment(self, payment_id: str) -> Payment:
        return self.payments.payment(payment_id)

    def events(self, payment_id: str) -> list[str]:
        return [str(e.type) for e in self.payments.records[payment_id].events]

    def available(self, customer: Customer) -> tuple[int, int]:
        wallet = self.wallets.wallet(customer.wallet_id)
        assert wallet is not None
        return wallet.available, wallet.held

    def merchant_balance(self, currency: str = "USD") -> int:
        return self.wallets.balance(ledger.merchant_balance(self.merchant.id, currency))

    def balanced(self) -> bool:
        """The ledger's first rule: per currency, every account sums to zero."""
        return all(total == 0 for total in self.wallets.book.sum_by_currency().values())
