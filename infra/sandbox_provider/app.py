"""The sandbox's WSGI application: werkzeug's routing over the routes of charges, refunds and billers,
plus ``GET /health``, ``GET /callbacks`` and ``PUT /callback``; every error answered in the provider's
JSON shape; with a traces file, a request carrying ``traceparent`` is a server span of service
``provider`` in the caller's trace.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Iterable

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox_provider.api import MAX_BODY, ApiError, error_body, invalid, json_response, read_json
from sandbox_provider.callbacks import Callbacks
from sandbox_provider.store import Store

log = logging.getLogger("paygate.sandbox")

StartResponse = Callable[..., Any]


class App:
    """``app(environ, start_response)``; ``routes`` are objects with ``rules()`` whose endpoints are
    their handlers, called as ``handler(request, **url_arguments)``."""

    def __init__(self, store: Store, callbacks: Callbacks, routes: Iterable[Any], *,
                 traces_file: str | Path | None = None) -> None:
        self._store = store
        self._callbacks = callbacks
        self._map = Map(
            [
                Rule("/health", endpoint=self.health, methods=["GET"]),
                *(rule for group in routes for rule in group.rules()),
                Rule("/callbacks", endpoint=self.list_callbacks, methods=["GET"]),
                Rule("/callback", endpoint=self.put_callback, methods=["PUT"]),
                Rule("/_control/down", endpoint=self.go_down, methods=["POST"]),
                Rule("/_control/up", endpoint=self.go_up, methods=["POST"]),
            ],
            strict_slashes=False,
        )
        # With a traces file (paygate dev's), spans are written where the functions write theirs.
        self._tracer = _provider_tracer(Path(traces_file)) if traces_file else None
        # Switched down (POST /_control/down): every charge, lookup, void and refund answers 503.
        self.down = False

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        parent = environ.get("HTTP_TRACEPARENT")
        if self._tracer is None or not parent:
            return self._answer(environ, start_response)
        return self._traced(parent, environ, start_response)

    # ---- the routes of the provider itself -------------------------------------------------------

    def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    def list_callbacks(self, request: Request) -> Response:
        """The callback delivery attempts made so far (for debugging)."""
        entries = self._store.callbacks()
        return json_response({"object": "list", "count": len(entries), "data": entries})

    def put_callback(self, request: Request) -> Response:
        """Where ``tok_async`` results go from now on, for a gateway deployed after the provider started."""
        body = read_json(request)
        url, secret = body.get("url"), body.get("secret")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise invalid("parameter_invalid", "url must be an http(s) URL", "url")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise invalid("parameter_invalid", "secret must be a non-empty string", "secret")
        self._callbacks.set_target(url, secret)
        return json_response({"url": url})

    def go_down(self, request: Request) -> Response:
        self.down = True
        log.info("sandbox provider switched down")
        return json_response({"status": "down"})

    def go_up(self, request: Request) -> Response:
        self.down = False
        log.info("sandbox provider switched up")
        return json_response({"status": "up"})

    # ---- dispatch --------------------------------------------------------------------------------

    def _answer(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        request = Request(environ)
        request.max_content_length = MAX_BODY
        try:
            if self.down and not request.path.startswith(("/_control/", "/health")):
                raise ApiError(503, "api_error", "provider_down", "the provider is switched down")
            handler, args = self._map.bind_to_environ(environ).match()
            response = handler(request, **args)
        except ApiError as err:
            response = json_response(err.body, err.status)
        except MethodNotAllowed as err:
            response = json_response(error_body("invalid_request_error", "method_not_allowed", "method not allowed"),
                                     405, {"Allow": ", ".join(err.valid_methods or [])})
        except NotFound:
            response = json_response(
                error_body("invalid_request_error", "not_found", f"no route for {request.path}"), 404)
        except HTTPException as err:  # e.g. 413 from max_content_length
            code = "body_too_large" if err.code == 413 else (err.name or "error").lower().replace(" ", "_")
            response = json_response(error_body("invalid_request_error", code, err.description or ""), err.code or 400)
        except Exception:  # a bug here must still answer like a provider, not kill the connection
            log.exception("sandbox provider error on %s %s", request.method, request.path)
            response = json_response(error_body("api_error", "internal_error", "internal sandbox error"), 500)
        return response(environ, start_response)

    def _traced(self, parent: str, environ: dict[str, Any], start_response: StartResponse) -> Any:
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        context = TraceContextTextMapPropagator().extract({"traceparent": parent})
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        with self._tracer.start_as_current_span(f"{method} {path}", context=context, kind=SpanKind.SERVER,
                                                attributes={"http.request.method": method,
                                                            "url.path": path}) as span:
            statuses: list[str] = []

            def start(status: str, headers: Any, *args: Any) -> Any:
                statuses.append(status)
                return start_response(status, headers, *args)

            body = self._answer(environ, start)
            if statuses:
                span.set_attribute("http.response.status_code", int(statuses[0].split()[0]))
            return body


def _provider_tracer(traces_file: Path) -> Any:
    """A tracer of service `provider` whose spans are appended to ``traces_file`` as JSON lines.
    OpenTelemetry is imported only then: the sandbox alone (compose's container) has only werkzeug."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    from paygate.observability.tracing import SpansFile, span_line

    out = SpansFile(traces_file)
    provider = TracerProvider(resource=Resource.create({"service.name": "provider"}))
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=span_line)))
    return provider.get_tracer("paygate.sandbox")
