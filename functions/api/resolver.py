"""The API's resolver: Powertools' REST resolver, its routes validated from their signatures by
paygate's request validation (validation.py), and what a request that failed validation is answered.

Powertools' OpenAPI machinery (its validation middlewares and parameter types, and pydantic's schema
generation with them) is imported when the first request needs it, not at import: each route asks for
validation itself (`enable_validation=True`, routes/common.py), and the middlewares are made on first
use, as Powertools does for a route that asks. That keeps 20 ms out of the module's import; the first
request pays it (make bench measures both).
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any, Mapping, Sequence

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from routes.common import UNREADABLE

from paygate import edge
from paygate.services.errors import InvalidRequest, RequestError
from paygate.services.idempotency import require_key


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
    """Powertools' resolver with paygate's request validation in the place of its own (Powertools looks
    for it in ``_request_validation_middleware``: 3.37, pinned; tests/integration/test_api_handler.py
    checks the order it gives), an answer that does not match its model raising
    ResponseValidationError (a 500, app.py), and the per-request context (the route matched, its
    validated arguments, the merchant) kept per thread: Lambda runs one invocation at a time, but the
    integration tests race requests on threads through one handler."""

    def __init__(self) -> None:
        self._local = threading.local()
        super().__init__()

    @cached_property
    def _request_validation_middleware(self) -> Any:
        from validation import RequestValidation

        return RequestValidation()

    @cached_property
    def _response_validation_middleware(self) -> Any:
        from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
            OpenAPIResponseValidationMiddleware,
        )

        return OpenAPIResponseValidationMiddleware(has_response_validation_error=True)

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
