"""Asynchronous results: a ``tok_async`` charge succeeds ``async_delay`` seconds after it was made, and
the provider POSTs ``{"id": "evt_...", "type": "charge.succeeded", "created", "data": {<charge>}}`` to the
callback URL, signed with ``Sandbox-Signature`` and retried while the receiver is down or answers non-2xx.

The signature is the gateway's own scheme (``paygate.domain.callbacks``: the one implementation, which
the callbacks function verifies with); ``sign_callback`` and ``verify_callback`` adapt it to callers
that pass text or want a plain yes or no.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from paygate.domain.callbacks import TOLERANCE, MalformedSignature, sign, signature_valid
from sandbox_provider.api import new_id
from sandbox_provider.store import Store

log = logging.getLogger("paygate.sandbox")

SIGNATURE_HEADER = "Sandbox-Signature"
DEFAULT_CALLBACK_SECRET = "sandbox_secret"

# Delays between callback delivery attempts when the receiver is down or answers non-2xx.
RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)
DELIVERY_TIMEOUT = 5.0


def sign_callback(secret: str | bytes, body: bytes | str, timestamp: int) -> str:
    """The ``Sandbox-Signature`` header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return sign(secret, body.encode() if isinstance(body, str) else body, int(timestamp))


def verify_callback(
    secret: str | bytes,
    body: bytes | str,
    header: str | None,
    tolerance: int = TOLERANCE,
    *,
    now: int | float | None = None,
) -> bool:
    """True when ``header`` is a valid ``Sandbox-Signature`` for ``body`` within ``tolerance`` seconds, as
    the gateway decides it (several ``v1=`` entries: any one matching passes). Never raises: a missing or
    malformed header is simply not valid. ``now`` defaults to the clock."""
    payload = body.encode() if isinstance(body, str) else body
    try:
        return signature_valid(secret, payload, header, time.time() if now is None else now, tolerance)
    except MalformedSignature:
        return False


class Callbacks:
    """Settles asynchronous charges and tells the callback URL, each in a thread of its own; ``stopping``
    ends every wait at once, and ``join`` waits for the threads."""

    def __init__(self, store: Store, stopping: threading.Event, *, url: str | None, secret: str,
                 async_delay: float) -> None:
        self.url = url
        self.secret = secret
        self.async_delay = float(async_delay)
        self._store = store
        self._stopping = stopping
        self._workers: set[threading.Thread] = set()

    def set_target(self, url: str | None, secret: str | None = None) -> None:
        """Where (and with which secret) asynchronous results are sent from now on."""
        with self._store.lock:
            self.url = url
            if secret is not None:
                self.secret = secret

    def settle_later(self, charge_id: str) -> None:
        self._spawn(self._settle, charge_id, name=f"sandbox-async-{charge_id}")

    def resume(self) -> None:
        """A restart does not lose a callback still to come."""
        with self._store.lock:
            for charge_id in sorted(self._store.unsettled):
                self.settle_later(charge_id)

    def join(self, timeout: float) -> None:
        with self._store.lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout)

    def _spawn(self, target: Callable[..., None], *args: Any, name: str) -> None:
        def run() -> None:
            try:
                target(*args)
            except Exception:
                log.exception("sandbox background task %s failed", name)
            finally:
                with self._store.lock:
                    self._workers.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._store.lock:
            self._workers.add(thread)
        thread.start()

    def _settle(self, charge_id: str) -> None:
        if self._stopping.wait(self.async_delay):
            return
        store = self._store
        with store.lock:
            url, secret = self.url, self.secret
            charge = store.charges[charge_id]
            silent = store.is_silent(charge_id)
            if (url is None and not silent) or charge["status"] != "pending":
                return  # no one to tell (stays pending), or voided meanwhile
            charge["status"] = "succeeded"
            store.save_charge(charge)
            if silent:
                return  # the callback that never arrives: only a lookup finds the charge succeeded
            event = {"id": new_id("evt"), "type": "charge.succeeded", "created": int(time.time()),
                     "data": dict(charge)}
        body = json.dumps(event).encode()
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS), start=1):
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
            with urllib.request.urlopen(req, timeout=DELIVERY_TIMEOUT) as response:  # noqa: S310 - our URL
                entry["status_code"] = response.status
        except urllib.error.HTTPError as err:
            entry["status_code"] = err.code
            err.close()
        except (OSError, ValueError) as err:
            entry["error"] = f"{type(err).__name__}: {err}"
        self._store.add_callback(entry)
        ok = entry["status_code"] is not None and 200 <= entry["status_code"] < 300
        if not ok:
            log.info("sandbox callback %s attempt %d to %s failed: %s", event["id"], attempt, url,
                     entry["error"] or entry["status_code"])
        return ok
