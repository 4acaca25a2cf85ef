"""Provider callbacks: `POST /callbacks/{provider}`, no merchant auth, the provider's signature checked."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths

from paygate import edge
from paygate.container import get_container
from paygate.domain.callbacks import SIGNATURE_HEADER
from paygate.ids import epoch_seconds
from paygate.observability import count_error, logger, metrics
from paygate.observability.tracing import flush_spans
from paygate.schemas.callbacks import CallbackReceived
from paygate.schemas.errors import Error
from paygate.schemas.events import to_json
from paygate.services.errors import NotFound, RequestError
from paygate.services.triggered import callbacks

app = APIGatewayRestResolver()


def _json(status: int, body: dict[str, Any]) -> Response[dict]:
    import json

    return Response(status, "application/json", json.dumps(body, separators=(",", ":")))


@app.post("/callbacks/<provider>")
def receive(provider: str) -> Response[dict]:
    event = app.current_event
    c = get_container()
    body = edge.raw_body(event.body, event.is_base64_encoded, c.settings.max_body_bytes)
    if provider == "stripe" and c.settings.stripe_configured:
        from paygate.adapters.stripe import verify_webhook

        verified = verify_webhook(body, event.headers.get("Stripe-Signature"), c.stripe_secrets["webhook_secret"])
        received = callbacks.receive_stripe(
            verified, publisher=c.publisher, commands_queue_url=c.settings.commands_queue_url, traceparent=None,
            correlation_id=logger.get_correlation_id())
        return _json(200, to_json(CallbackReceived(received=True, id=received.event_id)))
    received = callbacks.receive(
        provider, body=body, signature=event.headers.get(SIGNATURE_HEADER), secret=c.settings.callback_secret(),
        now=epoch_seconds(), publisher=c.publisher, commands_queue_url=c.settings.commands_queue_url,
        traceparent=None, correlation_id=logger.get_correlation_id())
    return _json(200, to_json(CallbackReceived(received=True, id=received.event_id)))


@app.exception_handler(RequestError)
def request_error(exc: RequestError) -> Response[dict]:
    count_error(exc.code)
    return _json(edge.status_of(exc), to_json(Error.of(exc)))


@app.not_found
def not_found(_: Exception) -> Response[dict]:
    return request_error(NotFound("no such route", code="route_not_found"))


@flush_spans
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
