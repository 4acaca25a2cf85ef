"""The merchant HTTP API: one typed Router per resource (routes/), validated by Powertools
(validation.py), documented from the routes (/openapi.json, /docs), errors in the documented shape."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError, ResponseValidationError
from aws_lambda_powertools.logging import correlation_paths
from botocore.exceptions import BotoCoreError, ClientError
from resolver import Resolver, request_error
from routes import api_keys, events, orders, payments, refunds, routing, wallets, webhook_endpoints
from routes.common import JSON

from paygate import edge
from paygate.observability import count_error, logger, metrics
from paygate.observability.tracing import flush_spans
from paygate.schemas.errors import Error
from paygate.schemas.events import to_json
from paygate.schemas.responses import Health
from paygate.services.errors import InternalError, NotFound, RequestError

PUBLIC = {"security": []}  # documented without the API key (a route that takes no merchant needs none)


app = Resolver()
for resource in (payments, refunds, webhook_endpoints, events, wallets, orders, api_keys, routing):
    app.include_router(resource.router)


@app.get("/health", summary="Health check", tags=["Health"], operation_id="health", openapi_extensions=PUBLIC,
         enable_validation=True)
def health() -> Health:
    return Health("ok")


@lru_cache(maxsize=1)
def openapi_document() -> str:
    """The document of the routes, completed where routes cannot say it (paygate.schemas.openapi)."""
    from paygate.schemas.openapi import document

    return json.dumps(document(app), separators=(",", ":"))


@app.get("/openapi.json", include_in_schema=False)
def openapi_json() -> Response[str]:
    return Response(200, JSON, openapi_document())


@app.get("/docs", include_in_schema=False)
def docs() -> Response[str]:
    """Swagger UI, with its script and style served inline from the Powertools package: no CDN."""
    from paygate.schemas.openapi import swagger_html

    return Response(200, "text/html", swagger_html(openapi_document()))


def answer(error: RequestError, status: int | None = None) -> Response:
    count_error(error.code)
    body = json.dumps(to_json(Error.of(error)), separators=(",", ":"))
    return Response(status or edge.status_of(error), JSON, body)


@app.exception_handler(RequestError)
def request_error_answer(error: RequestError) -> Response:
    return answer(error)


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response:
    return answer(request_error(error.errors()))


@app.exception_handler(ResponseValidationError)
def invalid_response(error: ResponseValidationError) -> Response:
    """An answer that does not match its model is paygate's bug, never sent: a 500, logged."""
    logger.error("an answer did not match its model", extra={"errors": str(error.errors())[:2000]})
    return answer(InternalError("internal error"), 500)


@app.exception_handler([ClientError, BotoCoreError])
def aws_unavailable(error: Exception) -> Response:
    """An AWS error the request could not overcome (the SDK's retries spent, within the function's timeout):
    a 503 the merchant may retry with the same Idempotency-Key; a transaction is all or nothing, so nothing
    was half-written."""
    logger.warning("AWS unavailable", extra={"error": f"{type(error).__name__}: {error}"[:500]})
    return answer(InternalError("A service the API depends on is unavailable; retry the request with the "
                                "same Idempotency-Key.", code="service_unavailable"), 503)


@app.not_found
def not_found(_: Exception) -> Response:
    return answer(NotFound("no such route", code="route_not_found"))


@flush_spans
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
