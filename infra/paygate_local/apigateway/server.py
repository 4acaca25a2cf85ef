"""API Gateway (REST API, v1 proxy integration) in front of the local functions.

Routes come from every function's ``Api`` events. A request is matched against them the way API
Gateway does (the most specific resource wins: literal segments before ``{param}`` before
``{proxy+}``), turned into a v1 proxy event, given to the function, and the function's answer
``{statusCode, headers, multiValueHeaders, body, isBase64Encoded}`` is turned back into HTTP.
A function error, a timeout or a malformed answer is a 502, as on API Gateway.

Built on the standard library's ThreadingHTTPServer rather than WSGI: WSGI folds repeated headers
into one, and the proxy event needs them apart (multiValueHeaders).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, urlsplit

from paygate_local.httpserver import (
    HOP_BY_HOP,
    BadLength,
    BodyTooLarge,
    IncompleteBody,
    KeepAliveHandler,
    TrackingHTTPServer,
    read_body,
)
from paygate_local.lambda_.workers import InvocationResult
from paygate_local.metering.meter import RuntimeMeter
from paygate_local.template import ApiRoute

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
REQUEST_SOCKET_TIMEOUT = 30.0  # a client that stops sending mid-request is dropped after this
BODY_IDLE_SECONDS = 3.0  # a body that stops coming this long is answered 400 (its Content-Length lied)

Invoke = Callable[[str, dict], InvocationResult]


# ------------------------------------------------------------------------------------ routing


@dataclass(frozen=True)
class _Template:
    path: str
    segments: tuple[str, ...]

    @classmethod
    def parse(cls, path: str) -> _Template:
        return cls(path, tuple(s for s in path.split("/") if s))

    @property
    def specificity(self) -> tuple:
        """Smaller sorts first: literal (0) beats {param} (1) beats {proxy+} (2), segment by segment."""
        kinds = []
        for seg in self.segments:
            if seg.startswith("{") and seg.endswith("+}"):
                kinds.append(2)
            elif seg.startswith("{") and seg.endswith("}"):
                kinds.append(1)
            else:
                kinds.append(0)
        return tuple(kinds) + (3,)  # a longer template of the same prefix is more specific

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for i, seg in enumerate(self.segments):
            if seg.startswith("{") and seg.endswith("+}"):
                if i != len(self.segments) - 1 or i >= len(parts):
                    return None
                params[seg[1:-2]] = "/".join(parts[i:])
                return params
            if i >= len(parts):
                return None
            if seg.startswith("{") and seg.endswith("}"):
                params[seg[1:-1]] = parts[i]
            elif seg != parts[i]:
                return None
        return params if len(parts) == len(self.segments) else None


class Router:
    """Method + path -> (route, path parameters); or why not (404 / 405)."""

    def __init__(self, routes: list[ApiRoute]):
        self._by_path: dict[str, dict[str, ApiRoute]] = {}
        self._templates: list[_Template] = []
        for route in routes:
            methods = self._by_path.setdefault(route.path, {})
            if route.method in methods and methods[route.method].function != route.function:
                raise ValueError(f"{route.method} {route.path} is claimed by "
                                 f"{methods[route.method].function} and {route.function}")
            methods[route.method] = route
        self._templates = sorted((_Template.parse(p) for p in self._by_path),
                                 key=lambda t: t.specificity)

    @property
    def routes(self) -> list[ApiRoute]:
        return [r for methods in self._by_path.values() for r in methods.values()]

    def match(self, method: str, path: str) -> tuple[ApiRoute | None, dict[str, str], list[str]]:
        """(route, params, []) on a match; (None, {}, allowed methods) otherwise ([] means 404)."""
        parts = [unquote(p) for p in path.split("/") if p]
        allowed: list[str] = []
        for template in self._templates:
            params = template.match(parts)
            if params is None:
                continue
            methods = self._by_path[template.path]
            route = methods.get(method.upper()) or methods.get("ANY")
            if route is not None:
                return route, params, []
            allowed.extend(m for m in methods if m not in allowed)
        return None, {}, allowed


# ------------------------------------------------------------------------------------ events


def build_proxy_event(*, method: str, raw_path: str, query: str, headers: list[tuple[str, str]],
                      body: bytes, route: ApiRoute, path_params: dict[str, str], source_ip: str,
                      stage: str, account_id: str, request_id: str) -> dict:
    """A REST API (payload v1.0) Lambda proxy event."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value  # the last value wins, as on API Gateway
        multi.setdefault(name, []).append(value)
    query_pairs = parse_qsl(query, keep_blank_values=True)
    qs_single: dict[str, str] = {}
    qs_multi: dict[str, list[str]] = {}
    for name, value in query_pairs:
        qs_single[name] = value
        qs_multi.setdefault(name, []).append(value)
    try:
        text, is_b64 = (body.decode("utf-8"), False) if body else (None, False)
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode("ascii"), True
    lower = {k.lower(): v for k, v in single.items()}
    now = time.time()
    path = unquote(raw_path)
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": qs_single or None,
        "multiValueQueryStringParameters": qs_multi or None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": account_id,
            "apiId": "local",
            "domainName": lower.get("host", "127.0.0.1"),
            "domainPrefix": lower.get("host", "127.0.0.1").split(".")[0].split(":")[0],
            "extendedRequestId": request_id,
            "httpMethod": method,
            "identity": {
                "accessKey": None, "accountId": None, "caller": None, "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None, "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None, "principalOrgId": None, "sourceIp": source_ip,
                "user": None, "userAgent": lower.get("user-agent"), "userArn": None,
            },
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "local",
            "resourcePath": route.path,
            "stage": stage,
        },
        "body": text,
        "isBase64Encoded": is_b64,
    }


class BadIntegrationResponse(ValueError):
    """The function answered something API Gateway cannot turn into HTTP."""


def parse_proxy_result(payload: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """The function's answer -> (status, headers, body). Raises BadIntegrationResponse like a 502."""
    if not isinstance(payload, dict):
        raise BadIntegrationResponse(f"the answer is a {type(payload).__name__}, not an object")
    try:
        status = int(payload.get("statusCode", 200))
    except (TypeError, ValueError):
        raise BadIntegrationResponse("statusCode is not an integer") from None
    if not 100 <= status <= 599:
        raise BadIntegrationResponse(f"statusCode {status} is out of range")
    headers: list[tuple[str, str]] = []
    multi = payload.get("multiValueHeaders") or {}
    single = payload.get("headers") or {}
    if not isinstance(multi, dict) or not isinstance(single, dict):
        raise BadIntegrationResponse("headers must be objects")
    # API Gateway merges both maps; for a name in both, multiValueHeaders wins.
    multi_names = {k.lower() for k in multi}
    for name, values in multi.items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(name), _header_str(value)))
    for name, value in single.items():
        if name.lower() not in multi_names:
            headers.append((str(name), _header_str(value)))
    body = payload.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise BadIntegrationResponse("body must be a string")
    elif payload.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadIntegrationResponse("body is not valid base64") from None
    else:
        data = body.encode("utf-8")
    return status, headers, data


def _header_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def error_body(code: str, message: str, type_: str = "invalid_request_error") -> bytes:
    return json.dumps({"error": {"type": type_, "code": code, "message": message,
                                 "param": None}}).encode()


# ------------------------------------------------------------------------------------ server


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
            result = gateway.invoke(route.function, event)
            status = self._send_result(result, request_id)
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
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        return status


class ApiGateway:
    """The HTTP server; ``invoke(logical_id, event)`` is the Lambda service."""

    def __init__(self, routes: list[ApiRoute], invoke: Invoke, *, host: str = "127.0.0.1",
                 port: int = 3000, stage: str = "Prod", account_id: str = "123456789012",
                 access_log_path: Path | None = None, meter: RuntimeMeter | None = None):
        self.router = Router(routes)
        self.meter = meter or RuntimeMeter(None)
        self.invoke = invoke
        self.stage = stage
        self.account_id = account_id
        self._access_log_path = access_log_path
        self._access_lock = threading.Lock()
        # Opened once: an open and a close per request cost more than writing the line.
        self._access_file = open(access_log_path, "a", encoding="utf-8", buffering=1) if access_log_path else None
        self._server = TrackingHTTPServer((host, port), _Handler, self)
        self._thread: threading.Thread | None = None
        self._requests = threading.Condition()
        self._in_flight = 0
        self._draining = False

    @property
    def port(self) -> int:
        return self._server.server_address[1]

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
        with self._access_lock:
            if self._access_file is not None:
                self._access_file.close()
                self._access_file = None

    def access_log(self, method: str, path: str, status: int, request_id: str, ms: float) -> None:
        if self._access_log_path is None:
            return
        line = json.dumps({"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "method": method, "path": path, "status": status,
                           "requestId": request_id, "durationMs": round(ms, 1)})
        with self._access_lock:
            if self._access_file is not None:  # None once stopped
                self._access_file.write(line + "\n")
