"""Request validation: Powertools validates each route's typed path, query, header and body parameters
(`enable_validation=True`); this is what paygate adds, and how a failure becomes the documented 400.

The order of the checks, the same on every route that takes the merchant: the API key (401, before
anything about the request is said), query parameters the route does not declare (400
`parameter_unknown`: never silently ignored), then Powertools' validation of the route's parameters, where a query parameter's or a
header's error comes before the body's. The body is read by paygate's rules (paygate.edge: 413 past the
size limit, UTF-8 JSON, an object, no duplicate keys, no NaN), whatever the Content-Type (curl -d
says form-urlencoded); a route whose body is optional takes none at all.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from typing import Any, Mapping, Sequence

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from routes.common import current_merchant

from paygate import edge
from paygate.container import get_container
from paygate.observability import logger
from paygate.services import merchants
from paygate.services.errors import InvalidRequest, RequestError
from paygate.services.idempotency import require_key

# A body that could not be read is handed on as {UNREADABLE: its error}: every body model forbids
# unknown fields, so it fails validation after the route's other parameters, and its error is answered.
UNREADABLE = "\x00unreadable body"


def takes_merchant(route: Any) -> bool:
    return any(dependency.depends.dependency is current_merchant for dependency in route.dependant.dependencies)


class RequestValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, after paygate's authentication and query rule, on paygate's body."""

    def handler(self, app: Any, next_middleware: Any) -> Any:
        route, event = app.context["_route"], app.current_event
        if takes_merchant(route):
            merchant = merchants.authenticate(get_container().merchants, event.headers.get("authorization"))
            logger.append_keys(merchant_id=merchant.id)
            app.append_context(merchant=merchant)
            declared = {param.alias for param in route.dependant.query_params}
            for name in event.query_string_parameters or {}:
                if name not in declared:
                    raise InvalidRequest(f"unknown parameter: {name}", param=name, code="parameter_unknown")
        return super().handler(app, next_middleware)

    def _get_body(self, app: Any) -> dict[str, Any] | None:
        event, route = app.current_event, app.context["_route"]
        try:
            data = edge.raw_body(event.body, event.is_base64_encoded, get_container().settings.max_body_bytes)
            if not data.strip() and not route.body_field.required:
                return None  # an optional body left out: the model's default
            return edge.parse_json_object(data)
        except RequestError as unreadable:
            return {UNREADABLE: unreadable}


def request_error(errors: Sequence[Mapping[str, Any]]) -> RequestError:
    """What a request that failed validation is told: its first error, in the documented shape."""
    first = errors[0]
    where, *loc = first["loc"]
    if where == "body":
        unreadable = next((e["input"] for e in errors if tuple(e["loc"][1:2]) == (UNREADABLE,)), None)
        if isinstance(unreadable, RequestError):
            return unreadable
    if where == "header" and str(loc[0]).lower() == "idempotency-key":
        try:  # the one header a route declares: answered as when it is checked by hand
            require_key(None if first["type"] == "missing" else first.get("input") or None)
        except InvalidRequest as error:
            return error
        return InvalidRequest("the Idempotency-Key header must be 1 to 255 printable characters",
                              param="Idempotency-Key", code="idempotency_key_invalid")
    return edge.invalid(first, loc)


class SingleValueEvent(APIGatewayProxyEvent):
    """The request's headers and query parameters as validated: their single-value views, as paygate has
    always read them (API Gateway sends both views; of a repeated one, the last value)."""

    @property
    def resolved_headers_field(self) -> dict[str, Any]:
        return self.headers

    @property
    def resolved_query_string_parameters(self) -> dict[str, list[str]]:
        return {name: [value] for name, value in self.query_string_parameters.items()}


class Resolver(APIGatewayRestResolver):
    """Powertools' resolver with paygate's request validation in the place of its own (Powertools
    keeps it in ``_request_validation_middleware``: 3.37, pinned), an answer that does not match its
    model a 500, and the per-request context (the route matched, its validated arguments, the
    merchant) kept per thread: Lambda runs one invocation at a time, but the integration tests race
    requests on threads through one handler."""

    def __init__(self) -> None:
        self._local = threading.local()
        super().__init__(enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR)
        self._request_validation_middleware = RequestValidation()

    @property  # type: ignore[override]
    def context(self) -> dict[str, Any]:
        if not hasattr(self._local, "context"):
            self._local.context = {}
        return self._local.context

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        self._local.context = value

    def _to_proxy_event(self, event: dict[str, Any]) -> SingleValueEvent:
        return SingleValueEvent(event, self._json_body_deserializer)
