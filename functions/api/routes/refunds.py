"""Cancel and refunds: /v1/payments/{id}/cancel, /v1/payments/{id}/refunds, /v1/refunds/{id}."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from paygate import edge
from paygate.container import get_container
from paygate.domain.idempotency import valid_key
from paygate.ids import epoch_seconds
from paygate.observability import logger
from paygate.schemas.requests import CancelPayment, CreateRefund, NoQuery
from paygate.schemas.responses import list_object, payment_object, refund_object
from paygate.services import cancellation, refunds
from paygate.services.errors import InvalidRequest
from paygate.services.idempotency import IdempotentRequest, idempotent_request, require_key
from routes.common import merchant_of, query_of, respond

router = Router()


def _optional_body(event: APIGatewayProxyEvent, model: type[edge.M]) -> tuple[edge.M, dict[str, Any]]:
    """A body that may be left out: none (or only white space) is `{}`."""
    data = edge.raw_body(event.body, event.is_base64_encoded, get_container().settings.max_body_bytes)
    parsed = edge.parse_json_object(data) if data.strip() else {}
    return edge.validate(model, parsed), parsed


@router.post("/v1/payments/<payment_id>/cancel")
def cancel_payment(payment_id: str) -> Response[dict]:
    event = router.current_event
    logger.append_keys(payment_id=payment_id)
    merchant = merchant_of(event)
    query_of(event, NoQuery)
    key = event.headers.get("idempotency-key")
    request: IdempotentRequest | None = None
    _, parsed = _optional_body(event, CancelPayment)
    if key is not None:
        if not valid_key(key):
            raise InvalidRequest("the Idempotency-Key header must be 1 to 255 printable characters",
                                 param="Idempotency-Key", code="idempotency_key_invalid")
        request = idempotent_request(merchant_id=merchant.id, key=key, method="POST",
                                     path=f"/v1/payments/{payment_id}/cancel", body=parsed, now=epoch_seconds())
    accepted = cancellation.request_cancel(get_container().payments, merchant=merchant, payment_id=payment_id,
                                           request=request, correlation_id=logger.get_correlation_id())
    return respond(202, payment_object(accepted.payment), edge.replay_headers(accepted.replayed))


@router.post("/v1/payments/<payment_id>/refunds")
def create_refund(payment_id: str) -> Response[dict]:
    event = router.current_event
    logger.append_keys(payment_id=payment_id)
    merchant = merchant_of(event)
    query_of(event, NoQuery)
    key = require_key(event.headers.get("idempotency-key"))
    body, parsed = _optional_body(event, CreateRefund)
    request = idempotent_request(merchant_id=merchant.id, key=key, method="POST",
                                 path=f"/v1/payments/{payment_id}/refunds", body=parsed, now=epoch_seconds())
    c = get_container()
    accepted = refunds.create_refund(c.payments, c.refunds, merchant=merchant, payment_id=payment_id,
                                     amount=body.amount, request=request, correlation_id=logger.get_correlation_id())
    return respond(202, refund_object(accepted.refund),
                   {"Location": f"/v1/refunds/{accepted.refund.id}", **edge.replay_headers(accepted.replayed)})


@router.get("/v1/payments/<payment_id>/refunds")
def list_refunds(payment_id: str) -> Response[dict]:
    event = router.current_event
    logger.append_keys(payment_id=payment_id)
    merchant = merchant_of(event)
    query_of(event, NoQuery)
    c = get_container()
    found = refunds.list_refunds(c.payments, c.refunds, merchant, payment_id)
    return respond(200, list_object([refund_object(r) for r in found], False, f"/v1/payments/{payment_id}/refunds"))


@router.get("/v1/refunds/<refund_id>")
def get_refund(refund_id: str) -> Response[dict]:
    event = router.current_event
    merchant = merchant_of(event)
    query_of(event, NoQuery)
    return respond(200, refund_object(refunds.get_refund(get_container().refunds, merchant, refund_id)))
