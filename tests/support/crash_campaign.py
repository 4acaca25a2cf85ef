"""A crash campaign: clients pay, refund, cancel and pay from wallets while `paygate dev` itself is
SIGKILLed at random moments and started again on the same state directory. After each restart and
at the end it checks what a merchant was told: every object answered 2xx is there, a retry with its
Idempotency-Key answers the first object, and at the end every payment and refund is terminal, the
sandbox holds exactly one charge per COMPLETED card payment and none that no payment accounts for,
and the stored state keeps its invariants (fold(events) == state, refunds, the ledger).

Used by tests/e2e/test_crash.py (a small fixed slice in CI) and `make crash-campaign` (as many kills
and payments as asked: PAYGATE_CAMPAIGN_KILLS, PAYGATE_CAMPAIGN_PAYMENTS).
"""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

CARD_TOKENS = ("tok_success", "tok_success", "tok_success", "tok_success", "tok_decline", "tok_pending",
               "tok_async", "tok_timeout_after_success", "tok_flaky", "tok_insufficient_funds")
TERMINAL = {"COMPLETED", "FAILED", "CANCELED"}
# While the gateway is down or dying a request fails to connect, or is cut, or meets a stopping server.
RETRIABLE = (httpx.TransportError,)


@dataclass
class Answered:
    """A request answered 2xx, and the answer the client got first."""

    kind: str
    key: str
    path: str
    body: dict[str, Any] | None
    status: int
    answer: dict[str, Any]


@dataclass
class Report:
    kills: int = 0
    restarts_seconds: list[float] = field(default_factory=list)
    answered: list[Answered] = field(default_factory=list)
    retried_after_kill: int = 0
    replays_checked: int = 0
    charges: int = 0
    problems: list[str] = field(default_factory=list)

    def payments(self) -> list[Answered]:
        return [a for a in self.answered if a.kind in ("card", "wallet")]


class Campaign:
    """``start()`` gives a started gateway (a DevProcess) on ``state_dir``; the same call restarts it."""

    def __init__(self, start: Callable[[], Any], *, kills: int, payments: int, clients: int = 8,
                 seed: int = 7, customers: int = 4) -> None:
        self._start = start
        self.kills, self.payments, self.clients, self.customers = kills, payments, clients, customers
        self.rng = random.Random(seed)
        self.seed = seed
        self.report = Report()
        self._lock = threading.Lock()
        self._up = threading.Event()
        self._done = threading.Event()
        self.dev: Any = None
        self.wallets: list[str] = []

    # ------------------------------------------------------------------ the run

    def run(self) -> Report:
        self.dev = self._start()
        self._up.set()
        self._setup()
        threads = [threading.Thread(target=self._client, args=(n,), name=f"client-{n}", daemon=True)
                   for n in range(self.clients)]
        for thread in threads:
            thread.start()
        try:
            self._kill_along()
        finally:
            self._done.set()
            self._up.set()
            for thread in threads:
                thread.join(120)
        self._settle()
        self._check_replays(self.report.answered)
        self._check_charges()
        return self.report

    def stop(self) -> None:
        if self.dev is not None:
            self.dev.stop()

    def _http(self) -> httpx.Client:
        info = self.dev.info
        return httpx.Client(base_url=info.api_url, headers={"Authorization": f"Bearer {info.api_key}"},
                            timeout=30)

    def _setup(self) -> None:
        with self._Holder(self) as holder:
            for n in range(self.customers):
                customer = self._post(holder, "customer", "/v1/customers", {"name": f"crash-{n}"}, f"cus-{n}")
                assert customer is not None, self.report.problems
                wallet = customer.answer["wallet_id"]
                self._post(holder, "topup", f"/v1/wallets/{wallet}/topups", {"amount": 5_000_000}, f"top-{n}")
                self.wallets.append(wallet)

    def _kill_along(self) -> None:
        """Kill at random moments, each once some work was answered since the last start; then let
        the clients finish their payments."""
        while self.report.kills < self.kills:
            answered_before = len(self.report.answered)
            time.sleep(self.rng.uniform(0.3, 1.5))
            deadline = time.monotonic() + 60
            while len(self.report.answered) == answered_before and time.monotonic() < deadline:
                time.sleep(0.05)
            self._up.clear()
            self.dev.process.send_signal(signal.SIGKILL)
            self.dev.process.wait(30)
            self.report.kills += 1
            began = time.monotonic()
            self.dev = self._start()
            self.report.restarts_seconds.append(round(time.monotonic() - began, 2))
            self._check_reachable()
            self._up.set()
        while len(self.report.payments()) < self.payments:
            time.sleep(0.1)

    # ------------------------------------------------------------------ clients

    def _client(self, n: int) -> None:
        rng = random.Random(self.seed * 1000 + n)
        mine: list[Answered] = []
        with self._Holder(self) as holder:
            while len(self.report.payments()) < self.payments or self.report.kills < self.kills:
                roll = rng.random()
                key = f"c{n}-{uuid.uuid4().hex[:12]}"
                if roll < 0.15 and mine:
                    self._refund(holder, rng, mine, key)
                elif roll < 0.25 and mine:
                    target = rng.choice(mine)
                    self._post(holder, "cancel", f"/v1/payments/{target.answer['id']}/cancel", None, key,
                               accept=(202,), refuse=(409,))
                elif roll < 0.45:
                    body = {"amount": rng.randint(100, 500), "currency": "USD",
                            "payment_method": {"type": "wallet", "wallet_id": rng.choice(self.wallets)}}
                    self._record(mine, self._post(holder, "wallet", "/v1/payments", body, key))
                else:
                    body = {"amount": rng.randint(500, 5000), "currency": "USD",
                            "payment_method": {"type": "card", "token": rng.choice(CARD_TOKENS)}}
                    self._record(mine, self._post(holder, "card", "/v1/payments", body, key))

    def _record(self, mine: list[Answered], answered: Answered | None) -> None:
        if answered is not None:
            mine.append(answered)

    def _refund(self, holder: Any, rng: random.Random, mine: list[Answered], key: str) -> None:
        target = rng.choice(mine)
        found = self._get(holder, f"/v1/payments/{target.answer['id']}")
        if found is None or found.get("status") != "COMPLETED":
            return
        left = found["amount"] - found.get("amount_refunded", 0)
        if left <= 0:
            return
        self._post(holder, "refund", f"/v1/payments/{found['id']}/refunds",
                   {"amount": rng.randint(1, left)}, key, accept=(202,), refuse=(400, 409))

    class _Holder:
        def __init__(self, campaign: Campaign) -> None:
            self.campaign, self.http, self.dev = campaign, None, None

        def client(self) -> httpx.Client:
            if self.dev is not self.campaign.dev:  # a restart: a new connection pool
                if self.http is not None:
                    self.http.close()
                self.http, self.dev = self.campaign._http(), self.campaign.dev
            return self.http

        def __enter__(self) -> Campaign._Holder:
            return self

        def __exit__(self, *exc: Any) -> None:
            if self.http is not None:
                self.http.close()

    def _post(self, holder: Any, kind: str, path: str, body: dict[str, Any] | None, key: str,
              accept: tuple[int, ...] = (200, 201, 202), refuse: tuple[int, ...] = ()) -> Answered | None:
        """POST until answered (the merchant's retry: same key, same body), through kills."""
        retried = False
        for _ in range(200):
            self._up.wait()
            try:
                response = holder.client().post(path, json=body, headers={"Idempotency-Key": key})
            except RETRIABLE:
                retried = True
                time.sleep(0.1)
                continue
            if response.status_code in (502, 503):  # a stopping gateway, or a worker that died
                retried = True
                time.sleep(0.1)
                continue
            if response.status_code in refuse:
                return None
            if response.status_code not in accept:
                self._problem(f"{kind} {path} key {key}: {response.status_code} {response.text[:300]}")
                return None
            answered = Answered(kind, key, path, body, response.status_code, response.json())
            with self._lock:
                self.report.answered.append(answered)
                self.report.retried_after_kill += retried
            return answered
        self._problem(f"{kind} {path} key {key}: never answered")
        return None

    def _get(self, holder: Any, path: str) -> dict[str, Any] | None:
        for _ in range(200):
            self._up.wait()
            try:
                response = holder.client().get(path)
            except RETRIABLE:
                time.sleep(0.1)
                continue
            if response.status_code in (502, 503):
                time.sleep(0.1)
                continue
            return response.json() if response.status_code == 200 else None
        return None

    # ------------------------------------------------------------------ checks

    def _problem(self, text: str) -> None:
        with self._lock:
            self.report.problems.append(text)

    def _objects(self) -> list[tuple[str, str]]:
        """(what, GET path) of every object answered so far."""
        with self._lock:
            answered = list(self.report.answered)
        paths = []
        for a in answered:
            if a.kind in ("card", "wallet", "cancel"):
                paths.append((a.key, f"/v1/payments/{a.answer['id']}"))
            elif a.kind == "refund":
                paths.append((a.key, f"/v1/refunds/{a.answer['id']}"))
            elif a.kind == "customer":
                paths.append((a.key, f"/v1/customers/{a.answer['id']}"))
        return paths

    def _check_reachable(self) -> None:
        """After a restart: everything answered before the kill is there."""
        with self._http() as http:
            for key, path in self._objects():
                response = http.get(path)
                if response.status_code != 200:
                    self._problem(f"after kill {self.report.kills}: {path} (key {key}) is {response.status_code}")
        with self._lock:
            sample = random.Random(self.report.kills).sample(self.report.answered, min(20, len(self.report.answered)))
        self._check_replays(sample)

    def _check_replays(self, answered: list[Answered]) -> None:
        """A retry with the same key answers the first object, status and body."""
        with self._http() as http:
            for a in answered:
                response = http.post(a.path, json=a.body, headers={"Idempotency-Key": a.key})
                self.report.replays_checked += 1
                if (response.status_code, response.json()) != (a.status, a.answer):
                    self._problem(f"replay of {a.kind} key {a.key}: {response.status_code} {response.text[:300]} "
                                  f"!= first {a.status} {a.answer}")

    def _settle(self, timeout: float = 180.0) -> None:
        """Every payment and refund answered reaches a terminal state."""
        deadline = time.monotonic() + timeout
        with self._http() as http:
            for key, path in self._objects():
                if not path.startswith(("/v1/payments/", "/v1/refunds/")):
                    continue
                final = {"SUCCEEDED", "FAILED"} if path.startswith("/v1/refunds/") else TERMINAL
                status = None
                while time.monotonic() < deadline:
                    found = http.get(path).json()
                    status = found.get("status")
                    if status in final:
                        break
                    if status == "PROCESSING" and found.get("payment_method", {}).get("token") == "tok_pending":
                        http.post(f"{path}/cancel", headers={"Idempotency-Key": f"settle-{key}"})
                    time.sleep(0.2)
                if status not in final:
                    self._problem(f"{path} (key {key}) is still {status}")

    def _check_charges(self) -> None:
        """Exactly one charge per COMPLETED card payment, none for another, none unaccounted for."""
        info = self.dev.info
        with self._http() as http, httpx.Client(base_url=info.provider_url, timeout=30) as sandbox:
            charges = sandbox.get("/charges").json()["data"]
            self.report.charges = len(charges)
            payments = {a.answer["id"]: a for a in self.report.answered if a.kind == "card"}
            succeeded: dict[str, int] = {}
            for charge in charges:
                reference = charge["reference"]
                if reference not in payments:
                    self._problem(f"sandbox charge {charge['id']} for {reference}: no payment answered for it")
                if charge["status"] == "succeeded":
                    succeeded[reference] = succeeded.get(reference, 0) + 1
            for payment_id in payments:
                status = http.get(f"/v1/payments/{payment_id}").json()["status"]
                expected = 1 if status == "COMPLETED" else 0
                if succeeded.get(payment_id, 0) != expected:
                    self._problem(f"{payment_id} is {status} with {succeeded.get(payment_id, 0)} succeeded charges")


def stored_invariants(info: Any, tables: dict[str, str]) -> tuple[int, int, int]:
    """fold(events) == state, refunds and the ledger, on what the backend stores."""
    import boto3
    from botocore.config import Config
    from invariants import check, check_ledger, scan

    client = boto3.client("dynamodb", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=Config(account_id_endpoint_mode="disabled"))
    items = scan(client, tables["aggregates"])
    payments, refunds = check(items)
    return payments, refunds, check_ledger(items)

