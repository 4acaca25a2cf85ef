"""End-to-end benchmark of a running ``paygate dev``: POST payments, time their signed webhooks.

    python bench/bench.py [--state-dir .paygate] [--payments 200] [--concurrency 8] [--timeout 120] [--json]

It reads ``<state-dir>/dev.json`` (``api_url``, ``api_key``, ...), starts a webhook receiver on
127.0.0.1, registers it for ``payment.completed``, creates the payments from ``--concurrency`` client
threads, waits until every payment's webhook has arrived (or ``--timeout`` seconds), prints the figures
and removes the endpoint. Every webhook's Standard Webhooks signature is verified.

Exit status: 0 when every payment's webhook arrived with a valid signature; 1 when a webhook is missing,
a signature failed or a POST was not accepted; 2 when the benchmark could not run (no dev.json, the API
refused the endpoint, ...).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

EVENT_TYPE = "payment.completed"
POST_ATTEMPTS = 3  # a POST that fails in transport is retried with the same Idempotency-Key


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
        self._lock = threading.Lock()
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

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self.arrivals)

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        """Records one delivery; returns the HTTP status to answer."""
        arrived = time.monotonic()
        with self._lock:
            self.deliveries += 1
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
# The run


def load_dev_state(state_dir: Path) -> dict[str, Any]:
    path = state_dir / "dev.json"
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise BenchError(f"{path} not found: is `paygate dev --state-dir {state_dir}` running?") from None
    except ValueError as err:
        raise BenchError(f"{path} is not valid JSON: {err}") from None
    for key in ("api_url", "api_key"):
        if not state.get(key):
            raise BenchError(f"{path} has no {key!r}")
    return state


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return f"{response.status_code} {error.get('code')}: {error.get('message')}"
    except Exception:  # noqa: BLE001
        return f"{response.status_code} {response.text[:200]!r}"


def create_payment(
    http: httpx.Client, amount: int, currency: str, token: str
) -> tuple[float, float, httpx.Response | str]:
    """One POST /v1/payments; returns (started, finished, response or transport error text)."""
    key = str(uuid.uuid4())
    body = {"amount": amount, "currency": currency, "payment_method": {"type": "card", "token": token}}
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


def run(args: argparse.Namespace) -> dict[str, Any]:
    state = load_dev_state(Path(args.state_dir))
    api_url = state["api_url"].rstrip("/")
    headers = {"Authorization": f"Bearer {state['api_key']}"}
    limits = httpx.Limits(max_connections=args.concurrency + 2, max_keepalive_connections=args.concurrency + 2)
    receiver = WebhookReceiver().start()
    endpoint_id: str | None = None
    try:
        with httpx.Client(base_url=api_url, headers=headers, timeout=30.0, limits=limits) as http:
            registered = http.post(
                "/v1/webhook_endpoints",
                json={"url": receiver.url, "enabled_events": [EVENT_TYPE]},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            if registered.status_code != 201:
                raise BenchError(f"registering the webhook endpoint failed: {_error_text(registered)}")
            endpoint = registered.json()
            endpoint_id = endpoint["id"]
            receiver.set_secret(endpoint["secret"])

            pool = ThreadPoolExecutor(max_workers=args.concurrency, thread_name_prefix="bench-post")
            try:
                futures = [
                    pool.submit(create_payment, http, args.amount, args.currency, args.token)
                    for _ in range(args.payments)
                ]
                results = [future.result() for future in futures]
            finally:
                pool.shutdown(wait=True, cancel_futures=True)  # on Ctrl-C: no new POSTs

            accepted: dict[str, float] = {}  # payment id -> POST start
            post_latencies: list[float] = []
            post_errors: list[str] = []
            for started, finished, outcome in results:
                if isinstance(outcome, str):
                    post_errors.append(outcome)
                elif outcome.status_code != 202:
                    post_errors.append(_error_text(outcome))
                else:
                    post_latencies.append(finished - started)
                    accepted[outcome.json()["id"]] = started
            first_post = min((r[0] for r in results), default=time.monotonic())
            last_post = max((r[1] for r in results), default=first_post)

            deadline = time.monotonic() + args.timeout
            while receiver.received(accepted) < len(accepted) and time.monotonic() < deadline:
                time.sleep(0.05)
            wait_ended = time.monotonic()
    finally:
        if endpoint_id is not None:
            try:
                with httpx.Client(base_url=api_url, headers=headers, timeout=10.0) as http:
                    deleted = http.delete(f"/v1/webhook_endpoints/{endpoint_id}")
                if deleted.status_code >= 300:
                    print(f"bench: deleting webhook endpoint {endpoint_id}: {_error_text(deleted)}", file=sys.stderr)
            except httpx.HTTPError as err:
                print(f"bench: deleting webhook endpoint {endpoint_id}: {err}", file=sys.stderr)
        receiver.stop()

    arrivals = receiver.snapshot()
    e2e_latencies = [arrivals[pid] - started for pid, started in accepted.items() if pid in arrivals]
    completed = len(e2e_latencies)
    last_webhook = max((arrivals[pid] for pid in accepted if pid in arrivals), default=None)
    post_span = last_post - first_post
    e2e_span = (last_webhook - first_post) if last_webhook is not None else None

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    def rate(count: int, span: float | None) -> float | None:
        return round(count / span, 1) if span and span > 0 else None

    return {
        "api_url": api_url,
        "payments": args.payments,
        "concurrency": args.concurrency,
        "token": args.token,
        "accepted": len(accepted),
        "post_errors": len(post_errors),
        "post_error_samples": sorted(set(post_errors))[:5],
        "post_throughput_rps": rate(len(post_latencies), post_span),
        "post_latency_ms": {f"p{p}": ms(percentile(post_latencies, p)) for p in (50, 95, 99)},
        "completed": completed,
        "e2e_throughput_per_s": rate(completed, e2e_span),
        "post_to_webhook_latency_ms": {f"p{p}": ms(percentile(e2e_latencies, p)) for p in (50, 95, 99)},
        "webhooks_missing": len(accepted) - completed,
        "signature_failures": receiver.signature_failures,
        "duplicate_webhooks": receiver.duplicates,
        "webhook_deliveries": receiver.deliveries,
        "waited_s": round(wait_ended - last_post, 2),
    }


def passed(figures: dict[str, Any]) -> bool:
    return figures["webhooks_missing"] == 0 and figures["signature_failures"] == 0 and figures["post_errors"] == 0


def render(figures: dict[str, Any]) -> str:
    def fmt(value: Any, unit: str = "") -> str:
        return "n/a" if value is None else f"{value}{unit}"

    def triple(d: dict[str, Any]) -> str:
        return " / ".join(fmt(d[k]) for k in ("p50", "p95", "p99")) + " ms"

    rows: Sequence[tuple[str, str]] = [
        ("api", figures["api_url"]),
        ("payments", f"{figures['payments']} (accepted {figures['accepted']}, POST errors {figures['post_errors']})"),
        ("concurrency", str(figures["concurrency"])),
        ("POST throughput", fmt(figures["post_throughput_rps"], " req/s")),
        ("POST latency p50/p95/p99", triple(figures["post_latency_ms"])),
        ("end-to-end throughput", fmt(figures["e2e_throughput_per_s"], " completed/s")),
        ("POST-to-webhook p50/p95/p99", triple(figures["post_to_webhook_latency_ms"])),
        ("webhooks completed", str(figures["completed"])),
        ("webhooks missing", str(figures["webhooks_missing"])),
        ("signature failures", str(figures["signature_failures"])),
        ("duplicate webhooks", str(figures["duplicate_webhooks"])),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines += [f"  POST error: {sample}" for sample in figures["post_error_samples"]]
    lines.append("result".ljust(width) + "  " + ("PASS" if passed(figures) else "FAIL"))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark a running `paygate dev` end to end, webhooks included.")
    parser.add_argument("--state-dir", default=".paygate", help="where `paygate dev` wrote dev.json (default .paygate)")
    parser.add_argument("--payments", type=int, default=200, help="payments to create (default 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for the webhooks after the last POST (default 120)")
    parser.add_argument("--token", default="tok_success", help="sandbox card token (default tok_success)")
    parser.add_argument("--amount", type=int, default=1000, help="amount in minor units (default 1000)")
    parser.add_argument("--currency", default="USD", help="currency (default USD)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.payments < 1 or args.concurrency < 1 or args.timeout <= 0:
        parser.error("--payments and --concurrency must be at least 1 and --timeout positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        figures = run(args)
    except BenchError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2
    except httpx.HTTPError as err:
        print(f"bench: cannot reach the API: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(figures, indent=2) if args.json else render(figures))
    return 0 if passed(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
