"""The merchant HTTP API: one Router per resource (routes/), errors answered in the documented shape."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from routes import payments, refunds, webhook_endpoints
from routes.common import respond

from paygate import edge
from paygate.observability import count_error, logger, metrics
from paygate.services.errors import NotFound, RequestError

app = APIGatewayRestResolver()
app.include_router(payments.router)
app.include_router(webhook_endpoints.router)
app.include_router(refunds.router)


@app.get("/health")
def health() -> Response:
    return respond(200, {"status": "ok"})


@app.exception_handler(RequestError)
def request_error(exc: RequestError) -> Response:
    count_error(exc.code)
    return respond(edge.status_of(exc), exc.body())


@app.not_found
def not_found(_: Exception) -> Response:
    return request_error(NotFound("no such route", code="route_not_found"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
