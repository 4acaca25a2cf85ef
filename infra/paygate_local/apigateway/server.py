"""API Gateway (REST API, v1 proxy integration) in front of the local functions.

Routes come from every function's ``Api`` events. A request is matched against them the way API
Gateway does (``routing.py``), turned into a v1 proxy event, given to the function, and the
function's answer is turned back into HTTP (``events.py``). A function error, a timeout or a
malformed answer is a 502, as on API Gateway; a function still running at the integration timeout
(29 s) a 504, and its invocation goes on. Every request is a line of the access log.

Built on the standard library's ThreadingHTTPServer rather than WSGI: WSGI folds repeated headers
into one, and the proxy event needs them apart (multiValueHeaders).

For the crash tests only: with ``PAYGATE_TEST_CRASH_AFTER`` naming a file, a 2xx answer to a route
that the file lists (lines such as ``POST /v1/payments/{id}/refunds``) is followed at once by a
SIGKILL of this whole process, right after the answer is sent (``CrashHook``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from paygate_local.apigateway.events import (
    BadIntegrationResponse,
    build_proxy_event,
    error_body,
    parse_proxy_result,
)
from paygate_local.apigateway.routing import Router
from paygate_local.httpserver import (
    HOP_BY_HOP,
    BadLength,
    BodyTooLarge,
    IncompleteBody,
    KeepAliveHandler,
    TrackingHTTPServer,
    read_body,
)
from paygate_local.lambda_.worker import InvocationResult
from paygate_local.observability import jsonlog
from paygate_local.observability.counters import RuntimeMeter
from paygate_local.template import ApiRoute

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
REQUEST_SOCKET_TIMEOUT = 30.0  # a client that stops sending mid-request is dropped after this
BODY_IDLE_SECONDS = 3.0  # a body that stops coming this long is answered 400 (its Content-Length lied)

Invoke = Callable[..., InvocationResult]  # (logical id, event, answer_within=seconds)


class _Handler(KeepAliveHandler):
    timeout = REQUEST_SOCKET_TIMEOUT
    server: TrackingHTTPServer  # .owner: the ApiGateway
    server_version = "paygate-local-apigw"
    sys_version = ""

    def _serve(self) -> None:
        gateway: ApiGateway = self.server.owner
        if not gateway.enter():
            # Stopping: the listener is closed; a request on a connection kept alive is not taken either.
            request_id = str(uuid.uuid4())
            self._send_error(503, "service_unavailable", "The gateway is stopping; retry the request.",
                             request_id, close=True)
            return
        try:
            self._serve_one(gateway)
        finally:
            gateway.leave()

    def _serve_one(self, gateway: ApiGateway) -> None:
        gateway.meter.api_request()  # API Gateway bills every request, answered by a function or not
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        split = urlsplit(self.path)
        path = split.path or "/"
        status = 500
        try:
            route, params, allowed = gateway.router.match(self.command, path)
            try:
                self.connection.settimeout(BODY_IDLE_SECONDS)  # once the headers are in, the body follows
                body = read_body(self, MAX_BODY)
            except (socket.timeout, TimeoutError, IncompleteBody):
                status = self._send_error(400, "incomplete_body",
                                          "The request body is shorter than its Content-Length said, or "
                                          "stopped coming.", request_id, close=True)
                return
            except BadLength:
                status = self._send_error(400, "invalid_content_length",
                                          "Content-Length is not a valid length.", request_id,
                                          close=True)
                return
            except BodyTooLarge:
                status = self._send_error(413, "body_too_large",
                                          f"The request body is larger than {MAX_BODY} bytes.",
                                          request_id, close=True)
                return
            finally:
                self.connection.settimeout(self.timeout)
            if route is None:
                if allowed:
                    status = self._send_error(405, "method_not_allowed",
                                              f"{self.command} is not allowed on {path}.", request_id,
                                              extra=[("Allow", ", ".join(sorted(allowed)))])
                else:
                    status = self._send_error(404, "route_not_found",
                                              f"No route for {self.command} {path}.", request_id)
                return
            event = build_proxy_event(
                method=self.command, raw_path=path, query=split.query,
                headers=list(self.headers.items()), body=body, route=route, path_params=params,
                source_ip=self.client_address[0], stage=gateway.stage,
                account_id=gateway.account_id, request_id=request_id)
            result = gateway.invoke(route.function, event, answer_within=gateway.integration_timeout)
            status = self._send_result(result, request_id)
            if 200 <= status < 300:
                gateway.crash_hook.after(f"{self.command} {route.path}")
        except (socket.timeout, TimeoutError, ConnectionError, IncompleteBody):
            self.close_connection = True  # the client went away or stalled; nothing to answer
        except Exception:  # a bug here must not leave the client waiting for an answer
            log.exception("API gateway failed on %s %s", self.command, self.path)
            self.close_connection = True
            try:
                status = self._send(500, [("Content-Type", "application/json"), ("Connection", "close")],
                                    b'{"message": "Internal server error"}', request_id)
            except OSError:
                pass
        finally:
            gateway.access_log(self.command, self.path, status, request_id,
                               (time.monotonic() - started) * 1000)

    def _send_result(self, result: InvocationResult, request_id: str) -> int:
        if result.late:  # the integration timeout: the function goes on, the client is told now
            log.info("integration timeout on %s %s", self.command, self.path)
            return self._send(504, [("Content-Type", "application/json"),
                                    ("x-amzn-ErrorType", "IntegrationTimeoutException")],
                              b'{"message": "Endpoint request timed out"}', request_id)
        if result.throttled:  # Lambda's 429 is an integration failure to API Gateway: a 500
            return self._send(500, [("Content-Type", "application/json"),
                                    ("x-amzn-ErrorType", "InternalServerErrorException")],
                              b'{"message": "Internal server error"}', request_id)
        if not result.ok:
            log.info("function error on %s %s: %s", self.command, self.path, result.error)
            return self._send(502, [("Content-Type", "application/json"),
                                    ("x-amzn-ErrorType", "InternalServerErrorException")],
                              b'{"message": "Internal server error"}', request_id)
        try:
            status, headers, body = parse_proxy_result(result.payload)
        except BadIntegrationResponse as exc:
            log.warning("malformed Lambda proxy response on %s %s: %s", self.command, self.path, exc)
            return self._send(502, [("Content-Type", "application/json")],
                              b'{"message": "Internal server error"}', request_id)
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/json"))
        return self._send(status, headers, body, request_id)

    # What the standard library answers by itself (a request line it cannot parse, a method with
    # no do_X, a path over 64 KiB, too many headers) gets the API's JSON error shape, never HTML.
    _PROTOCOL_ERRORS = {501: (405, "method_not_allowed"), 414: (414, "uri_too_long"),
                        431: (431, "headers_too_large"), 505: (505, "http_version_not_supported")}

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        status, name = self._PROTOCOL_ERRORS.get(code, (code, "invalid_request"))
        text = {405: f"The method {getattr(self, 'command', '')!r} is not allowed.",
                414: "The request path is too long."}.get(status, message or "The request is malformed.")
        self.close_connection = True
        try:
            if not getattr(self, "command", None):
                self.command = ""  # a request line that did not parse: still answer with a body
            self.request_version = self.protocol_version  # never HTTP/0.9's bare body: a status line and headers
            self._send_error(status, name, text[:200], str(uuid.uuid4()), close=True)
        except OSError:
            pass

    def _send_error(self, status: int, code: str, message: str, request_id: str,
                    extra: list[tuple[str, str]] | None = None, close: bool = False) -> int:
        if close:
            self.close_connection = True  # the unread body is still on the socket
        headers = [("Content-Type", "application/json")] + (extra or [])
        if close:
            headers.append(("Connection", "close"))
        return self._send(status, headers, error_body(code, message), request_id)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, request_id: str) -> int:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("x-amzn-RequestId", request_id)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            # Said, not only done: a client that reuses connections (a pool) must not send its next
            # request on this one (the hop-by-hop filter above drops a handler's own Connection header).
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        return status


class ApiGateway:
    """The HTTP server; ``invoke(logical_id, event)`` is the Lambda service."""

    def __init__(self, routes: list[ApiRoute], invoke: Invoke, *, host: str = "127.0.0.1",
                 port: int = 3000, stage: str = "Prod", account_id: str = "123456789012",
                 access_log_path: Path | None = None, meter: RuntimeMeter | None = None,
                 integration_timeout: float | None = 29.0):
        """``integration_timeout``: how long a function may take to answer (API Gateway's 29 s by
        default); past it the client gets a 504 while the invocation goes on."""
        self.router = Router(routes)
        self.integration_timeout = integration_timeout
        self.meter = meter or RuntimeMeter(None)
        self.invoke = invoke
        self.stage = stage
        self.account_id = account_id
        self._access_log = jsonlog.LineFile(access_log_path) if access_log_path else None
        self._server = TrackingHTTPServer((host, port), _Handler, self)
        self._thread: threading.Thread | None = None
        self._requests = threading.Condition()
        self._in_flight = 0
        self._draining = False
        self.crash_hook = CrashHook(os.environ.get(CRASH_AFTER_ENV))

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def set_routes(self, routes: list[ApiRoute]) -> None:
        """The template's routes changed (hot reload): requests from now on are matched against these."""
        self.router = Router(routes)

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2}, name="apigw", daemon=True)
        self._thread.start()

    def enter(self) -> bool:
        """A request starts; False once draining (it must not)."""
        with self._requests:
            if self._draining:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._requests:
            self._in_flight -= 1
            self._requests.notify_all()

    def drain(self, timeout: float) -> bool:
        """Stop taking requests (the listener closes; requests on open connections get a 503) and
        wait up to ``timeout`` for those being answered; True when none is left."""
        with self._requests:
            self._draining = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        with self._requests:
            return self._requests.wait_for(lambda: self._in_flight == 0, timeout)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self._server.close_connections()
        if self._access_log is not None:
            self._access_log.close()

    def access_log(self, method: str, path: str, status: int, request_id: str, ms: float) -> None:
        if self._access_log is not None:
            self._access_log.write({"timestamp": jsonlog.timestamp(), "method": method, "path": path,
                                    "status": status, "requestId": request_id, "durationMs": round(ms, 1)})


CRASH_AFTER_ENV = "PAYGATE_TEST_CRASH_AFTER"


class CrashHook:
    """A test's way to crash ``paygate dev`` in the instant after it answered: the file (read at each
    2xx while the variable is set) lists the routes, ``METHOD /path/{template}``, one a line."""

    def __init__(self, path: str | None):
        self.path = Path(path) if path else None

    def after(self, route: str) -> None:
        if self.path is None:
            return
        try:
            armed = {line.strip() for line in self.path.read_text().splitlines()}
        except OSError:
            return
        if route in armed:
            log.warning("crash hook: SIGKILL after answering %s", route)
            os.kill(os.getpid(), signal.SIGKILL)
