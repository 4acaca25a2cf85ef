"""The merchant HTTP API: one Router per resource (routes/), errors answered in the documented shape."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from routes import events, orders, payments, refunds, wallets, webhook_endpoints
from routes.common import respond

from paygate import edge
from paygate.observability import count_error, logger, metrics
from paygate.observability.tracing import flush_spans
from paygate.services.errors import NotFound, RequestError

app = APIGatewayRestResolver()
app.include_router(payments.router)
app.include_router(webhook_endpoints.router)
app.include_router(refunds.router)
app.include_router(events.router)
app.include_router(wallets.router)
app.include_router(orders.router)


@app.get("/health")
def health() -> Response[dict]:
    return respond(200, {"status": "ok"})


@lru_cache(maxsize=1)
def openapi_document() -> str:
    """The routes as Powertools documents them, completed with paygate's models (paygate.schemas.openapi)."""
    from paygate.schemas.openapi import TITLE, VERSION, complete

    generated = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
    return json.dumps(complete(generated), separators=(",", ":"))


@app.get("/openapi.json", include_in_schema=False)
def openapi_json() -> Response[dict]:
    return Response(200, "application/json", openapi_document())


@app.get("/docs", include_in_schema=False)
def docs() -> Response[dict]:
    """Swagger UI, with its script and style served inline from the Powertools package: no CDN."""
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = Path(generate_swagger_html.__code__.co_filename).parent
    html = generate_swagger_html(openapi_document().replace("</", "<\\/"),
                                 (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
                                 (assets / "swagger-ui.min.css").read_text(encoding="utf-8"), "", None)
    return Response(200, "text/html", html)


@app.exception_handler(RequestError)
def request_error(exc: RequestError) -> Response[dict]:
    count_error(exc.code)
    return respond(edge.status_of(exc), exc.body())


@app.not_found
def not_found(_: Exception) -> Response[dict]:
    return request_error(NotFound("no such route", code="route_not_found"))


@flush_spans
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
