"""Refunds: ``POST /refunds``, ``GET /refunds?reference=``, ``GET /refunds/{id}``.

Only a succeeded charge is refunded, never for more than is left of it; an optional Idempotency-Key
makes a repeat answer the same refund.
"""

from __future__ import annotations

import time

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox_provider.api import (
    fingerprint,
    idempotency_key,
    invalid,
    invalid_state,
    is_int,
    json_response,
    key_reused,
    missing,
    new_id,
    read_json,
    reference_param,
    replayed,
)
from sandbox_provider.store import Store


class Refunds:
    def __init__(self, store: Store) -> None:
        self._store = store

    def rules(self) -> list[Rule]:
        return [
            Rule("/refunds", endpoint=self.create, methods=["POST"]),
            Rule("/refunds", endpoint=self.list_refunds, methods=["GET"]),
            Rule("/refunds/<refund_id>", endpoint=self.get, methods=["GET"]),
        ]

    def create(self, request: Request) -> Response:
        body = read_json(request)
        key = idempotency_key(request, required=False)
        body_fingerprint = fingerprint(body)
        charge_id, amount = body.get("charge"), body.get("amount")
        if not isinstance(charge_id, str) or not charge_id:
            raise invalid("invalid_charge", "charge must be a charge id", "charge")
        if amount is not None and (not is_int(amount) or amount < 1):
            raise invalid("invalid_amount", "amount must be a positive integer", "amount")
        store = self._store
        with store.lock:
            previous = store.refund_by_key(key) if key is not None else None
            if previous is not None:
                if previous[0] != body_fingerprint:
                    raise key_reused()
                return replayed(previous[1])
            charge = store.charges.get(charge_id)
            if charge is None:
                raise missing("charge", charge_id, "charge")
            if charge["status"] != "succeeded":
                raise invalid_state(f"only a succeeded charge can be refunded; this one is {charge['status']}")
            remaining = charge["amount"] - charge["amount_refunded"]
            if amount is None:
                amount = remaining
            if amount < 1 or amount > remaining:
                raise invalid("amount_too_large", f"at most {remaining} can still be refunded", "amount")
            charge["amount_refunded"] += amount
            refund = {
                "id": new_id("re"),
                "object": "refund",
                "status": "succeeded",
                "charge": charge["id"],
                "amount": amount,
                "currency": charge["currency"],
                "reference": charge["reference"],
                "idempotency_key": key,
                "created": int(time.time()),
            }
            store.save_charge(charge)
            store.add_refund(refund, key, body_fingerprint)
            return json_response(dict(refund))

    def list_refunds(self, request: Request) -> Response:
        reference = reference_param(request)
        refunds = self._store.refunds_for(reference)
        return json_response({"object": "list", "reference": reference, "count": len(refunds),
                              "amount": sum(r["amount"] for r in refunds), "data": refunds})

    def get(self, request: Request, refund_id: str) -> Response:
        with self._store.lock:
            refund = self._store.refunds.get(refund_id)
            if refund is None:
                raise missing("refund", refund_id, "id")
            return json_response(dict(refund))
