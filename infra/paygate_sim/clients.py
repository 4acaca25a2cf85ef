"""The merchants' side: what their servers ask of the API, when, and how they retry, all from the seed.

Each merchant has a webhook endpoint (up, flaky, slow or down) and customers with wallets, topped up
now and then. Payments arrive at a steady rate: card payments with every sandbox token, wallet
payments on a few wallets (so they race for the same money), some sent twice with one key; some get
refunded (sometimes by two requests at once), some canceled (sometimes while a refund is asked). An
API call that crashed or answered 5xx is sent again with the same Idempotency-Key, as a client does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from paygate_sim.engine import Faults, History, Scheduler
from paygate_sim.sources import Invoker
from paygate_sim.world import World, api_event

TOKENS = ("tok_success", "tok_decline", "tok_insufficient_funds", "tok_provider_error", "tok_flaky",
          "tok_timeout_after_success", "tok_async", "tok_async_no_callback")
WEIGHTS = (60, 5, 3, 2, 5, 5, 8, 2)
ROUTE = ("sandbox", "sandbox-b")  # every merchant's route: the failover's two providers
ENDPOINT_KINDS = ("up", "flaky", "up", "slow", "up", "down", "up", "flaky")


@dataclass
class Merchant:
    id: str
    key: str
    endpoint_url: str = ""
    wallets: list[str] = field(default_factory=list)


class Clients:
    def __init__(self, world: World, scheduler: Scheduler, faults: Faults, history: History, invoke: Invoker):
        self.world, self.scheduler, self.faults, self.history, self.invoke = world, scheduler, faults, history, invoke
        self.rng = faults.rng
        self.merchants: list[Merchant] = []
        self.payments: list[str] = []
        self.open_calls = 0
        self.requests = 0

    # ------------------------------------------------------------------ the API, as a client calls it

    def call(self, merchant: Merchant, method: str, path: str, body: Any, key: str | None,
             done: Callable[[int, dict[str, Any]], None] | None = None, tries: int = 0) -> None:
        self.requests += 1
        headers = {"Authorization": f"Bearer {merchant.key}"}
        if key:
            headers["Idempotency-Key"] = key
        event = api_event(method, path, body, headers, f"req-{self.requests}")
        result = self.invoke("ApiFunction", event)
        status = int((result.payload or {}).get("statusCode", 0)) if result.ok else 0
        answer = json.loads((result.payload or {}).get("body") or "{}") if result.ok else {}
        self.history.add(self.scheduler.now, f"api {method} {path} key={key} -> {status} "
                                             f"{answer.get('id', '')} {answer.get('status', '')}")
        if status == 0 or status >= 500:
            if key is not None and tries < 8:
                self.faults.count("api_client_retry")
                self.open_calls += 1
                self.scheduler.after(self.rng.uniform(0.5, 3.0) * (tries + 1), "api-retry",
                                     lambda: self._retried(merchant, method, path, body, key, done, tries + 1))
            return
        if done is not None:
            done(status, answer)

    def _retried(self, *args: Any) -> None:
        self.open_calls -= 1
        self.call(*args)

    # ------------------------------------------------------------------ set-up

    def setup(self, merchants: int, wallets_per_merchant: int) -> None:
        from paygate.services.merchants import register_merchant

        for n in range(merchants):
            merchant, key = register_merchant(self.world.container.merchants, f"merchant-{n}")
            m = Merchant(merchant.id, key)
            self.merchants.append(m)
            kind = ENDPOINT_KINDS[n % len(ENDPOINT_KINDS)]
            m.endpoint_url = f"https://{kind}.m{n}.example/hooks"
            self.call(m, "POST", "/v1/webhook_endpoints", {"url": m.endpoint_url}, f"ep-{n}")
            self.call(m, "PUT", "/v1/routing", {"default": list(ROUTE)}, f"route-{n}",
                      lambda status, body: self._routed(status, body))
            for w in range(wallets_per_merchant):
                self.call(m, "POST", "/v1/customers", {"name": f"c{n}-{w}", "currency": "USD"}, f"cus-{n}-{w}",
                          lambda status, body, m=m: m.wallets.append(body["wallet_id"]) if status == 201 else None)
        for m in self.merchants:
            for wallet in m.wallets:
                self.topup(m, wallet, 20_000)

    @staticmethod
    def _routed(status: int, body: dict[str, Any]) -> None:
        if status != 200:
            raise RuntimeError(f"PUT /v1/routing answered {status}: {body}")

    def topup(self, m: Merchant, wallet: str, amount: int) -> None:
        self.requests += 1
        self.call(m, "POST", f"/v1/wallets/{wallet}/topups", {"amount": amount}, f"top-{self.requests}")

    # ------------------------------------------------------------------ the workload

    def arrive(self, n: int, at: float) -> None:
        self.scheduler.at(at, "pay", lambda: self.pay(n))

    def pay(self, n: int) -> None:
        rng = self.rng
        m = self.merchants[rng.randrange(len(self.merchants))]
        if m.wallets and rng.random() < 0.25:
            method: dict[str, Any] = {"type": "wallet", "wallet_id": m.wallets[rng.randrange(len(m.wallets))]}
            self.faults.count("wallet_payment_race")
            if rng.random() < 0.05:
                self.topup(m, method["wallet_id"], 20_000)
        else:
            method = {"type": "card", "token": rng.choices(TOKENS, WEIGHTS)[0]}
        body = {"amount": rng.randint(100, 5000), "currency": "USD", "payment_method": method}
        key = f"pay-{n}"
        self.call(m, "POST", "/v1/payments", body, key, lambda s, b: self._created(m, s, b))
        if self.faults.draw("api_duplicate_request", 0.03):
            self.scheduler.after(rng.uniform(0, 2.0), "pay-again",
                                 lambda: self.call(m, "POST", "/v1/payments", body, key))

    def _created(self, m: Merchant, status: int, body: dict[str, Any]) -> None:
        if status != 202:
            return
        payment_id = body["id"]
        self.payments.append(payment_id)
        rng = self.rng
        roll = rng.random()
        if roll < 0.12:
            when = rng.uniform(2.0, 120.0)
            self.scheduler.after(when, "refund", lambda: self.refund(m, payment_id, body["amount"]))
            if self.faults.draw("concurrent_refunds", 0.3):
                self.scheduler.after(when, "refund", lambda: self.refund(m, payment_id, body["amount"]))
        elif roll < 0.17:
            when = rng.uniform(0.0, 3.0)
            self.scheduler.after(when, "cancel", lambda: self.cancel(m, payment_id))
            if self.faults.draw("refund_cancel_race", 0.3):
                self.scheduler.after(when, "refund", lambda: self.refund(m, payment_id, body["amount"]))

    def refund(self, m: Merchant, payment_id: str, amount: int) -> None:
        self.requests += 1
        part = self.rng.choice((None, max(1, amount // 2), amount))
        self.call(m, "POST", f"/v1/payments/{payment_id}/refunds", {} if part is None else {"amount": part},
                  f"ref-{self.requests}")

    def cancel(self, m: Merchant, payment_id: str) -> None:
        self.requests += 1
        self.call(m, "POST", f"/v1/payments/{payment_id}/cancel", None, f"can-{self.requests}")
