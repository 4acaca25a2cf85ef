"""Fault injection inside a function's worker: the hands of `paygate dev`'s chaos API (``controls/faults.py``).

The rules in force for the function come with each invocation (``begin``); while it runs, every AWS
call the function makes through botocore and every call to a payment provider is checked against
them, per attempt, and a rule that fires is reported to the Lambda service (``report``) before it
acts, so that a crash or a timeout is counted too. What a rule does:

- ``latency_ms``: the call waits that long first (then goes on, or fails as below);
- ``error`` an AWS error code (``InternalServerError``, ``ThrottlingException``...): the attempt gets
  that error as the service would answer it (status 500, 503 or 400 by the code, the body in the
  service's protocol), so the SDK's retries apply as they would on AWS;
- ``error`` ``timeout``: the attempt gets no answer; for AWS the SDK sees a read timeout (the request
  was not sent, and the SDK retries it); for a provider the request is sent and its answer lost (the
  provider acted, the function does not know it: the case a payment gateway must settle);
- ``error`` ``crash``: the worker process dies (SIGKILL) in the middle of the invocation;
- for a provider, ``error`` an HTTP status (``"503"``) is that answer, and ``refused`` a refused connection.

The hooks are installed before the handler is imported (``install``), lazily: botocore's and httpx's
are put in place right after those modules are first imported (nothing is imported for them), and
plain ``http.client`` (what ``requests`` and ``urllib3`` use) is patched only when there are providers
to match. With no rule in force a call pays one attribute read.

Stdlib only (and botocore's or httpx's own classes, once the function imported them): loaded by
``worker_main.py`` from its file, in the function's interpreter.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import random
import signal
import sys
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

PROVIDER = "provider"
CRASH, TIMEOUT, REFUSED = "crash", "timeout", "refused"

_rules: list[dict] = []  # in force for the invocation under way (every thread of the worker)
_report: Callable[[dict], None] = lambda rule: None  # noqa: E731 - tells the Lambda service
_providers: list[tuple[str, str, str]] = []  # (name, scheme://host:port, path prefix)
_call = threading.local()  # the AWS call under way in this thread: (service, operation, protocol)


def install(providers: dict[str, str] | None = None) -> None:
    """Put the hooks in place (once, before the handler's import). ``providers``: name -> base URL."""
    for name, url in (providers or {}).items():
        parts = urlsplit(url)
        _providers.append((name, f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")))
    hooks = {"botocore.handlers": _hook_botocore, "httpx": _hook_httpx}
    for name in list(hooks):
        if name in sys.modules:
            hooks.pop(name)(sys.modules[name])
    if hooks:
        sys.meta_path.insert(0, _AfterImport(hooks))
    if _providers:
        _hook_http_client()


def begin(rules: list[dict] | None, report: Callable[[dict], None]) -> None:
    """An invocation starts with these rules (none: nothing is checked)."""
    global _rules, _report
    _report = report
    _rules = list(rules or ())


def end() -> None:
    global _rules
    _rules = []


def _firing(service: str, operation: str, alias: str | None = None) -> dict | None:
    """The first rule of ``service`` that matches the call and fires now (its probability drawn)."""
    for rule in _rules:
        if rule["service"] == service and _matches(rule.get("operation"), operation, alias) \
                and random.random() < float(rule.get("probability", 1.0)):
            return rule
    return None


def _matches(wanted: str | None, operation: str, alias: str | None) -> bool:
    """An AWS operation by its name; a provider call by the provider's name or ``METHOD /path`` (a prefix)."""
    if not wanted or wanted == operation or wanted == alias:
        return True
    return alias is not None and operation.startswith(wanted)


def _act(rule: dict) -> str | None:
    """Report, wait, crash if asked; what the caller must still do (the error), or None."""
    _report(rule)
    if rule.get("latency_ms"):
        time.sleep(float(rule["latency_ms"]) / 1000)
    error = rule.get("error")
    if error == CRASH:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return error


# ---------------------------------------------------------------------------- botocore


def _hook_botocore(handlers: Any) -> None:
    """Every botocore session made from now on gets the two handlers (boto3's default one included)."""
    handlers.BUILTIN_HANDLERS.append(("before-call", _before_call))
    handlers.BUILTIN_HANDLERS.append(("before-send", _before_send))


def _before_call(model: Any = None, **_: Any) -> None:
    if model is not None:
        service = model.service_model
        _call.current = (service.service_name, model.name, getattr(service, "resolved_protocol", service.protocol))


def _before_send(request: Any = None, **_: Any) -> Any:
    """Per attempt (inside the SDK's retries): None lets the request go; a response or an exception replaces it."""
    if not _rules:
        return None
    service, operation, protocol = getattr(_call, "current", None) or ("", "", "json")
    rule = _firing(service, operation)
    if rule is None:
        return None
    error = _act(rule)
    if not error:
        return None
    if error == TIMEOUT:
        from botocore.exceptions import ReadTimeoutError

        raise ReadTimeoutError(endpoint_url=getattr(request, "url", ""))
    return _aws_error(error, protocol, getattr(request, "url", ""))


# What a throttled call answers (400, as DynamoDB and SQS do); the SDK retries these codes.
_THROTTLING = {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
               "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
               "TransactionInProgressException", "RequestThrottled", "SlowDown", "LimitExceededException"}


def aws_status(code: str) -> int:
    if code in _THROTTLING:
        return 400
    if code.startswith("ServiceUnavailable"):
        return 503
    if code.startswith("Internal"):
        return 500
    return 400


def _aws_error(code: str, protocol: str, url: str) -> Any:
    from botocore.awsrequest import AWSResponse

    message = f"{code} injected by paygate dev's chaos API"
    headers = {"x-amzn-RequestId": "paygate-fault", "x-amzn-ErrorType": code}
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": message}).encode()
        headers["Content-Type"] = "application/x-amz-json-1.0"
    elif protocol == "smithy-rpc-v2-cbor":
        body = _cbor_map({"__type": code, "message": message})
        headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
    elif protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    else:  # query, ec2
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>paygate-fault</RequestId></ErrorResponse>").encode()
    return AWSResponse(url, aws_status(code), headers, _Raw(body))


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body

    def read(self, *_: Any) -> bytes:
        body, self.body = self.body, b""
        return body


def _cbor_map(values: dict[str, str]) -> bytes:
    """A CBOR map of short text strings (what an rpc-v2-cbor error body holds)."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        if length < 256:
            return bytes([major << 5 | 24, length])
        return bytes([major << 5 | 25]) + length.to_bytes(2, "big")

    out = head(5, len(values))
    for key, value in values.items():
        for text in (key, value):
            data = text.encode()
            out += head(3, len(data)) + data
    return out


# ---------------------------------------------------------------------------- providers over HTTP


def provider_of(url: str) -> str | None:
    """The provider a URL belongs to, or None."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    for name, base, prefix in _providers:
        if origin == base and parts.path.startswith(prefix):
            return name
    return None


def _provider_rule(method: str, url: str) -> dict | None:
    if not _rules or not _providers:
        return None
    name = provider_of(url)
    if name is None:
        return None
    return _firing(PROVIDER, f"{method.upper()} {urlsplit(url).path}", alias=name)


def _fault_body(error: str) -> bytes:
    return json.dumps({"error": {"type": "api_error", "code": "injected_fault",
                                 "message": f"HTTP {error} injected by paygate dev's chaos API"}}).encode()


def _hook_httpx(httpx: Any) -> None:
    original = httpx.HTTPTransport.handle_request

    def handle_request(self: Any, request: Any) -> Any:
        rule = _provider_rule(request.method, str(request.url))
        if rule is None:
            return original(self, request)
        error = _act(rule)
        if not error:
            return original(self, request)
        if error == REFUSED:
            raise httpx.ConnectError("[Errno 111] Connection refused (injected by paygate dev)", request=request)
        if error == TIMEOUT:
            original(self, request).close()  # the provider acts; its answer is lost
            raise httpx.ReadTimeout("timed out (injected by paygate dev)", request=request)
        return httpx.Response(int(error), content=_fault_body(error), request=request,
                              headers={"Content-Type": "application/json"})

    httpx.HTTPTransport.handle_request = handle_request


def _hook_http_client() -> None:
    """``requests`` and ``urllib3`` (an SDK such as Stripe's) go through http.client: a provider's request
    is seen at ``putrequest``; one answered by a fault is not sent (``send`` drops it)."""
    import http.client
    import io

    connection = http.client.HTTPConnection
    original_putrequest, original_send, original_getresponse = (
        connection.putrequest, connection.send, connection.getresponse)

    def putrequest(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self._paygate_fault = None
        if _rules:
            scheme = "https" if isinstance(self, getattr(http.client, "HTTPSConnection", ())) else "http"
            default = 443 if scheme == "https" else 80
            netloc = self.host if self.port in (None, default) else f"{self.host}:{self.port}"
            rule = _provider_rule(method, url if "://" in url else f"{scheme}://{netloc}{url}")
            if rule is not None:
                error = _act(rule)
                if error == REFUSED:
                    raise ConnectionRefusedError(111, "Connection refused (injected by paygate dev)")
                self._paygate_fault = (error, method) if error else None
        return original_putrequest(self, method, url, *args, **kwargs)

    def send(self: Any, data: Any) -> Any:
        fault = getattr(self, "_paygate_fault", None)
        if fault is not None and fault[0] != TIMEOUT:
            return None  # answered by the fault: the provider never sees it
        return original_send(self, data)

    def getresponse(self: Any) -> Any:
        fault = getattr(self, "_paygate_fault", None)
        if fault is None:
            return original_getresponse(self)
        self._paygate_fault = None
        error, method = fault
        if error == TIMEOUT:
            original_getresponse(self).read()  # the provider acts; its answer is lost
            raise TimeoutError("timed out (injected by paygate dev)")
        self.close()  # back to idle: the connection can be used (or dropped) as after any answer
        body = _fault_body(error)
        raw = (f"HTTP/1.1 {int(error)} Injected\r\nContent-Type: application/json\r\nConnection: close\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        response = http.client.HTTPResponse(_FakeSocket(io.BytesIO(raw)), method=method)
        response.begin()
        return response

    connection.putrequest, connection.send, connection.getresponse = putrequest, send, getresponse


class _FakeSocket:
    def __init__(self, data: Any):
        self._data = data

    def makefile(self, *_: Any, **__: Any) -> Any:
        return self._data


# ---------------------------------------------------------------------------- after-import hooks


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``hooks[name](module)`` right after ``name`` is first imported, and then steps aside."""

    def __init__(self, hooks: dict[str, Callable[[Any], None]]):
        self.hooks = hooks

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        hook = self.hooks.get(name)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                del self.hooks[name]
                spec.loader = _HookedLoader(spec.loader, hook)
                return spec
        return None


class _HookedLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, hook: Callable[[Any], None]):
        self._loader, self._hook = loader, hook

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        self._hook(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
