"""Request validation: Powertools validates each route's typed path, query, header and body parameters;
this is what paygate adds (imported with the first request that is validated: resolver.py).

The order of the checks, the same on every route that takes the merchant: the API key (401, before
anything about the request is said), query parameters the route does not declare (400
`parameter_unknown`: never silently ignored), then Powertools' validation of the route's parameters,
where a query parameter's or a header's error comes before the body's. The body is read by paygate's
rules (paygate.edge: 413 past the size limit, UTF-8 JSON, an object, no duplicate keys, no NaN),
whatever the Content-Type (curl -d says form-urlencoded); a route whose body is optional takes none.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from routes.common import UNREADABLE, takes_merchant

from paygate import edge
from paygate.container import get_container
from paygate.observability import logger
from paygate.services import merchants
from paygate.services.errors import InvalidRequest, RequestError


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
