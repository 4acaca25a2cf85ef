"""The sandbox payment provider: a small, real HTTP service that behaves like an external card processor.

It is what the gateway's processor talks to in ``paygate dev``, in the end-to-end tests and in the
benchmark. State lives in memory and is thread-safe; with a ``store`` (``paygate dev``'s state file)
every change is also written through to it, and a new provider on the same store carries on where the
last one stopped (its charges, keys, refunds, and the asynchronous charges still to settle). The
server is werkzeug's threaded server and listens on 127.0.0.1 only.

HTTP interface (JSON everywhere; errors are ``{"error": {"type", "code", "message", "param"}}``):

``POST /charges``
    Body ``{"amount": int, "currency": str, "token": str, "reference": str}`` (``reference`` is the
    gateway's payment id), header ``Idempotency-Key`` (required, 1 to 255 characters). Answers 200 with a
    charge ``{"id": "ch_...", "object": "charge", "status": "succeeded"|"declined"|"pending"|"voided",
    "amount", "currency", "reference", "decline_code", "amount_refunded", "created"}``, also when the card
    is declined; 400 for a malformed request; 503 for a simulated provider fault. The same key with the
    same body returns the same charge (header ``Idempotent-Replayed: true``) and creates nothing; the same
    key with a different body is a 409 ``idempotency_key_reused``.

    Tokens:

    ``tok_success``               succeeded
    ``tok_decline``               declined, ``card_declined``
    ``tok_insufficient_funds``    declined, ``insufficient_funds``
    ``tok_provider_error``        always 503, never charges
    ``tok_flaky``                 503 for the first two attempts with a given idempotency key, then succeeded
    ``tok_timeout_after_success`` the first attempt with a key records a succeeded charge, then holds the
                                  answer for ``timeout_delay`` seconds (longer than any sane client timeout);
                                  later attempts with the key answer the existing charge at once
    ``tok_async``                 pending; ``async_delay`` seconds later the charge succeeds and the provider
                                  POSTs ``{"id": "evt_...", "type": "charge.succeeded", "created",
                                  "data": {<charge>}}`` to the callback URL, signed with ``Sandbox-Signature``
                                  (see :func:`sign_callback`); with no callback URL it stays pending
    ``tok_async_no_callback``     as ``tok_async``, but the callback never comes: the charge succeeds
                                  and only a lookup (``GET /charges?reference=``) finds it
    ``tok_pending``               pending until voided
    anything else                 400 ``invalid_token``

``POST /charges/{id}/void``     a pending charge becomes voided (voiding a voided charge answers it again);
                                409 ``invalid_state`` otherwise, 404 for an unknown id
``GET /charges/{id}``           the charge
``GET /charges?reference=ID``   ``{"object": "list", "reference", "count", "data"}``: ``data`` holds every
                                charge for the reference (any status), ``count`` only those that took
                                money (status succeeded)
``POST /refunds``               ``{"charge": id, "amount": int (optional: the rest)}``, optional
                                ``Idempotency-Key``; 200 with ``{"id": "re_...", "object": "refund",
                                "status": "succeeded", "charge", "amount", "currency", "reference",
                                "created"}``; only succeeded charges, never more than was charged
``GET /refunds/{id}``           the refund
``GET /refunds?reference=ID``   ``{"object": "list", "reference", "count", "amount", "data"}``: every refund
                                of the reference's charges, in the order made; ``count`` how many, ``amount`` their
                                sum; each refund carries the ``idempotency_key`` it was made with (or null)
``GET /requests?reference=ID``  ``{"object": "request_count", "reference", "count", "data"}``: the charge
                                attempts received (every ``POST /charges`` that named the reference,
                                including 503s and replays), so tests can prove retries
``GET /callbacks``              the callback delivery attempts made so far (for debugging)
``PUT /callback``               ``{"url": str, "secret": str (optional)}``: where ``tok_async`` results go from
                                now on (``set_callback``), for a gateway deployed after the provider started
                                (``paygate ministack deploy``); 200 ``{"url"}``
``GET /health``                 ``{"status": "ok"}``

Callback signature: header ``Sandbox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
:func:`sign_callback` and :func:`verify_callback` are pure functions of their arguments; the gateway's
callbacks function verifies with the same scheme.

Run it alone with ``python -m sandbox_provider --port 4010``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

__all__ = [
    "SIGNATURE_HEADER",
    "TOKENS",
    "SandboxProvider",
    "main",
    "sign_callback",
    "verify_callback",
]

log = logging.getLogger("paygate.sandbox")

SIGNATURE_HEADER = "Sandbox-Signature"
DEFAULT_CALLBACK_SECRET = "sandbox_secret"

TOKENS = (
    "tok_success",
    "tok_decline",
    "tok_insufficient_funds",
    "tok_provider_error",
    "tok_flaky",
    "tok_timeout_after_success",
    "tok_async",
    "tok_async_no_callback",
    "tok_pending",
)

_FLAKY_FAILURES = 2
_MAX_BODY = 64 * 1024
_MAX_KEY_LENGTH = 255
_MAX_AMOUNT = 99_999_999

# Billers the sandbox pays (bill payments from a wallet); this client number is always declined.
BILLERS = ("svc_electricity", "svc_water", "svc_phone")
DECLINED_CLIENT_NUMBER = "0000000000"
# Delays between callback delivery attempts when the receiver is down or answers non-2xx.
_CALLBACK_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)
_CALLBACK_TIMEOUT = 5.0


# --------------------------------------------------------------------------------------------------
# Callback signatures (pure)


def sign_callback(secret: str | bytes, body: bytes | str, timestamp: int) -> str:
    """The ``Sandbox-Signature`` header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    key = secret.encode() if isinstance(secret, str) else secret
    payload = body.encode() if isinstance(body, str) else body
    ts = int(timestamp)
    digest = hmac.new(key, str(ts).encode() + b"." + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def verify_callback(
    secret: str | bytes,
    body: bytes | str,
    header: str | None,
    tolerance: int = 300,
    *,
    now: int | float | None = None,
) -> bool:
    """True when ``header`` is a valid ``Sandbox-Signature`` for ``body`` within ``tolerance`` seconds.

    Several ``v1=`` entries are allowed (any one matching passes, as during a secret rotation).
    Never raises: a missing or malformed header is simply not valid. ``now`` defaults to the clock.
    """
    if not header or not isinstance(header, str) or not secret:
        return False
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if name == "t":
            if timestamp is not None:
                return False
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif name == "v1":
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if tolerance is not None and abs(current - timestamp) > tolerance:
        return False
    expected = sign_callback(secret, body, timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


# --------------------------------------------------------------------------------------------------
# Helpers


class _ApiError(Exception):
    def __init__(self, status: int, type_: str, code: str, message: str, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "code": code, "message": message, "param": param}}


def _invalid(code: str, message: str, param: str | None = None) -> _ApiError:
    return _ApiError(400, "invalid_request_error", code, message, param)


def _json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _read_json(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if len(raw) > _MAX_BODY:
        raise _ApiError(413, "invalid_request_error", "body_too_large", "request body is too large")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise _invalid("invalid_json", "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _invalid("invalid_json", "request body must be a JSON object")
    return body


def _idempotency_key(request: Request, required: bool) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None or key == "":
        if required:
            raise _invalid("missing_idempotency_key", "the Idempotency-Key header is required", "Idempotency-Key")
        return None
    if len(key) > _MAX_KEY_LENGTH:
        raise _invalid("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters", "Idempotency-Key")
    return key


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _QuietRequestHandler(WSGIRequestHandler):
    """Sends werkzeug's per-request lines to our logger at DEBUG instead of stderr."""

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        level = logging.ERROR if type == "error" else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "%s %s", self.address_string(), message % args if args else message)


class _KeyRecord:
    __slots__ = ("fingerprint", "attempts", "charge_id")

    def __init__(self, fingerprint: str):
        self.fingerprint = fingerprint
        self.attempts = 0
        self.charge_id: str | None = None


# --------------------------------------------------------------------------------------------------
# The provider


def _provider_tracer(traces_file: Path) -> Any:
    """A tracer of service `provider` whose spans are appended to ``traces_file`` as JSON lines."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    from paygate.observability.tracing import SpansFile, span_line

    out = SpansFile(traces_file)
    provider = TracerProvider(resource=Resource.create({"service.name": "provider"}))
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=span_line)))
    return provider.get_tracer("paygate.sandbox")


class SandboxProvider:
    """The sandbox provider as an HTTP server on ``host:port`` (port 0: any free port).

    ``start()`` serves in a background thread and returns ``self``; ``url`` is then
    ``http://127.0.0.1:<port>``; ``stop()`` shuts it down (also ends any held answer or pending callback
    at once). Usable as a context manager. ``callback_url`` and ``callback_secret`` may be changed while it
    runs (``set_callback``), e.g. once the gateway's API port is known.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        callback_url: str | None = None,
        callback_secret: str = DEFAULT_CALLBACK_SECRET,
        timeout_delay: float = 12.0,
        async_delay: float = 1.0,
        store: Any = None,
        traces_file: str | Path | None = None,
    ) -> None:
        self.host = host
        # With a traces file (paygate dev's), a request that carries a `traceparent` is a server span of
        # service `provider` in the caller's trace, written where the functions write theirs.
        self._tracer = _provider_tracer(Path(traces_file)) if traces_file else None
        self.port = port
        self.callback_url = callback_url
        self.callback_secret = callback_secret
        self.timeout_delay = float(timeout_delay)
        self.async_delay = float(async_delay)

        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._workers: set[threading.Thread] = set()

        self._charges: dict[str, dict[str, Any]] = {}
        self._charges_by_reference: dict[str, list[str]] = {}
        self._keys: dict[str, _KeyRecord] = {}
        self._refunds: dict[str, dict[str, Any]] = {}
        self._refund_keys: dict[str, tuple[str, str]] = {}  # key -> (fingerprint, refund id)
        self._bills: dict[str, dict[str, Any]] = {}
        self._bill_keys: dict[str, tuple[str, str]] = {}  # key -> (fingerprint, bill payment id)
        self._requests: list[dict[str, Any]] = []
        self._callbacks: list[dict[str, Any]] = []
        self._unsettled: set[str] = set()  # tok_async charges whose callback is still to come
        self._silent: set[str] = set()  # tok_async_no_callback charges: they settle, nobody is told
        self._store = store
        if store is not None:
            self._load(store)

        self._routes = Map(
            [
                Rule("/health", endpoint="health", methods=["GET"]),
                Rule("/charges", endpoint="create_charge", methods=["POST"]),
                Rule("/charges", endpoint="list_charges", methods=["GET"]),
                Rule("/charges/<charge_id>", endpoint="get_charge", methods=["GET"]),
                Rule("/charges/<charge_id>/void", endpoint="void_charge", methods=["POST"]),
                Rule("/refunds", endpoint="create_refund", methods=["POST"]),
                Rule("/refunds", endpoint="list_refunds", methods=["GET"]),
                Rule("/refunds/<refund_id>", endpoint="get_refund", methods=["GET"]),
                Rule("/billers", endpoint="list_billers", methods=["GET"]),
                Rule("/bill_payments", endpoint="create_bill_payment", methods=["POST"]),
                Rule("/bill_payments", endpoint="list_bill_payments", methods=["GET"]),
                Rule("/requests", endpoint="list_requests", methods=["GET"]),
                Rule("/callbacks", endpoint="list_callbacks", methods=["GET"]),
                Rule("/callback", endpoint="put_callback", methods=["PUT"]),
            ],
            strict_slashes=False,
        )
        self._handlers: dict[str, Callable[..., Response]] = {
            "health": self._health,
            "create_charge": self._create_charge,
            "list_charges": self._list_charges,
            "get_charge": self._get_charge,
            "void_charge": self._void_charge,
            "create_refund": self._create_refund,
            "list_refunds": self._list_refunds,
            "get_refund": self._get_refund,
            "list_billers": self._list_billers,
            "create_bill_payment": self._create_bill_payment,
            "list_bill_payments": self._list_bill_payments,
            "list_requests": self._list_requests,
            "list_callbacks": self._list_callbacks,
            "put_callback": self._put_callback,
        }

    # ---- lifecycle -------------------------------------------------------------------------------

    # ---------------------------------------------------------------- the store (write-through)

    def _save(self, kind: str, record_id: str, record: dict[str, Any]) -> None:
        if self._store is not None:
            self._store.put_sandbox(kind, record_id, record)

    def _save_key(self, key: str, record: _KeyRecord) -> None:
        self._save("key", key, {"fingerprint": record.fingerprint, "attempts": record.attempts,
                                "charge_id": record.charge_id})

    def _load(self, store: Any) -> None:
        requests: dict[int, dict[str, Any]] = {}
        for kind, record_id, record in store.sandbox_records():
            if kind == "charge":
                self._charges[record_id] = record
            elif kind == "key":
                key = self._keys[record_id] = _KeyRecord(record["fingerprint"])
                key.attempts, key.charge_id = record["attempts"], record["charge_id"]
            elif kind == "refund":
                self._refunds[record_id] = record
            elif kind == "refund_key":
                self._refund_keys[record_id] = (record["fingerprint"], record["refund"])
            elif kind == "bill":
                self._bills[record_id] = record
            elif kind == "bill_key":
                self._bill_keys[record_id] = (record["fingerprint"], record["bill"])
            elif kind == "request":
                requests[int(record_id)] = record
            elif kind == "unsettled":
                self._unsettled.add(record_id)
                if record.get("silent"):
                    self._silent.add(record_id)
        for charge in sorted(self._charges.values(), key=lambda c: (c["created"], c["id"])):
            self._charges_by_reference.setdefault(charge["reference"], []).append(charge["id"])
        self._requests = [requests[n] for n in sorted(requests)]
        self._unsettled = {cid for cid in self._unsettled if self._charges.get(cid, {}).get("status") == "pending"}

    def start(self) -> "SandboxProvider":
        if self._server is not None:
            raise RuntimeError("the sandbox provider is already started")
        self._stopping.clear()
        # Bind ourselves so that a busy port is an OSError here, not werkzeug's sys.exit(1).
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            server = make_server(
                self.host,
                sock.getsockname()[1],
                self._wsgi,
                threaded=True,
                request_handler=_QuietRequestHandler,
                fd=sock.fileno(),
            )
        finally:
            sock.close()  # the server holds its own duplicate of the descriptor
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()
        log.info("sandbox provider listening on %s", self.url)
        with self._lock:
            for charge_id in sorted(self._unsettled):  # a restart does not lose a callback still to come
                self._spawn(self._settle_async, charge_id, name=f"sandbox-async-{charge_id}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout)
        self._server = None
        self._thread = None
        log.info("sandbox provider stopped")

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox provider is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> "SandboxProvider":
        return self.start() if self._server is None else self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def set_callback(self, url: str | None, secret: str | None = None) -> None:
        """Where (and with which secret) asynchronous results are sent from now on."""
        with self._lock:
            self.callback_url = url
            if secret is not None:
                self.callback_secret = secret

    # ---- in-process views (the same data as the HTTP endpoints) ------------------------------------

    def charges_for(self, reference: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(self._charges[cid]) for cid in self._charges_by_reference.get(reference, [])]

    def charge_count(self, reference: str) -> int:
        """How many charges took money (status succeeded) for ``reference``."""
        return sum(1 for charge in self.charges_for(reference) if charge["status"] == "succeeded")

    def request_count(self, reference: str) -> int:
        with self._lock:
            return sum(1 for entry in self._requests if entry["reference"] == reference)

    # ---- WSGI ------------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        parent = environ.get("HTTP_TRACEPARENT")
        if self._tracer is None or not parent:
            return self._answer(environ, start_response)
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        context = TraceContextTextMapPropagator().extract({"traceparent": parent})
        name = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        with self._tracer.start_as_current_span(name, context=context, kind=SpanKind.SERVER,
                                                attributes={"http.request.method": environ.get("REQUEST_METHOD", ""),
                                                            "url.path": environ.get("PATH_INFO", "")}) as span:
            statuses: list[str] = []

            def start(status: str, headers: Any, *args: Any) -> Any:
                statuses.append(status)
                return start_response(status, headers, *args)

            body = self._answer(environ, start)
            if statuses:
                span.set_attribute("http.response.status_code", int(statuses[0].split()[0]))
            return body

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        request.max_content_length = _MAX_BODY
        try:
            endpoint, args = self._routes.bind_to_environ(environ).match()
            response = self._handlers[endpoint](request, **args)
        except _ApiError as err:
            response = _json_response(err.body, err.status)
        except MethodNotAllowed as err:
            response = _json_response(
                {"error": {"type": "invalid_request_error", "code": "method_not_allowed",
                           "message": "method not allowed", "param": None}},
                405,
                {"Allow": ", ".join(err.valid_methods or [])},
            )
        except NotFound:
            response = _json_response(
                {"error": {"type": "invalid_request_error", "code": "not_found",
                           "message": f"no route for {request.path}", "param": None}},
                404,
            )
        except HTTPException as err:  # e.g. 413 from max_content_length
            code = "body_too_large" if err.code == 413 else (err.name or "error").lower().replace(" ", "_")
            response = _json_response(
                {"error": {"type": "invalid_request_error", "code": code,
                           "message": err.description or "", "param": None}},
                err.code or 400,
            )
        except Exception:  # a bug here must still answer like a provider, not kill the connection
            log.exception("sandbox provider error on %s %s", request.method, request.path)
            response = _json_response(
                {"error": {"type": "api_error", "code": "internal_error",
                           "message": "internal sandbox error", "param": None}},
                500,
            )
        return response(environ, start_response)

    # ---- handlers --------------------------------------------------------------------------------

    def _health(self, request: Request) -> Response:
        return _json_response({"status": "ok"})

    def _create_charge(self, request: Request) -> Response:
        body = _read_json(request)
        reference = body.get("reference")
        token = body.get("token")
        if isinstance(reference, str) and reference:
            with self._lock:
                self._requests.append(
                    {
                        "reference": reference,
                        "idempotency_key": request.headers.get("Idempotency-Key"),
                        "token": token if isinstance(token, str) else None,
                        "received": time.time(),
                    }
                )
                self._save("request", str(len(self._requests)), self._requests[-1])
        key = _idempotency_key(request, required=True)
        amount = body.get("amount")
        currency = body.get("currency")
        if not _is_int(amount) or not 1 <= amount <= _MAX_AMOUNT:
            raise _invalid("invalid_amount", f"amount must be an integer from 1 to {_MAX_AMOUNT}", "amount")
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            raise _invalid("invalid_currency", "currency must be a three-letter ISO 4217 code", "currency")
        if not isinstance(reference, str) or not reference or len(reference) > 255:
            raise _invalid("invalid_reference", "reference must be a non-empty string", "reference")
        if not isinstance(token, str) or token not in TOKENS:
            raise _invalid("invalid_token", "unknown or missing card token", "token")

        fingerprint = _fingerprint(body)
        hold_answer = False
        with self._lock:
            record = self._keys.get(key)
            if record is None:
                record = self._keys[key] = _KeyRecord(fingerprint)
            elif record.fingerprint != fingerprint:
                raise _ApiError(
                    409, "idempotency_error", "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request body", "Idempotency-Key",
                )
            record.attempts += 1
            self._save_key(key, record)
            if record.charge_id is not None:
                charge = dict(self._charges[record.charge_id])
                return _json_response(charge, 200, {"Idempotent-Replayed": "true"})
            if token == "tok_provider_error" or (token == "tok_flaky" and record.attempts <= _FLAKY_FAILURES):
                raise _ApiError(503, "api_error", "provider_unavailable", "the provider is temporarily unavailable")
            charge = self._new_charge(body, token)
            record.charge_id = charge["id"]
            self._save_key(key, record)
            charge = dict(charge)
            hold_answer = token == "tok_timeout_after_success"
            if token in ("tok_async", "tok_async_no_callback"):
                self._unsettled.add(charge["id"])
                silent = token == "tok_async_no_callback"
                if silent:
                    self._silent.add(charge["id"])
                self._save("unsettled", charge["id"], {"silent": True} if silent else {})
                self._spawn(self._settle_async, charge["id"], name=f"sandbox-async-{charge['id']}")

        if hold_answer:
            # The charge is recorded; the answer comes too late for the client, or when we stop.
            self._stopping.wait(self.timeout_delay)
        return _json_response(charge)

    def _new_charge(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        status, decline_code = {
            "tok_decline": ("declined", "card_declined"),
            "tok_insufficient_funds": ("declined", "insufficient_funds"),
            "tok_async": ("pending", None),
            "tok_async_no_callback": ("pending", None),
            "tok_pending": ("pending", None),
        }.get(token, ("succeeded", None))
        charge = {
            "id": _new_id("ch"),
            "object": "charge",
            "status": status,
            "amount": body["amount"],
            "currency": body["currency"].upper(),
            "reference": body["reference"],
            "decline_code": decline_code,
            "amount_refunded": 0,
            "created": int(time.time()),
        }
        self._charges[charge["id"]] = charge
        self._charges_by_reference.setdefault(charge["reference"], []).append(charge["id"])
        self._save("charge", charge["id"], charge)
        return charge

    def _list_charges(self, request: Request) -> Response:
        reference = request.args.get("reference")
        with self._lock:
            if reference is None:
                charges = [dict(c) for c in self._charges.values()]
            else:
                charges = [dict(self._charges[cid]) for cid in self._charges_by_reference.get(reference, [])]
        return _json_response(
            {
                "object": "list",
                "reference": reference,
                "count": sum(1 for c in charges if c["status"] == "succeeded"),
                "data": charges,
            }
        )

    def _charge_or_404(self, charge_id: str) -> dict[str, Any]:
        charge = self._charges.get(charge_id)
        if charge is None:
            raise _ApiError(404, "invalid_request_error", "resource_missing", f"no such charge: {charge_id}", "id")
        return charge

    def _get_charge(self, request: Request, charge_id: str) -> Response:
        with self._lock:
            return _json_response(dict(self._charge_or_404(charge_id)))

    def _void_charge(self, request: Request, charge_id: str) -> Response:
        with self._lock:
            charge = self._charge_or_404(charge_id)
            if charge["status"] == "pending":
                charge["status"] = "voided"
                self._save("charge", charge["id"], charge)
            elif charge["status"] != "voided":
                raise _ApiError(
                    409, "invalid_request_error", "invalid_state",
                    f"only a pending charge can be voided; this one is {charge['status']}",
                )
            return _json_response(dict(charge))

    def _create_refund(self, request: Request) -> Response:
        body = _read_json(request)
        key = _idempotency_key(request, required=False)
        fingerprint = _fingerprint(body)
        charge_id = body.get("charge")
        amount = body.get("amount")
        if not isinstance(charge_id, str) or not charge_id:
            raise _invalid("invalid_charge", "charge must be a charge id", "charge")
        if amount is not None and (not _is_int(amount) or amount < 1):
            raise _invalid("invalid_amount", "amount must be a positive integer", "amount")
        with self._lock:
            if key is not None and key in self._refund_keys:
                previous_fingerprint, refund_id = self._refund_keys[key]
                if previous_fingerprint != fingerprint:
                    raise _ApiError(
                        409, "idempotency_error", "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request body", "Idempotency-Key",
                    )
                return _json_response(dict(self._refunds[refund_id]), 200, {"Idempotent-Replayed": "true"})
            charge = self._charges.get(charge_id)
            if charge is None:
                raise _ApiError(
                    404, "invalid_request_error", "resource_missing", f"no such charge: {charge_id}", "charge"
                )
            if charge["status"] != "succeeded":
                raise _ApiError(
                    409, "invalid_request_error", "invalid_state",
                    f"only a succeeded charge can be refunded; this one is {charge['status']}",
                )
            remaining = charge["amount"] - charge["amount_refunded"]
            if amount is None:
                amount = remaining
            if amount < 1 or amount > remaining:
                raise _invalid("amount_too_large", f"at most {remaining} can still be refunded", "amount")
            charge["amount_refunded"] += amount
            refund = {
                "id": _new_id("re"),
                "object": "refund",
                "status": "succeeded",
                "charge": charge["id"],
                "amount": amount,
                "currency": charge["currency"],
                "reference": charge["reference"],
                "idempotency_key": key,
                "created": int(time.time()),
            }
            self._refunds[refund["id"]] = refund
            self._save("charge", charge["id"], charge)
            self._save("refund", refund["id"], refund)
            if key is not None:
                self._refund_keys[key] = (fingerprint, refund["id"])
                self._save("refund_key", key, {"fingerprint": fingerprint, "refund": refund["id"]})
            return _json_response(dict(refund))

    def refunds_for(self, reference: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._refunds.values() if r["reference"] == reference]

    def _list_refunds(self, request: Request) -> Response:
        reference = request.args.get("reference")
        if not reference:
            raise _invalid("invalid_reference", "reference (a payment id) is required", "reference")
        refunds = self.refunds_for(reference)
        return _json_response({"object": "list", "reference": reference, "count": len(refunds),
                               "amount": sum(r["amount"] for r in refunds), "data": refunds})

    def _get_refund(self, request: Request, refund_id: str) -> Response:
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None:
                raise _ApiError(404, "invalid_request_error", "resource_missing", f"no such refund: {refund_id}", "id")
            return _json_response(dict(refund))

    # ---- billers (bill payments from a wallet: seed 003) -------------------------------------------

    def _list_billers(self, request: Request) -> Response:
        return _json_response({"object": "list", "data": [{"id": b, "object": "biller"} for b in BILLERS],
                               "declined_client_number": DECLINED_CLIENT_NUMBER})

    def _create_bill_payment(self, request: Request) -> Response:
        """Pay a biller: approved, or declined for client number 0000000000. Idempotent by key."""
        body = _read_json(request)
        key = _idempotency_key(request, required=True)
        amount, currency = body.get("amount"), body.get("currency")
        service_id, client_number, reference = body.get("service_id"), body.get("client_number"), body.get("reference")
        if not _is_int(amount) or not 1 <= amount <= _MAX_AMOUNT:
            raise _invalid("invalid_amount", f"amount must be an integer from 1 to {_MAX_AMOUNT}", "amount")
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
            raise _invalid("invalid_currency", "currency must be a three-letter ISO 4217 code", "currency")
        if service_id not in BILLERS:
            raise _invalid("unknown_service", f"unknown biller; the sandbox knows {', '.join(BILLERS)}", "service_id")
        if not isinstance(client_number, str) or not client_number:
            raise _invalid("invalid_client_number", "client_number is required", "client_number")
        if not isinstance(reference, str) or not reference:
            raise _invalid("invalid_reference", "reference must be a non-empty string", "reference")
        fingerprint = _fingerprint(body)
        with self._lock:
            if key in self._bill_keys:
                previous, bill_id = self._bill_keys[key]
                if previous != fingerprint:
                    raise _ApiError(409, "idempotency_error", "idempotency_key_reused",
                                    "this Idempotency-Key was used with a different request body", "Idempotency-Key")
                return _json_response(dict(self._bills[bill_id]), 200, {"Idempotent-Replayed": "true"})
            declined = client_number == DECLINED_CLIENT_NUMBER
            bill = {"id": _new_id("bp"), "object": "bill_payment", "status": "declined" if declined else "succeeded",
                    "decline_code": "biller_declined" if declined else None, "service_id": service_id,
                    "client_number": client_number, "amount": amount, "currency": currency.upper(),
                    "reference": reference, "created": int(time.time())}
            self._bills[bill["id"]] = bill
            self._bill_keys[key] = (fingerprint, bill["id"])
            self._save("bill", bill["id"], bill)
            self._save("bill_key", key, {"fingerprint": fingerprint, "bill": bill["id"]})
            return _json_response(dict(bill))

    def bill_payments_for(self, reference: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(b) for b in self._bills.values() if b["reference"] == reference]

    def _list_bill_payments(self, request: Request) -> Response:
        reference = request.args.get("reference")
        if not reference:
            raise _invalid("invalid_reference", "reference (a payment id) is required", "reference")
        bills = self.bill_payments_for(reference)
        return _json_response({"object": "list", "reference": reference,
                               "count": sum(1 for b in bills if b["status"] == "succeeded"), "data": bills})

    def _list_requests(self, request: Request) -> Response:
        reference = request.args.get("reference")
        with self._lock:
            entries = [dict(e) for e in self._requests if reference is None or e["reference"] == reference]
        return _json_response(
            {"object": "request_count", "reference": reference, "count": len(entries), "data": entries}
        )

    def _list_callbacks(self, request: Request) -> Response:
        with self._lock:
            entries = [dict(e) for e in self._callbacks]
        return _json_response({"object": "list", "count": len(entries), "data": entries})

    def _put_callback(self, request: Request) -> Response:
        body = _read_json(request)
        url, secret = body.get("url"), body.get("secret")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _invalid("parameter_invalid", "url must be an http(s) URL", "url")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise _invalid("parameter_invalid", "secret must be a non-empty string", "secret")
        self.set_callback(url, secret)
        return _json_response({"url": url})

    # ---- asynchronous results ----------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: Any, name: str) -> None:
        def run() -> None:
            try:
                target(*args)
            except Exception:
                log.exception("sandbox background task %s failed", name)
            finally:
                with self._lock:
                    self._workers.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._workers.add(thread)
        thread.start()

    def _settle_async(self, charge_id: str) -> None:
        if self._stopping.wait(self.async_delay):
            return
        with self._lock:
            url, secret = self.callback_url, self.callback_secret
            charge = self._charges[charge_id]
            silent = charge_id in self._silent
            if (url is None and not silent) or charge["status"] != "pending":
                return  # no one to tell (stays pending), or voided meanwhile
            charge["status"] = "succeeded"
            self._save("charge", charge_id, charge)
            if silent:
                return  # the callback that never arrives: only a lookup finds the charge succeeded
            event = {
                "id": _new_id("evt"),
                "type": "charge.succeeded",
                "created": int(time.time()),
                "data": dict(charge),
            }
        body = json.dumps(event).encode()
        for attempt, delay in enumerate((0.0, *_CALLBACK_RETRY_DELAYS), start=1):
            if delay and self._stopping.wait(delay):
                return
            if self._deliver(url, secret, body, event, attempt):
                return
        log.warning("sandbox callback %s for charge %s was never accepted by %s", event["id"], charge_id, url)

    def _deliver(self, url: str, secret: str, body: bytes, event: dict[str, Any], attempt: int) -> bool:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "paygate-sandbox/1",
            SIGNATURE_HEADER: sign_callback(secret, body, int(time.time())),
        }
        entry: dict[str, Any] = {
            "event_id": event["id"],
            "charge": event["data"]["id"],
            "reference": event["data"]["reference"],
            "url": url,
            "attempt": attempt,
            "sent": time.time(),
            "status_code": None,
            "error": None,
        }
        try:
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=_CALLBACK_TIMEOUT) as response:  # noqa: S310 - our URL
                entry["status_code"] = response.status
        except urllib.error.HTTPError as err:
            entry["status_code"] = err.code
            err.close()
        except (OSError, ValueError) as err:
            entry["error"] = f"{type(err).__name__}: {err}"
        with self._lock:
            self._callbacks.append(entry)
        ok = entry["status_code"] is not None and 200 <= entry["status_code"] < 300
        if not ok:
            log.info("sandbox callback %s attempt %d to %s failed: %s", event["id"], attempt, url,
                     entry["error"] or entry["status_code"])
        return ok


# --------------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox_provider",
        description="Run the paygate sandbox payment provider on 127.0.0.1 in the foreground (Ctrl-C stops).",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 inside a container)")
    parser.add_argument("--port", type=int, default=4010, help="port (0: any free port; default 4010)")
    parser.add_argument("--callback-url", default=None,
                        help="where tok_async results are POSTed, e.g. http://127.0.0.1:3000/callbacks/sandbox")
    parser.add_argument("--callback-secret", default=DEFAULT_CALLBACK_SECRET,
                        help="HMAC secret for the Sandbox-Signature header")
    parser.add_argument("--timeout-delay", type=float, default=12.0,
                        help="seconds tok_timeout_after_success holds its first answer (default 12)")
    parser.add_argument("--async-delay", type=float, default=1.0,
                        help="seconds before a tok_async charge settles and calls back (default 1)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    provider = SandboxProvider(
        host=args.host,
        port=args.port,
        callback_url=args.callback_url,
        callback_secret=args.callback_secret,
        timeout_delay=args.timeout_delay,
        async_delay=args.async_delay,
    )
    try:
        provider.start()
    except OSError as err:
        print(f"sandbox: cannot listen on {args.host}:{args.port}: {err.strerror or err}", file=sys.stderr)
        return 1

    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        done.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    print(f"sandbox provider listening on {provider.url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        provider.stop()
    return 0

