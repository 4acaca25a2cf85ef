"""The seeded outside world: the payment provider (the sandbox's behaviours, token by token, plus the
faults the seed adds: a 5xx before anything happens, a timeout after the charge succeeded, a callback
duplicated, late or early) and the merchants' webhook endpoints (up, flaky, down, slow).

The provider keeps what it did; the invariants read it (money taken per payment, refunds given).
Every decision is drawn from the simulation's random generator in the order the calls come: the run
is single-threaded, so the same seed gives the same decisions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from paygate.services.ports.provider import ChargeResult, ProviderRejected, ProviderUnavailable, RefundResult
from paygate.services.ports.webhooks import DeliveryError

Draw = Callable[[str, float], bool]  # (fault kind, probability) -> whether it happens (counted)


@dataclass
class Charge:
    id: str
    reference: str
    amount: int
    status: str  # succeeded | declined | pending | voided
    decline_code: str | None
    token: str
    calls_back: bool = True
    refunded: int = 0
    attempts: int = 0


@dataclass
class ProviderModel:
    """One provider; ``draw`` decides the seeded faults, ``later(delay, fn)`` schedules its callbacks."""

    name: str
    draw: Draw
    later: Callable[[float, Callable[[], None]], None]
    post_callback: Callable[[dict[str, Any]], None]
    now: Callable[[], float] = lambda: 0.0
    down_until: float = 0.0  # a provider down for a stretch of virtual time: every call refused
    charges: dict[str, Charge] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    refunds: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (refund id, amount)
    refunds_by_reference: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    bills: dict[str, Charge] = field(default_factory=dict)
    counter: int = 0
    calls: int = 0
    early: list[Charge] = field(default_factory=list)
    flaky: dict[str, int] = field(default_factory=dict)  # tok_flaky's tries by idempotency key

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.name}_{self.counter:07d}"

    def go_down(self, seconds: float) -> None:
        """Down (connections refused) from now for ``seconds`` of virtual time."""
        self.down_until = max(self.down_until, self.now() + seconds)

    def _lost_answer(self) -> ProviderUnavailable:
        """The charge was made and its answer lost; sometimes because the provider fell over as it
        answered: it refuses every call for the next 2 virtual seconds (the quick retries, the look-up)."""
        if self.draw("provider_down", 0.15):
            self.go_down(2.0)
        return ProviderUnavailable("timed out after the charge succeeded (simulated)", charged_maybe=True)

    def _transient(self) -> None:
        self.calls += 1
        if self.now() < self.down_until:
            raise ProviderUnavailable(f"{self.name} is down: connection refused (simulated)")
        if self.draw("provider_5xx", 0.03):
            raise ProviderUnavailable("503 from the provider (simulated)")

    # ------------------------------------------------------------------ charges

    def charge(self, *, reference: str, amount: int, currency: str, token: str, idempotency_key: str) -> ChargeResult:
        self._transient()
        charge_id = self.by_key.get(idempotency_key)
        if charge_id is None and token == "tok_flaky":  # 503 for the first two tries of a key, no charge made
            self.flaky[idempotency_key] = self.flaky.get(idempotency_key, 0) + 1
            if self.flaky[idempotency_key] <= 2:
                raise ProviderUnavailable("tok_flaky: 503 (simulated)")
        if charge_id is None:
            charge = self._new_charge(reference, amount, token)
            if charge.status == "unavailable":
                raise ProviderUnavailable("tok_provider_error: 503 (simulated)")
            self.charges[charge.id] = charge
            self.by_key[idempotency_key] = charge.id
        charge = self.charges[charge_id or self.by_key[idempotency_key]]
        charge.attempts += 1
        answer = self._result(charge)
        while self.early:
            self._settle(self.early.pop())
        if charge.token == "tok_timeout_after_success" and charge.attempts == 1:
            self.draw("provider_timeout_after_success", 1.0)
            raise self._lost_answer()
        if charge.status == "succeeded" and charge.attempts == 1 and self.draw("provider_timeout_after_success", 0.02):
            raise self._lost_answer()
        return answer

    def _new_charge(self, reference: str, amount: int, token: str) -> Charge:
        status, code = {"tok_decline": ("declined", "card_declined"),
                        "tok_insufficient_funds": ("declined", "insufficient_funds"),
                        "tok_provider_error": ("unavailable", None),
                        "tok_async": ("pending", None), "tok_async_no_callback": ("pending", None),
                        "tok_pending": ("pending", None)}.get(token, ("succeeded", None))
        if status == "succeeded" and self.draw("provider_decline", 0.04):
            status, code = "declined", "card_declined"
        charge = Charge(self._id("ch"), reference, amount, status, code, token,
                        calls_back=token != "tok_async_no_callback")
        if token in ("tok_async", "tok_async_no_callback"):
            self._settle_later(charge)
        return charge

    def _settle_later(self, charge: Charge) -> None:
        if charge.calls_back and self.draw("callback_early", 0.1):
            # Settled at once, and its callback reaches the gateway before the charge's own answer
            # (pending) does: inside the processor's invocation, before it records anything.
            self.early.append(charge)
            return
        delay = 900.0 if self.draw("callback_late", 0.1) else 1.0
        self.later(delay, lambda: self._settle(charge))

    def _settle(self, charge: Charge) -> None:
        if charge.status != "pending":
            return
        charge.status = "succeeded"
        if not charge.calls_back:
            return
        event = {"id": self._id("evt"), "type": "charge.succeeded", "created": 0,
                 "data": {"id": charge.id, "object": "charge", "status": "succeeded", "amount": charge.amount,
                          "reference": charge.reference, "decline_code": None, "amount_refunded": 0}}
        self.post_callback(event)
        if self.draw("callback_duplicated", 0.1):
            self.later(5.0, lambda: self.post_callback(event))

    @staticmethod
    def _result(charge: Charge) -> ChargeResult:
        status = "pending" if charge.status == "voided" else charge.status
        return ChargeResult(status, charge.id, charge.decline_code)

    def find_charge(self, reference: str, request: Any = None) -> ChargeResult | None:
        self._transient()
        mine = [c for c in self.charges.values() if c.reference == reference]
        for wanted in ("succeeded", "pending"):
            for charge in mine:
                if charge.status == wanted:
                    return self._result(charge)
        return None

    def void(self, charge_id: str) -> ChargeResult:
        self._transient()
        charge = self.charges.get(charge_id)
        if charge is None or charge.status not in ("pending", "voided"):
            raise ProviderRejected(f"charge {charge_id} is not pending")
        charge.status = "voided"
        return ChargeResult("voided", charge.id, None)

    # ------------------------------------------------------------------ refunds

    def refund(self, *, charge_id: str, amount: int, idempotency_key: str) -> RefundResult:
        self._transient()
        if idempotency_key in self.refunds:
            return RefundResult("succeeded", self.refunds[idempotency_key][0])
        charge = self.charges.get(charge_id)
        if charge is None or charge.status != "succeeded" or charge.refunded + amount > charge.amount:
            raise ProviderRejected(f"refund of {amount} on {charge_id} refused")
        charge.refunded += amount
        refund_id = self._id("re")
        self.refunds[idempotency_key] = (refund_id, amount)
        self.refunds_by_reference.setdefault(charge.reference, []).append((idempotency_key, refund_id, amount))
        if self.draw("provider_timeout_after_success", 0.02):
            raise ProviderUnavailable("timed out after the refund succeeded (simulated)", charged_maybe=True)
        return RefundResult("succeeded", refund_id)

    def find_refund(self, reference: str, idempotency_key: str) -> RefundResult | None:
        self._transient()
        for key, refund_id, _ in self.refunds_by_reference.get(reference, []):
            if key == idempotency_key:
                return RefundResult("succeeded", refund_id)
        return None

    # ------------------------------------------------------------------ bills

    def pay_bill(self, *, reference: str, service_id: str, client_number: str, amount: int, currency: str,
                 idempotency_key: str) -> ChargeResult:
        self._transient()
        key = f"bill:{idempotency_key}"
        if key not in self.by_key:
            status = "declined" if self.draw("provider_decline", 0.04) else "succeeded"
            bill = Charge(self._id("bp"), reference, amount, status, "biller_declined" if status == "declined" else None,
                          "bill")
            self.bills[bill.id] = bill
            self.by_key[key] = bill.id
        return self._result(self.bills[self.by_key[key]])

    def find_bill_payment(self, reference: str) -> ChargeResult | None:
        self._transient()
        for bill in self.bills.values():
            if bill.reference == reference and bill.status == "succeeded":
                return self._result(bill)
        return None

    # ------------------------------------------------------------------ what the invariants read

    def money_taken(self) -> dict[str, list[Charge]]:
        """Per payment (reference): its charges and bill payments that took money."""
        out: dict[str, list[Charge]] = {}
        for charge in [*self.charges.values(), *self.bills.values()]:
            if charge.status == "succeeded":
                out.setdefault(charge.reference, []).append(charge)
        return out


class Endpoints:
    """The merchants' webhook endpoints, by URL: the host says how it behaves (up, flaky, slow, or down
    for the first DOWN_FOR seconds: every event of that time is dead-lettered, its attempts used up).
    ``received[url]`` holds the ids of the events each endpoint answered 2xx to."""

    DOWN_FOR = 20.0  # virtual seconds from the start that the "down" endpoints are down; then they are back

    def __init__(self, count: Callable[[str], None], now: Callable[[], float]):
        self.count, self.now = count, now
        self.received: dict[str, set[str]] = {}
        self.posts = 0

    def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> int:
        self.posts += 1
        event_id = json.loads(body).get("id", "")
        # Decided by (url, event, attempt) alone: deliver_batch posts from threads, in any order.
        attempt = headers.get("webhook-id", "") + headers.get("webhook-timestamp", "")
        roll = int(hashlib.sha256(f"{url}|{event_id}|{attempt}".encode()).hexdigest()[:8], 16) / 2 ** 32
        if "down" in url and self.now() < self.DOWN_FOR:
            self.count("webhook_endpoint_down")
            return 500
        if "slow" in url and roll < 0.3:
            self.count("webhook_endpoint_slow")
            raise DeliveryError("timed out (simulated)")
        if "flaky" in url and roll < 0.4:
            self.count("webhook_endpoint_5xx")
            return 503
        self.received.setdefault(url, set()).add(event_id)
        return 200


class OpenGuard:
    """Every simulated endpoint may receive webhooks (they are not on the network)."""

    def check(self, url: str) -> str | None:
        return None
