"""`paygate listen` and `paygate pay`: a merchant's side of the gateway, from a terminal.

`paygate listen` is what `stripe listen` is to Stripe: it registers a webhook endpoint on the running
gateway pointing at a receiver of its own on 127.0.0.1, prints each webhook as it arrives with its
Standard Webhooks signature checked against the endpoint's secret, optionally forwards it unchanged to
a local URL, and removes the endpoint when it stops. `paygate pay` creates a payment and follows it to
its end with a live status line, then prints its events.

Both find the gateway in ``<state-dir>/dev.json`` (`paygate dev`) or ``<state-dir>/ministack.json``
(`paygate ministack deploy`), or take ``--api-url`` and ``--api-key``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional
from urllib.parse import urlsplit

import typer

from paygate_local import devfile
from paygate_local.cli.options import DEFAULT_STATE_DIR, StateDir

if TYPE_CHECKING:
    import httpx  # imported when used: it costs the other commands a quarter of a second

FINAL_STATUSES = {"COMPLETED", "FAILED", "CANCELED"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_BODY = 1024 * 1024
WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent")


class CliError(Exception):
    """What the user must fix: one line, exit status 2."""


def gateway(state_dir: str, api_url: str | None, api_key: str | None) -> tuple[str, str]:
    """The API URL and key: the options, else the state directory's dev.json or ministack.json."""
    if api_url and api_key:
        return api_url.rstrip("/"), api_key
    try:
        info = devfile.read_gateway(state_dir)
    except devfile.DevFileMissing:
        raise CliError(f"no gateway: {devfile.dev_file(state_dir)} not found (start `paygate dev --state-dir "
                       f"{state_dir}`, or give --api-url and --api-key)") from None
    except devfile.DevFileError as exc:
        raise CliError(f"no gateway: {exc}") from None
    return (api_url or info.api_url).rstrip("/"), api_key or info.api_key


def _api_error(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{response.status_code} {error.get('code')}: {error.get('message')}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: {response.text[:200]}"


def check_loopback(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
        raise CliError(f"--forward-to must be an http(s) URL on this machine (127.0.0.1, localhost), got {url!r}")
    return url


# ---------------------------------------------------------------------------------------- listen


@dataclass
class Received:
    """One webhook as the listener got it."""

    webhook_id: str
    type: str
    object_id: str | None
    status: str | None
    verified: bool
    error: str | None
    forwarded: int | str | None  # the forward's status code, or why it failed; None: not forwarded

    def as_json(self) -> dict[str, Any]:
        return {"id": self.webhook_id, "type": self.type, "object_id": self.object_id, "status": self.status,
                "verified": self.verified, "error": self.error, "forwarded": self.forwarded}


class Listener:
    """A receiver on 127.0.0.1 and the webhook endpoint that points at it."""

    def __init__(self, api_url: str, api_key: str, *, events: list[str] | None = None,
                 forward_to: str | None = None, on_event: Callable[[Received], None] = lambda r: None):
        import httpx

        self.api = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
        self.events = events
        self.forward_to = check_loopback(forward_to) if forward_to else None
        self.on_event = on_event
        self.endpoint_id: str | None = None
        self.secret: str | None = None
        self.received: list[Received] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks"

    def start(self) -> Listener:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, MAX_BODY))
                status = listener.handle(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="listen", daemon=True)
        self._thread.start()
        try:
            self._register()
        except BaseException:
            self.stop()
            raise
        return self

    def _register(self) -> None:
        body: dict[str, Any] = {"url": self.url}
        if self.events:
            body["enabled_events"] = self.events
        response = self.api.post("/v1/webhook_endpoints", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        if response.status_code != 201:
            raise CliError(f"the gateway refused the webhook endpoint: {_api_error(response)}")
        endpoint = response.json()
        self.endpoint_id, self.secret = endpoint["id"], endpoint["secret"]

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        """Verify, forward, record; the answer the gateway gets (2xx only for a verified, forwarded one)."""
        import httpx
        from standardwebhooks import Webhook
        from standardwebhooks.webhooks import WebhookVerificationError

        verified, error, payload = False, None, None
        try:
            payload = Webhook(self.secret or "").verify(body, headers)
            verified = True
        except WebhookVerificationError as exc:
            error = f"signature: {exc}"
        except Exception as exc:  # noqa: BLE001 - a body that is not a webhook at all
            error = f"not a webhook: {exc}"
        if payload is None:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {}
        payload = payload if isinstance(payload, dict) else {}
        obj = (payload.get("data") or {}).get("object") or {}
        forwarded: int | str | None = None
        if verified and self.forward_to:
            try:
                forwarded = httpx.post(self.forward_to, content=body, timeout=10, headers={
                    k: v for k, v in headers.items() if k in WEBHOOK_HEADERS}).status_code
            except httpx.HTTPError as exc:
                forwarded = f"{type(exc).__name__}: {exc}"
        received = Received(headers.get("webhook-id", ""), str(payload.get("type", "?")), obj.get("id"),
                            obj.get("status"), verified, error, forwarded)
        with self._lock:
            self.received.append(received)
        self.on_event(received)
        if not verified:
            return 400
        if self.forward_to and not (isinstance(forwarded, int) and 200 <= forwarded < 300):
            return 502  # the gateway retries, as it would for the forward target itself
        return 200

    def stop(self) -> None:
        """Remove the endpoint (the gateway stops sending), then stop the receiver."""
        try:
            if self.endpoint_id is not None:
                self.api.delete(f"/v1/webhook_endpoints/{self.endpoint_id}")
                self.endpoint_id = None
        finally:
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None
            self.api.close()


def describe(r: Received) -> str:
    at = time.strftime("%H:%M:%S")
    check = "verified" if r.verified else f"NOT VERIFIED ({r.error})"
    forward = f"  -> forwarded: {r.forwarded}" if r.forwarded is not None else ""
    return f"{at}  {r.type:<24} {r.object_id or '-':<30} {r.status or '':<11} {check}{forward}"


# ---------------------------------------------------------------------------------------- pay


def create_payment(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/payments", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    if response.status_code != 202:
        raise CliError(f"the gateway refused the payment: {_api_error(response)}")
    return response.json()


def follow_payment(api: httpx.Client, payment_id: str, *, timeout: float, interval: float = 0.2,
                   on_status: Callable[[dict[str, Any]], None] = lambda p: None) -> dict[str, Any] | None:
    """The payment once final, or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/v1/payments/{payment_id}")
        if response.status_code == 200:
            payment = response.json()
            on_status(payment)
            if payment["status"] in FINAL_STATUSES:
                return payment
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def events_table(api: httpx.Client, payment_id: str) -> Any:
    from rich.table import Table

    table = Table(title=f"{payment_id}: events", title_justify="left")
    for column in ("seq", "event", "status", "at"):
        table.add_column(column)
    response = api.get(f"/v1/payments/{payment_id}/events")
    for event in response.json().get("data", []) if response.status_code == 200 else []:
        obj = (event.get("data") or {}).get("object") or {}
        table.add_row(str(event.get("sequence")), event.get("type", ""), obj.get("status", ""),
                      event.get("created_at", ""))
    return table


# ---------------------------------------------------------------------------------------- the commands

ApiUrl = Annotated[Optional[str], typer.Option(help="the gateway's API URL (default: the state directory's)")]
ApiKey = Annotated[Optional[str], typer.Option(help="a merchant's API key (default: the state directory's)")]


def listen_command(
    forward_to: Annotated[Optional[str], typer.Option(
        help="forward each verified webhook, unchanged, to this URL on 127.0.0.1 (its answer is the gateway's)")] = None,
    events: Annotated[Optional[str], typer.Option(help="only these event types, comma-separated (default: all)")] = None,
    max_events: Annotated[Optional[int], typer.Option(help="stop after this many webhooks")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="stop after this many seconds")] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="one JSON line per webhook")] = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> int:
    """Receive the gateway's webhooks here (like `stripe listen`): a temporary endpoint on 127.0.0.1, each
    webhook printed with its signature checked, optionally forwarded; the endpoint is removed on exit."""
    import httpx

    stopping = threading.Event()

    def on_event(received: Received) -> None:
        print(json.dumps(received.as_json()) if json_lines else describe(received), flush=True)
        if max_events is not None and len(listener.received) >= max_events:
            stopping.set()

    try:
        url, key = gateway(state_dir, api_url, api_key)
        listener = Listener(url, key, events=[e.strip() for e in events.split(",") if e.strip()] if events else None,
                            forward_to=forward_to, on_event=on_event)
        listener.start()
    except CliError as exc:
        print(f"paygate listen: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"paygate listen: cannot reach the gateway: {exc}", file=sys.stderr)
        return 2
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ready = {"ready": True, "endpoint_id": listener.endpoint_id, "url": listener.url, "forward_to": forward_to}
        print(json.dumps(ready) if json_lines else
              f"Ready: webhooks go to {listener.url} (endpoint {listener.endpoint_id}"
              f"{', forwarded to ' + forward_to if forward_to else ''}); Ctrl-C stops", flush=True)
        deadline = time.monotonic() + timeout if timeout else None
        while not stopping.wait(0.2):
            if deadline is not None and time.monotonic() > deadline:
                break
    finally:
        listener.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not json_lines:
        print(f"endpoint removed; {len(listener.received)} webhooks received", flush=True)
    return 0


def pay_command(
    amount: Annotated[int, typer.Option(help="in minor units (1050 = 10.50)")],
    currency: Annotated[str, typer.Option(help="ISO 4217")] = "USD",
    token: Annotated[str, typer.Option(help="a sandbox card token: tok_success, tok_decline, tok_flaky, ...")]
    = "tok_success",
    wallet: Annotated[Optional[str], typer.Option(help="pay from this wallet (wal_...) instead of a card")] = None,
    description: Annotated[Optional[str], typer.Option(help="the payment's description")] = None,
    timeout: Annotated[float, typer.Option(help="give up following it after this many seconds")] = 60.0,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> int:
    """Create a payment and follow it to its end with a live status line; exit 0 COMPLETED, 1 otherwise."""
    import httpx
    from rich.console import Console

    console, errors = Console(), Console(stderr=True)
    method = {"type": "wallet", "wallet_id": wallet} if wallet else {"type": "card", "token": token}
    body: dict[str, Any] = {"amount": amount, "currency": currency, "payment_method": method}
    if description:
        body["description"] = description
    try:
        url, key = gateway(state_dir, api_url, api_key)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
            payment = create_payment(api, body)
            with console.status(f"{payment['id']}: {payment['status']}") as status:
                final = follow_payment(api, payment["id"], timeout=timeout, on_status=lambda p: status.update(
                    f"{p['id']}: {p['status']}"))
            console.print(events_table(api, payment["id"]))
    except CliError as exc:
        errors.print(f"paygate pay: {exc}", highlight=False, soft_wrap=True)
        return 2
    except httpx.HTTPError as exc:
        errors.print(f"paygate pay: cannot reach the gateway: {exc}", highlight=False, soft_wrap=True)
        return 2
    if final is None:
        console.print(f"{payment['id']}: still not final after {timeout:g} s", highlight=False)
        return 1
    failure = final.get("failure") or {}
    reason = f" ({failure.get('code')}: {failure.get('message')})" if failure else ""
    console.print(f"{final['id']}: {final['status']}{reason}", highlight=False)
    return 0 if final["status"] == "COMPLETED" else 1
