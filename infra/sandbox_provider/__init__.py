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

    The token decides what happens (``tokens.py`` has the table): succeeded, declined, a 503, an answer
    held too long, or pending and settled later with a signed callback (``callbacks.py``).

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
``POST /_control/down``, ``POST /_control/up``  switch the provider down (every other route but
                                ``/health`` answers 503 ``provider_down``) and up again, at run time

Callback signature: header ``Sandbox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
made and checked by the gateway's own code (``paygate.domain.callbacks``), the one implementation of the
scheme; :func:`sign_callback` and :func:`verify_callback` adapt it.

Layout: ``server.py`` (``SandboxProvider``: start, stop, the thread), ``app.py`` (the WSGI app and its
routing), ``charges.py``, ``refunds.py``, ``billers.py`` (the routes), ``tokens.py`` (what each token
does), ``store.py`` (the records and their state file), ``callbacks.py`` (settling and signed callbacks),
``api.py`` (errors, JSON, idempotency keys), ``cli.py`` (the command line).

Run it alone with ``python -m sandbox_provider --port 4010``.
"""

from sandbox_provider.billers import BILLERS, DECLINED_CLIENT_NUMBER
from sandbox_provider.callbacks import DEFAULT_CALLBACK_SECRET, SIGNATURE_HEADER, sign_callback, verify_callback
from sandbox_provider.cli import main
from sandbox_provider.server import SandboxProvider
from sandbox_provider.tokens import TOKENS

__all__ = [
    "BILLERS",
    "DECLINED_CLIENT_NUMBER",
    "DEFAULT_CALLBACK_SECRET",
    "SIGNATURE_HEADER",
    "TOKENS",
    "SandboxProvider",
    "main",
    "sign_callback",
    "verify_callback",
]
