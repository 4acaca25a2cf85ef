"""/v1/payments: take a payment, read it, list them, and its event history."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from paygate import edge
from paygate.container import get_container
from paygate.domain.accounts import Merchant
from paygate.observability import logger
from paygate.schemas.requests import CreatePayment, ListPaymentsQuery, NoQuery
from paygate.schemas.responses import event_object, list_object, payment_object
from paygate.services import payments
from routes.common import creating_request, merchant_of, query_of, respond

router = Router()


@router.post("/v1/payments")
def create_payment() -> Response[dict]:
    merchant, body, request = creating_request(router.current_event, CreatePayment, "/v1/payments")
    c = get_container()
    payments.check_payment_method(body, sandbox=c.settings.dev, wallets=c.wallets, merchant=merchant)
    accepted = payments.create_payment(get_container().payments, merchant=merchant, request=request, body=body,
                                       correlation_id=logger.get_correlation_id())
    return respond(202, payment_object(accepted.payment),
                   {"Location": f"/v1/payments/{accepted.payment.id}", **edge.replay_headers(accepted.replayed)})


@router.get("/v1/payments")
def list_payments() -> Response[dict]:
    event = router.current_event
    merchant = merchant_of(event, ListPaymentsQuery)
    found, has_more = payments.list_payments(get_container().payments, merchant, query_of(event, ListPaymentsQuery))
    return respond(200, list_object([payment_object(p) for p in found], has_more, "/v1/payments"))


def _reader_of(payment_id: str) -> Merchant:
    """A GET of one payment: its id in the logs, the merchant asking, and no query parameters."""
    logger.append_keys(payment_id=payment_id)
    merchant = merchant_of(router.current_event)
    query_of(router.current_event, NoQuery)
    return merchant


@router.get("/v1/payments/<payment_id>")
def get_payment(payment_id: str) -> Response[dict]:
    merchant = _reader_of(payment_id)
    return respond(200, payment_object(payments.get_payment(get_container().payments, merchant, payment_id)))


@router.get("/v1/payments/<payment_id>/events")
def list_payment_events(payment_id: str) -> Response[dict]:
    merchant = _reader_of(payment_id)
    history = payments.payment_history(get_container().payments, merchant, payment_id)
    return respond(200, list_object([event_object(e, after) for e, after in history], False,
                                    f"/v1/payments/{payment_id}/events"))
