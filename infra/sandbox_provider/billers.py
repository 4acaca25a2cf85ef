"""Billers and bill payments (paying a service from a wallet): ``GET /billers``, ``POST /bill_payments``,
``GET /bill_payments?reference=``. A payment is approved, or declined for client number 0000000000.
"""

from __future__ import annotations

import time

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox_provider.api import (
    MAX_AMOUNT,
    fingerprint,
    idempotency_key,
    invalid,
    is_int,
    json_response,
    key_reused,
    new_id,
    read_json,
    reference_param,
    replayed,
)
from sandbox_provider.store import Store

# Billers the sandbox pays (bill payments from a wallet); this client number is always declined.
BILLERS = ("svc_electricity", "svc_water", "svc_phone")
DECLINED_CLIENT_NUMBER = "0000000000"


class Billers:
    def __init__(self, store: Store) -> None:
        self._store = store

    def rules(self) -> list[Rule]:
        return [
            Rule("/billers", endpoint=self.list_billers, methods=["GET"]),
            Rule("/bill_payments", endpoint=self.pay, methods=["POST"]),
            Rule("/bill_payments", endpoint=self.list_payments, methods=["GET"]),
        ]

    def list_billers(self, request: Request) -> Response:
        return json_response({"object": "list", "data": [{"id": b, "object": "biller"} for b in BILLERS],
                              "declined_client_number": DECLINED_CLIENT_NUMBER})

    def pay(self, request: Request) -> Response:
        """Pay a biller: approved, or declined for client number 0000000000. Idempotent by key."""
        body = read_json(request)
        key = idempotency_key(request, required=True)
        amount, currency = body.get("amount"), body.get("currency")
        service_id, client_number, reference = body.get("service_id"), body.get("client_number"), body.get("reference")
        if not is_int(amount) or not 1 <= amount <= MAX_AMOUNT:
            raise invalid("invalid_amount", f"amount must be an integer from 1 to {MAX_AMOUNT}", "amount")
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
            raise invalid("invalid_currency", "currency must be a three-letter ISO 4217 code", "currency")
        if service_id not in BILLERS:
            raise invalid("unknown_service", f"unknown biller; the sandbox knows {', '.join(BILLERS)}", "service_id")
        if not isinstance(client_number, str) or not client_number:
            raise invalid("invalid_client_number", "client_number is required", "client_number")
        if not isinstance(reference, str) or not reference:
            raise invalid("invalid_reference", "reference must be a non-empty string", "reference")
        body_fingerprint = fingerprint(body)
        store = self._store
        with store.lock:
            previous = store.bill_by_key(key)
            if previous is not None:
                if previous[0] != body_fingerprint:
                    raise key_reused()
                return replayed(previous[1])
            declined = client_number == DECLINED_CLIENT_NUMBER
            bill = {"id": new_id("bp"), "object": "bill_payment", "status": "declined" if declined else "succeeded",
                    "decline_code": "biller_declined" if declined else None, "service_id": service_id,
                    "client_number": client_number, "amount": amount, "currency": currency.upper(),
                    "reference": reference, "created": int(time.time())}
            store.add_bill(bill, key, body_fingerprint)
            return json_response(dict(bill))

    def list_payments(self, request: Request) -> Response:
        reference = reference_param(request)
        bills = self._store.bill_payments_for(reference)
        return json_response({"object": "list", "reference": reference,
                              "count": sum(1 for b in bills if b["status"] == "succeeded"), "data": bills})
