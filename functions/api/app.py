"""The merchant HTTP API: parse, authenticate, call one service function, shape the answer."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths

from paygate import edge
from paygate.container import get_container
from paygate.observability import count_error, logger, metrics
from paygate.schemas.requests import (
    CreatePayment,
    CreateWebhookEndpoint,
    ListPaymentsQuery,
    NoQuery,
)
from paygate.services import endpoints, merchants, payments
from paygate.services.errors import NotFound, RequestError
from paygate.services.idempotency import require_key
from paygate.services.ports import StoredResponse

app = APIGatewayRestResolver()


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, "application/json", json.dumps(body, separators=(",", ":")), headers=headers or {})


def _stored(response: StoredResponse) -> Response:
    return _json(response.status, response.body, response.headers)


def _merchant():  # type: ignore[no-untyped-def]
    merchant = merchants.authenticate(get_container().merchants, app.current_event.headers.get("authorization"))
    logger.append_keys(merchant_id=merchant.id)
    return merchant


def _body() -> tuple[dict[str, Any], bytes]:
    event = app.current_event
    data = edge.raw_body(event.body, event.is_base64_encoded, get_container().settings.max_body_bytes)
    return edge.parse_json_object(data), data


@app.exception_handler(RequestError)
def _request_error(exc: RequestError) -> Response:
    count_error(exc.code)
    return _json(exc.status, exc.body(), exc.headers)


@app.not_found
def _not_found(_: Exception) -> Response:
    return _request_error(NotFound("no such route", code="route_not_found"))


@app.get("/health")
def health() -> Response:
    return _json(200, {"status": "ok"})


@app.post("/v1/payments")
def create_payment() -> Response:
    merchant = _merchant()
    key = require_key(app.current_event.headers.get("idempotency-key"))
    body, _ = _body()
    request = edge.validate(CreatePayment, body)
    c = get_container()
    return _stored(payments.create_payment(
        c.payments, c.idempotency, merchant=merchant, key=key, raw_body=body, request=request,
        correlation_id=logger.get_correlation_id(),
    ))


@app.get("/v1/payments")
def list_payments() -> Response:
    merchant = _merchant()
    query = edge.validate(ListPaymentsQuery, app.current_event.query_string_parameters or {})
    return _json(200, payments.list_payments(get_container().payments, merchant, query))


@app.get("/v1/payments/<payment_id>")
def get_payment(payment_id: str) -> Response:
    logger.append_keys(payment_id=payment_id)
    return _json(200, payments.get_payment(get_container().payments, _merchant(), payment_id))


@app.get("/v1/payments/<payment_id>/events")
def list_payment_events(payment_id: str) -> Response:
    logger.append_keys(payment_id=payment_id)
    return _json(200, payments.list_events(get_container().payments, _merchant(), payment_id))


@app.post("/v1/webhook_endpoints")
def create_webhook_endpoint() -> Response:
    merchant = _merchant()
    key = require_key(app.current_event.headers.get("idempotency-key"))
    body, _ = _body()
    request = edge.validate(CreateWebhookEndpoint, body)
    c = get_container()
    return _stored(endpoints.create_endpoint(
        c.endpoints, c.idempotency, c.url_guard, merchant=merchant, key=key, raw_body=body, request=request,
    ))


@app.get("/v1/webhook_endpoints")
def list_webhook_endpoints() -> Response:
    merchant = _merchant()
    edge.validate(NoQuery, app.current_event.query_string_parameters or {})
    return _json(200, endpoints.list_endpoints(get_container().endpoints, merchant))


@app.delete("/v1/webhook_endpoints/<endpoint_id>")
def delete_webhook_endpoint(endpoint_id: str) -> Response:
    return _json(200, endpoints.delete_endpoint(get_container().endpoints, _merchant(), endpoint_id))


@app.get("/v1/webhook_endpoints/<endpoint_id>/failed_deliveries")
def list_failed_deliveries(endpoint_id: str) -> Response:
    return _json(200, endpoints.list_failed_deliveries(get_container().endpoints, _merchant(), endpoint_id))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
