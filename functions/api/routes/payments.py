"""/v1/payments: take a payment, read it, list them, and its event history."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response

from paygate.container import get_container
from paygate.observability import logger
from paygate.schemas import examples
from paygate.schemas.events import Payment
from paygate.schemas.openapi import PAYMENTS, errors
from paygate.schemas.requests import CreatePayment
from paygate.schemas.responses import PaymentHistory, PaymentHistoryEvent, PaymentList, listing
from paygate.services import payments, routing
from routes.common import CurrentMerchant, ResourceRouter, accepted, idempotent, params

router = ResourceRouter(PAYMENTS)

PAYMENT_EXAMPLES = {
    "card": {"summary": "A card payment", "value": examples.CREATE_PAYMENT},
    "wallet": {"summary": "From a customer's wallet", "value": examples.WALLET_PAYMENT},
    "bill": {"summary": "A bill payment, from a wallet", "value": examples.BILL_PAYMENT},
}


@router.post("/v1/payments", status_code=202, openapi_extensions=errors(
    {400: ["invalid_token", "wallet_not_found", "currency_mismatch", "unknown_service",
           "payment_method_unsupported"]}))
def create_payment(body: Annotated[CreatePayment, params.Body(openapi_examples=PAYMENT_EXAMPLES)],
                   idempotency_key: params.IdempotencyKey, merchant: CurrentMerchant) -> Response[Payment]:
    """Create a payment

    Accepted at once (202, status NEW, and `Location`); the charge runs asynchronously, and the
    outcome reaches your webhook endpoints: `payment.processing`, then `payment.completed` or
    `payment.failed`. A card payment is charged through the provider the routing picks; a wallet
    payment holds the amount on the customer's wallet, then captures it; with `destination` it pays
    a bill from the wallet. What the gateway cannot take (an unknown sandbox token, a wallet that is
    not yours or holds another currency, an unknown biller) is refused here, not failed later."""
    c = get_container()
    new = payments.NewPayment(body.amount, body.currency, body.payment_method.typed(), body.description,
                              dict(body.metadata), body.customer_id, body.destination.typed() if body.destination else None)
    payments.check_payment_method(c.command_context(), merchant, new)
    request = idempotent(merchant, idempotency_key, "/v1/payments", body.model_dump(mode="json"))
    route = routing.route_for(c.routing, merchant, currency=new.currency, amount=new.amount,
                              method=new.payment_method.type)
    done = payments.create_payment(c.payments, merchant=merchant, request=request, new=new,
                                   correlation_id=logger.get_correlation_id(), route=route)
    return accepted(202, Payment.of(done.payment), replayed=done.replayed, location=f"/v1/payments/{done.payment.id}")


@router.get("/v1/payments", openapi_extensions=errors({400: ["invalid_request"]}))
def list_payments(merchant: CurrentMerchant, limit: params.Limit = 10, starting_after: params.StartingAfter = None,
                  status: params.PaymentStatusQuery = None) -> PaymentList:
    """List payments

    Newest first. `starting_after` (a payment id of the previous page) pages on; an unknown one is a 400."""
    found, has_more = payments.list_payments(get_container().payments, merchant, limit=limit,
                                             starting_after=starting_after, status=status)
    return listing(PaymentList, [Payment.of(p) for p in found], has_more, "/v1/payments")


@router.get("/v1/payments/<payment_id>")
def get_payment(payment_id: params.PaymentId, merchant: CurrentMerchant) -> Payment:
    """Retrieve a payment

    Read strongly consistent: what the last webhook told, or newer. Another merchant's payment is a
    404, as an unknown one."""
    logger.append_keys(payment_id=payment_id)
    return Payment.of(payments.get_payment(get_container().payments, merchant, payment_id))


@router.get("/v1/payments/<payment_id>/events")
def list_payment_events(payment_id: params.PaymentId, merchant: CurrentMerchant) -> PaymentHistory:
    """A payment's history

    Every event of the payment by `sequence` from 1, each with the payment as it was right after it:
    the history rebuilds the payment."""
    logger.append_keys(payment_id=payment_id)
    history = payments.payment_history(get_container().payments, merchant, payment_id)
    return listing(PaymentHistory, [PaymentHistoryEvent.of(e, after) for e, after in history], False,
                   f"/v1/payments/{payment_id}/events")
