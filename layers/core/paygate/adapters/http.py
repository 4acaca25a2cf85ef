"""Outbound HTTP (httpx): the payment provider connector and the webhook transport."""

from __future__ import annotations

from typing import Any

import httpx

from paygate.services.ports.provider import (
    ChargeRequest,
    ChargeResult,
    ProviderRejected,
    ProviderUnavailable,
    RefundResult,
)
from paygate.services.ports.webhooks import DeliveryError


class SandboxProvider:
    """The connector for the sandbox provider's API (POST /charges, Idempotency-Key)."""

    def __init__(self, base_url: str, timeout: float, client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One request; transient faults (no answer, 5xx, 429) and refusals (4xx) as provider errors."""
        try:
            response = self.client.request(method, f"{self.base_url}{path}", **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # never reached the provider
            raise ProviderUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:  # read timeouts, resets: the request may have been carried out
            raise ProviderUnavailable(f"{type(exc).__name__}: {exc}", charged_maybe=True) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ProviderUnavailable(f"provider answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ProviderRejected(f"provider refused {method} {path}: HTTP {response.status_code} "
                                   f"{response.text[:200]}")
        return response.json()

    def charge(self, *, reference: str, amount: int, currency: str, token: str,
               idempotency_key: str) -> ChargeResult:
        body = self._call("POST", "/charges", headers={"Idempotency-Key": idempotency_key},
                          json={"amount": amount, "currency": currency, "token": token, "reference": reference})
        return ChargeResult(status=body["status"], charge_id=body.get("id"), decline_code=body.get("decline_code"))

    def find_charge(self, reference: str, request: ChargeRequest | None = None) -> ChargeResult | None:
        charges = self._call("GET", "/charges", params={"reference": reference}).get("data") or []
        for status in ("succeeded", "pending"):
            for charge in charges:
                if charge.get("status") == status:
                    return ChargeResult(status=status, charge_id=charge.get("id"))
        return None

    def void(self, charge_id: str) -> ChargeResult:
        body = self._call("POST", f"/charges/{charge_id}/void")
        return ChargeResult(status=body["status"], charge_id=body.get("id"))

    def refund(self, *, charge_id: str, amount: int, idempotency_key: str) -> RefundResult:
        body = self._call("POST", "/refunds", headers={"Idempotency-Key": idempotency_key},
                          json={"charge": charge_id, "amount": amount})
        return RefundResult(status=body["status"], refund_id=body.get("id"))

    def find_refund(self, reference: str, idempotency_key: str) -> RefundResult | None:
        refunds = self._call("GET", "/refunds", params={"reference": reference}).get("data") or []
        for refund in refunds:
            if refund.get("idempotency_key") == idempotency_key:
                return RefundResult(status=refund["status"], refund_id=refund.get("id"))
        return None

    def pay_bill(self, *, reference: str, service_id: str, client_number: str, amount: int, currency: str,
                 idempotency_key: str) -> ChargeResult:
        body = self._call("POST", "/bill_payments", headers={"Idempotency-Key": idempotency_key},
                          json={"reference": reference, "service_id": service_id, "client_number": client_number,
                                "amount": amount, "currency": currency})
        return ChargeResult(status=body["status"], charge_id=body.get("id"), decline_code=body.get("decline_code"))

    def find_bill_payment(self, reference: str) -> ChargeResult | None:
        bills = self._call("GET", "/bill_payments", params={"reference": reference}).get("data") or []
        for bill in bills:
            return ChargeResult(status=bill["status"], charge_id=bill.get("id"), decline_code=bill.get("decline_code"))
        return None


class HttpxTransport:
    def __init__(self, client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(follow_redirects=False)

    def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> int:
        try:
            return self.client.post(url, content=body.encode("utf-8"), headers=headers, timeout=timeout).status_code
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
