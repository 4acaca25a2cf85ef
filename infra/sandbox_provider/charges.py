"""Charges: ``POST /charges``, ``GET /charges[?reference=]``, ``GET /charges/{id}``,
``POST /charges/{id}/void``, and ``GET /requests`` (the charge attempts received).

A charge is made once per Idempotency-Key: the same key with the same body answers the same charge
(``Idempotent-Replayed: true``), with another body is a 409. What the token does is ``tokens.BEHAVIOURS``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox_provider.api import (
    MAX_AMOUNT,
    ApiError,
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
    replayed,
)
from sandbox_provider.callbacks import Callbacks
from sandbox_provider.store import Store
from sandbox_provider.tokens import BEHAVIOURS, Behaviour


class Charges:
    def __init__(self, store: Store, callbacks: Callbacks, stopping: threading.Event, *,
                 timeout_delay: float) -> None:
        self.timeout_delay = float(timeout_delay)
        self._store = store
        self._callbacks = callbacks
        self._stopping = stopping

    def rules(self) -> list[Rule]:
        return [
            Rule("/charges", endpoint=self.create, methods=["POST"]),
            Rule("/charges", endpoint=self.list_charges, methods=["GET"]),
            Rule("/charges/<charge_id>", endpoint=self.get, methods=["GET"]),
            Rule("/charges/<charge_id>/void", endpoint=self.void, methods=["POST"]),
            Rule("/requests", endpoint=self.list_requests, methods=["GET"]),
        ]

    def create(self, request: Request) -> Response:
        body = read_json(request)
        reference, token = body.get("reference"), body.get("token")
        if isinstance(reference, str) and reference:  # counted before validation: a bad request is an attempt too
            self._store.record_request({"reference": reference,
                                        "idempotency_key": request.headers.get("Idempotency-Key"),
                                        "token": token if isinstance(token, str) else None,
                                        "received": time.time()})
        key = idempotency_key(request, required=True)
        behaviour = _validated(body)
        body_fingerprint = fingerprint(body)
        store = self._store
        with store.lock:
            record = store.charge_key(key)
            if record is None:
                record = store.new_charge_key(key, body_fingerprint)
            elif record.fingerprint != body_fingerprint:
                raise key_reused()
            record.attempts += 1
            store.save_charge_key(key, record)
            if record.charge_id is not None:
                return replayed(store.charges[record.charge_id])
            if behaviour.fails(record.attempts):
                raise ApiError(503, "api_error", "provider_unavailable", "the provider is temporarily unavailable")
            charge = _new_charge(body, behaviour)
            store.add_charge(charge)
            record.charge_id = charge["id"]
            store.save_charge_key(key, record)
            charge = dict(charge)
            if behaviour.settles_later:
                store.add_unsettled(charge["id"], silent=not behaviour.calls_back)
                self._callbacks.settle_later(charge["id"])
        if behaviour.holds_answer:
            # The charge is recorded; the answer comes too late for the client, or when we stop.
            self._stopping.wait(self.timeout_delay)
        return json_response(charge)

    def list_charges(self, request: Request) -> Response:
        reference = request.args.get("reference")
        charges = self._store.charges_for(reference)
        return json_response({"object": "list", "reference": reference,
                              "count": sum(1 for c in charges if c["status"] == "succeeded"), "data": charges})

    def get(self, request: Request, charge_id: str) -> Response:
        with self._store.lock:
            return json_response(dict(self._charge(charge_id)))

    def void(self, request: Request, charge_id: str) -> Response:
        with self._store.lock:
            charge = self._charge(charge_id)
            if charge["status"] == "pending":
                charge["status"] = "voided"
                self._store.save_charge(charge)
            elif charge["status"] != "voided":
                raise invalid_state(f"only a pending charge can be voided; this one is {charge['status']}")
            return json_response(dict(charge))

    def list_requests(self, request: Request) -> Response:
        reference = request.args.get("reference")
        entries = self._store.requests_for(reference)
        return json_response({"object": "request_count", "reference": reference, "count": len(entries),
                              "data": entries})

    def _charge(self, charge_id: str) -> dict[str, Any]:
        charge = self._store.charges.get(charge_id)
        if charge is None:
            raise missing("charge", charge_id, "id")
        return charge


def _validated(body: dict[str, Any]) -> Behaviour:
    """The token's behaviour, once the body is a valid charge request."""
    amount, currency, reference, token = (body.get(k) for k in ("amount", "currency", "reference", "token"))
    if not is_int(amount) or not 1 <= amount <= MAX_AMOUNT:
        raise invalid("invalid_amount", f"amount must be an integer from 1 to {MAX_AMOUNT}", "amount")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise invalid("invalid_currency", "currency must be a three-letter ISO 4217 code", "currency")
    if not isinstance(reference, str) or not reference or len(reference) > 255:
        raise invalid("invalid_reference", "reference must be a non-empty string", "reference")
    if not isinstance(token, str) or token not in BEHAVIOURS:
        raise invalid("invalid_token", "unknown or missing card token", "token")
    return BEHAVIOURS[token]


def _new_charge(body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
    return {
        "id": new_id("ch"),
        "object": "charge",
        "status": behaviour.status,
        "amount": body["amount"],
        "currency": body["currency"].upper(),
        "reference": body["reference"],
        "decline_code": behaviour.decline_code,
        "amount_refunded": 0,
        "created": int(time.time()),
    }
