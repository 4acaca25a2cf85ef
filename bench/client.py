"""The bench's client side: POST payments, receive their signed webhooks, time them.

Two scenarios, both timed from the POST to the arrival of the payment's ``payment.completed``
webhook (every webhook's Standard Webhooks signature is verified):

- ``run_load``: ``concurrency`` client threads POST ``payments`` payments back to back; throughput is
  completed payments per second from the first POST to the last webhook.
- ``run_sequential``: one payment at a time: POST one, wait for its webhook, then the next.

The endpoint is registered for every event type (the gateway's real work for one payment with one
endpoint on all events), and only ``payment.completed`` is timed.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks import Webhook

EVENT_TYPE = "payment.completed"
SEQUENTIAL_WAIT = 30.0  # one at a time, a webhook later than this ends the scenario
POST_ATTEMPTS = 3  # a POST that fails in transport is retried with the same Idempotency-Key
WALLETS = 16  # customers whose wallets pay, in turn, with --token wallet


class BenchError(Exception):
    """The benchmark cannot run (exit status 2)."""


def percentile(values: Iterable[float], p: float) -> float | None:
    """The ``p``-th percentile (0 to 100) of ``values``, interpolated linearly between closest ranks.

    Matches ``numpy.percentile``'s default ("linear") method; ``None`` for no values.
    """
    if not 0 <= p <= 100:
        raise ValueError("p must be between 0 and 100")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_ms(values: Iterable[float]) -> dict[str, float | None]:
    """p50/p90/p99 of durations in seconds, in milliseconds."""
    values = list(values)
    return {f"p{p}": None if (v := percentile(values, p)) is None else round(v * 1000, 1) for p in (50, 90, 99)}




# ------------------------------------------------------------------------------------------------------
# The webhook receiver


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that verifies Standard Webhooks and records when each payment completed.

    ``secret`` must be set (``set_secret``) before deliveries are expected; a delivery arriving earlier
    waits a few seconds for it, then is answered 503 so the gateway retries it.
    """

    def __init__(self, event_type: str = EVENT_TYPE, path: str = "/hook") -> None:
        self.event_type = event_type
        self.path = path
        self.arrivals: dict[str, float] = {}  # payment id -> time.monotonic() of its first valid webhook
        self.deliveries = 0  # every POST received
        self.duplicates = 0  # valid repeats of an event for a payment already recorded
        self.signature_failures = 0
        self.ignored = 0  # valid webhooks of another type
        self.malformed = 0  # valid signature but no payment id in the body
        self.body_bytes = 0  # every delivery's body: data the gateway sends out to the internet
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._webhook: Webhook | None = None
        self._secret_ready = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def set_secret(self, secret: str) -> None:
        self._webhook = Webhook(secret)
        self._secret_ready.set()

    def start(self) -> "WebhookReceiver":
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="bench-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def received(self, payment_ids: Iterable[str]) -> int:
        with self._lock:
            return sum(1 for pid in payment_ids if pid in self.arrivals)

    def wait_for(self, payment_id: str, timeout: float) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: payment_id in self.arrivals, timeout)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self.arrivals)

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        """Records one delivery; returns the HTTP status to answer."""
        arrived = time.monotonic()
        with self._lock:
            self.deliveries += 1
            self.body_bytes += len(body)
        if not self._secret_ready.wait(5.0):
            return 503
        assert self._webhook is not None
        try:
            event = self._webhook.verify(body, headers)
        except Exception:  # noqa: BLE001 - any failure to verify is a signature failure
            with self._lock:
                self.signature_failures += 1
            return 400
        with self._lock:
            if not isinstance(event, dict) or event.get("type") != self.event_type:
                self.ignored += 1
                return 200
            obj = (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else None
            payment_id = obj.get("id") if isinstance(obj, dict) else None
            if not isinstance(payment_id, str):
                self.malformed += 1
                return 200
            if payment_id in self.arrivals:
                self.duplicates += 1
            else:
                self.arrivals[payment_id] = arrived
                self._arrived.notify_all()
        return 200

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.split("?", 1)[0] != receiver.path:
                    status = 404
                else:
                    status = receiver.handle(body, {k: v for k, v in self.headers.items()})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


# ------------------------------------------------------------------------------------------------------
# The scenarios


@dataclass
class Scenario:
    """What one scenario measured. Times are ``time.monotonic()`` seconds."""

    name: str
    payments: int
    concurrency: int
    started: dict[str, float] = field(default_factory=dict)  # payment id -> POST start
    post_latencies: list[float] = field(default_factory=list)
    post_errors: list[str] = field(default_factory=list)
    response_bytes: int = 0
    first_post: float = 0.0
    last_post: float = 0.0
    arrivals: dict[str, float] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return len(self.started)

    def figures(self) -> dict[str, Any]:
        e2e = [self.arrivals[pid] - start for pid, start in self.started.items() if pid in self.arrivals]
        last_webhook = max((self.arrivals[pid] for pid in self.started if pid in self.arrivals), default=None)
        span = (last_webhook - self.first_post) if last_webhook is not None else None
        return {
            "scenario": self.name,
            "payments": self.payments,
            "concurrency": self.concurrency,
            "accepted": self.accepted,
            "completed": len(e2e),
            "webhooks_missing": self.accepted - len(e2e),
            "post_errors": len(self.post_errors),
            "post_error_samples": sorted(set(self.post_errors))[:5],
            "payments_per_s": round(len(e2e) / span, 2) if span and span > 0 else None,
            "post_latency_ms": latency_ms(self.post_latencies),
            "webhook_latency_ms": latency_ms(e2e),
            "response_bytes_per_payment": round(self.response_bytes / self.accepted, 1) if self.accepted else None,
        }


class Client:
    """One gateway's API (``api_url``, ``api_key`` from its dev.json) and a webhook receiver for it."""

    def __init__(self, api_url: str, api_key: str, *, token: str = "tok_success", amount: int = 1000,
                 currency: str = "USD"):
        self.api_url = api_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.body = {"amount": amount, "currency": currency, "payment_method": {"type": "card", "token": token}}
        # token "wallet": payments from customers' wallets (one customer each per WALLETS, topped up
        # once before anything is measured), taken in turn so concurrent payments mostly hit different wallets.
        self.wallet_payments = token == "wallet"
        self.bodies: Iterator[dict[str, Any]] = itertools.repeat(self.body)
        self._bodies_lock = threading.Lock()
        self.receiver = WebhookReceiver()
        self.endpoint_id: str | None = None

    def __enter__(self) -> "Client":
        self.receiver.start()
        try:
            with self._http() as http:
                registered = http.post("/v1/webhook_endpoints", json={"url": self.receiver.url},
                                       headers={"Idempotency-Key": str(uuid.uuid4())})
        except httpx.HTTPError as err:
            self.receiver.stop()
            raise BenchError(f"cannot reach the API at {self.api_url}: {err}") from None
        if registered.status_code != 201:
            self.receiver.stop()
            raise BenchError(f"registering the webhook endpoint failed: {_error_text(registered)}")
        endpoint = registered.json()
        self.endpoint_id = endpoint["id"]
        self.receiver.set_secret(endpoint["secret"])
        if self.wallet_payments:
            self.bodies = itertools.cycle(self._wallet_bodies())
        return self

    def _wallet_bodies(self) -> list[dict[str, Any]]:
        bodies = []
        with self._http() as http:
            for n in range(WALLETS):
                made = http.post("/v1/customers", json={"name": f"bench {n}", "currency": self.body["currency"]},
                                 headers={"Idempotency-Key": str(uuid.uuid4())})
                if made.status_code != 201:
                    raise BenchError(f"creating a customer failed: {_error_text(made)}")
                wallet_id = made.json()["wallet_id"]
                topped = http.post(f"/v1/wallets/{wallet_id}/topups", json={"amount": 99_999_999},
                                   headers={"Idempotency-Key": str(uuid.uuid4())})
                if topped.status_code != 201:
                    raise BenchError(f"topping a wallet up failed: {_error_text(topped)}")
                bodies.append({**self.body, "payment_method": {"type": "wallet", "wallet_id": wallet_id}})
        return bodies

    def next_body(self) -> dict[str, Any]:
        with self._bodies_lock:
            return next(self.bodies)

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.endpoint_id is not None:
                with self._http() as http:
                    http.delete(f"/v1/webhook_endpoints/{self.endpoint_id}")
        except httpx.HTTPError:
            pass  # the gateway is going away anyway
        finally:
            self.receiver.stop()

    def _http(self, connections: int = 4) -> httpx.Client:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.Client(base_url=self.api_url, headers=self.headers, timeout=30.0, limits=limits)

    def create_payment(self, http: httpx.Client) -> tuple[float, float, httpx.Response | str]:
        """One POST /v1/payments; returns (started, finished, response or transport error text)."""
        key = str(uuid.uuid4())
        body = self.next_body()
        started = time.monotonic()
        error = ""
        for attempt in range(POST_ATTEMPTS):
            try:
                response = http.post("/v1/payments", json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError as err:
                error = f"{type(err).__name__}: {err}"
                time.sleep(0.2 * (attempt + 1))
                continue
            if response.status_code == 409 and attempt + 1 < POST_ATTEMPTS:
                time.sleep(0.2 * (attempt + 1))  # our earlier attempt with this key is still running
                continue
            return started, time.monotonic(), response
        return started, time.monotonic(), error

    def _record(self, scenario: Scenario, started: float, finished: float, outcome: httpx.Response | str) -> str | None:
        if isinstance(outcome, str):
            scenario.post_errors.append(outcome)
            return None
        if outcome.status_code != 202:
            scenario.post_errors.append(_error_text(outcome))
            return None
        payment_id = outcome.json()["id"]
        scenario.post_latencies.append(finished - started)
        scenario.response_bytes += len(outcome.content)
        scenario.started[payment_id] = started
        return payment_id

    def run_load(self, payments: int, concurrency: int, timeout: float) -> Scenario:
        scenario = Scenario("load", payments, concurrency)
        with self._http(concurrency + 2) as http:
            pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-post")
            try:
                futures = [pool.submit(self.create_payment, http) for _ in range(payments)]
                results = [future.result() for future in futures]
            finally:
                pool.shutdown(wait=True, cancel_futures=True)  # on Ctrl-C: no new POSTs
        for started, finished, outcome in results:
            self._record(scenario, started, finished, outcome)
        scenario.first_post = min((r[0] for r in results), default=time.monotonic())
        scenario.last_post = max((r[1] for r in results), default=scenario.first_post)
        deadline = time.monotonic() + timeout
        while self.receiver.received(scenario.started) < scenario.accepted and time.monotonic() < deadline:
            time.sleep(0.02)
        scenario.arrivals = {pid: t for pid, t in self.receiver.snapshot().items() if pid in scenario.started}
        return scenario

    def run_sequential(self, payments: int, timeout_each: float) -> Scenario:
        """One payment at a time; a payment whose webhook does not come within ``timeout_each`` ends the run."""
        scenario = Scenario("sequential", payments, 1)
        scenario.first_post = time.monotonic()
        with self._http(2) as http:
            for _ in range(payments):
                started, finished, outcome = self.create_payment(http)
                scenario.last_post = finished
                payment_id = self._record(scenario, started, finished, outcome)
                if payment_id is None:
                    continue
                if not self.receiver.wait_for(payment_id, min(timeout_each, SEQUENTIAL_WAIT)):
                    break
        scenario.arrivals = {pid: t for pid, t in self.receiver.snapshot().items() if pid in scenario.started}
        return scenario

    @property
    def webhook_bytes(self) -> int:
        return self.receiver.body_bytes


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return f"{response.status_code} {error.get('code')}: {error.get('message')}"
    except Exception:  # noqa: BLE001
        return f"{response.status_code} {response.text[:200]!r}"
