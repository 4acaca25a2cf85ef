"""Cancel and refunds: /v1/payments/{id}/cancel, /v1/payments/{id}/refunds, /v1/refunds/{id}."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response

from paygate.container import get_container
from paygate.observability import logger
from paygate.schemas.events import Payment, Refund
from paygate.schemas.openapi import REFUNDS, errors
from paygate.schemas.requests import CancelPayment, CreateRefund
from paygate.schemas.responses import RefundList, listing
from paygate.services import cancellation, refunds
from routes.common import CurrentMerchant, ResourceRouter, accepted, idempotent, params

router = ResourceRouter(REFUNDS)


def sent(body: CancelPayment | CreateRefund | None) -> dict:
    """What the fingerprint covers of an optional body: the fields as sent, {} when there is none."""
    return body.model_dump(mode="json", exclude_unset=True) if body is not None else {}


@router.post("/v1/payments/<payment_id>/cancel", status_code=202, openapi_extensions=errors({409: ["invalid_state"]}))
def cancel_payment(payment_id: params.PaymentId, merchant: CurrentMerchant,
                   body: Annotated[CancelPayment | None, params.Body(description="None, or `{}`.")] = None,
                   idempotency_key: params.OptionalIdempotencyKey = None) -> Response[Payment]:
    """Cancel a payment

    Accepted at once (202, `cancel_requested: true`); the payment becomes CANCELED asynchronously: a
    NEW one at once, a PROCESSING one after its pending charge is voided at the provider. One the
    provider had already charged ends COMPLETED instead (`payment.completed` answers the cancel: money
    taken is never lost). A final payment is a 409 `invalid_state`. The Idempotency-Key is optional here."""
    logger.append_keys(payment_id=payment_id)
    request = None if idempotency_key is None else idempotent(merchant, idempotency_key,
                                                              f"/v1/payments/{payment_id}/cancel", sent(body))
    done = cancellation.request_cancel(get_container().payments, merchant=merchant, payment_id=payment_id,
                                       request=request, correlation_id=logger.get_correlation_id())
    return accepted(202, Payment.of(done.payment), replayed=done.replayed)


@router.post("/v1/payments/<payment_id>/refunds", status_code=202,
             openapi_extensions=errors({400: ["amount_too_large"], 409: ["invalid_state"]}))
def create_refund(payment_id: params.PaymentId, idempotency_key: params.IdempotencyKey,
                  merchant: CurrentMerchant,
                  body: Annotated[CreateRefund | None, params.Body(description="None, or `{}`: all that is left.")]
                  = None) -> Response[Refund]:
    """Refund a payment

    Only a COMPLETED payment (otherwise 409 `invalid_state`). Accepted at once (202, PENDING); then
    SUCCEEDED or FAILED, by webhook. The amount is reserved when the refund is accepted, so refunds
    never add up to more than was paid, even when sent at the same moment: one that would is a 400
    `amount_too_large`. A card payment's refund goes back to its charge, a wallet payment's to the wallet."""
    logger.append_keys(payment_id=payment_id)
    request = idempotent(merchant, idempotency_key, f"/v1/payments/{payment_id}/refunds", sent(body))
    c = get_container()
    done = refunds.create_refund(c.payments, c.refunds, merchant=merchant, payment_id=payment_id,
                                 amount=body.amount if body else None, request=request,
                                 correlation_id=logger.get_correlation_id())
    return accepted(202, Refund.of(done.refund), replayed=done.replayed, location=f"/v1/refunds/{done.refund.id}")


@router.get("/v1/payments/<payment_id>/refunds")
def list_refunds(payment_id: params.PaymentId, merchant: CurrentMerchant) -> RefundList:
    """A payment's refunds

    Newest first."""
    logger.append_keys(payment_id=payment_id)
    c = get_container()
    found = refunds.list_refunds(c.payments, c.refunds, merchant, payment_id)
    return listing(RefundList, [Refund.of(r) for r in found], False, f"/v1/payments/{payment_id}/refunds")


@router.get("/v1/refunds/<refund_id>")
def get_refund(refund_id: params.RefundId, merchant: CurrentMerchant) -> Refund:
    """Retrieve a refund

    PENDING until the provider (or the wallet's ledger) has paid it back: then SUCCEEDED or FAILED."""
    return Refund.of(refunds.get_refund(get_container().refunds, merchant, refund_id))
