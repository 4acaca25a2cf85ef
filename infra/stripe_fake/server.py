"""``StripeFake``: the contract fake's records, routes and server (see the package's docstring)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

import httpx
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

DECLINES = {"pm_card_chargeDeclined": "generic_decline",
            "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds"}


def sign(secret: str, payload: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _json(body: Any, status: int = 200, replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return Response(json.dumps(body), status, headers, content_type="application/json")


def _error(status: int, type_: str, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": type_, "message": message, **extra}}


class StripeFake:
    def __init__(self, hold_seconds: float = 2.0) -> None:
        self.lock = threading.RLock()
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, tuple[str, int, dict[str, Any]]] = {}  # key -> (fingerprint, status, body)
        self.requests: list[dict[str, Any]] = []
        self.down = False
        self.hold_first_answer = False
        self.hold_seconds = hold_seconds
        self._map = Map([
            Rule("/v1/payment_intents", endpoint=self.create_intent, methods=["POST"]),
            Rule("/v1/payment_intents/<intent_id>", endpoint=self.get_intent, methods=["GET"]),
            Rule("/v1/payment_intents/<intent_id>/cancel", endpoint=self.cancel_intent, methods=["POST"]),
            Rule("/v1/refunds", endpoint=self.create_refund, methods=["POST"]),
        ])
        self._server: Any = None

    # ---- what tests read ----
    def charges_for(self, reference: str) -> list[dict[str, Any]]:
        """PaymentIntents that took money (succeeded) for our reference."""
        with self.lock:
            return [dict(i) for i in self.intents.values()
                    if i["metadata"].get("reference") == reference and i["status"] == "succeeded"]

    # ---- server ----
    def start(self) -> StripeFake:
        self._server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=_Quiet)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> StripeFake:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if self.down:
            response = _json(*reversed(_error(503, "api_error", "the fake is switched down")))
        else:
            handler, args = self._map.bind_to_environ(environ).match()
            response = handler(request, **args)
        return response(environ, start_response)

    # ---- idempotency (Stripe's documented behaviour) ----
    def _idempotent(self, request: Request, make: Any) -> Response:
        key = request.headers.get("Idempotency-Key")
        params = request.form.to_dict()
        fingerprint = json.dumps({"path": request.path, "params": params}, sort_keys=True)
        self.requests.append({"path": request.path, "key": key, "params": params})
        with self.lock:
            if key and key in self.keys:
                first, status, body = self.keys[key]
                if first != fingerprint:
                    status, body = _error(400, "idempotency_error", "Keys for idempotent requests can only be "
                                          "used with the same parameters they were first used with.")
                    return _json(body, status)
                return _json(body, status, replayed=True)
            status, body = make(params)
            if key:
                self.keys[key] = (fingerprint, status, body)
        if self.hold_first_answer and request.path == "/v1/payment_intents":
            time.sleep(self.hold_seconds)  # carried out, but the answer comes too late for the client
        return _json(body, status)

    # ---- routes ----
    def create_intent(self, request: Request) -> Response:
        return self._idempotent(request, self._new_intent)

    def _new_intent(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        method = params.get("payment_method", "")
        intent = {"id": "pi_" + secrets.token_hex(12), "object": "payment_intent", "amount": int(params["amount"]),
                  "currency": params["currency"], "payment_method": method, "status": "succeeded",
                  "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
                  "last_payment_error": None, "amount_received": int(params["amount"])}
        if method in DECLINES:
            error = {"code": "card_declined", "decline_code": DECLINES[method], "message": "Your card was declined."}
            intent.update(status="requires_payment_method", last_payment_error=error, amount_received=0)
            self.intents[intent["id"]] = intent
            return _error(402, "card_error", error["message"], code="card_declined",
                          decline_code=DECLINES[method], payment_intent=dict(intent))
        self.intents[intent["id"]] = intent
        return 200, dict(intent)

    def get_intent(self, request: Request, intent_id: str) -> Response:
        with self.lock:
            intent = self.intents.get(intent_id)
        if intent is None:
            return _json(_error(404, "invalid_request_error", "No such payment_intent")[1], 404)
        return _json(intent)

    def cancel_intent(self, request: Request, intent_id: str) -> Response:
        with self.lock:
            intent = self.intents.get(intent_id)
            if intent is None:
                return _json(_error(404, "invalid_request_error", "No such payment_intent")[1], 404)
            if intent["status"] == "succeeded":
                return _json(_error(400, "invalid_request_error", "You cannot cancel this PaymentIntent because "
                                    "it has a status of succeeded.", code="payment_intent_unexpected_state")[1], 400)
            intent["status"] = "canceled"
            return _json(intent)

    def create_refund(self, request: Request) -> Response:
        return self._idempotent(request, self._new_refund)

    def _new_refund(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(params.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return _error(400, "invalid_request_error", "This PaymentIntent has no charge to refund.")
        amount = int(params.get("amount") or intent["amount"])
        refunded = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"])
        if refunded + amount > intent["amount"]:
            return _error(400, "invalid_request_error", "Refund amount is greater than unrefunded amount.")
        refund = {"id": "re_" + secrets.token_hex(12), "object": "refund", "amount": amount,
                  "payment_intent": intent["id"], "status": "succeeded"}
        self.refunds[refund["id"]] = refund
        return 200, dict(refund)

    # ---- webhooks ----
    @staticmethod
    def send_event(url: str, secret: str, type_: str, obj: dict[str, Any], *, signature: str | None = None) -> int:
        payload = json.dumps({"id": "evt_" + secrets.token_hex(12), "object": "event", "type": type_,
                              "api_version": "2024-06-20", "created": int(time.time()),
                              "data": {"object": obj}})
        headers = {"Stripe-Signature": signature or sign(secret, payload), "Content-Type": "application/json"}
        return httpx.post(url, content=payload, headers=headers).status_code


class _Quiet(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        pass
