"""Taking payments: create (idempotent), read, list, and the event history."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import payment as domain
from paygate.domain.accounts import Merchant
from paygate.domain.money import Money
from paygate.ids import epoch_seconds, new_id, utc_now
from paygate.observability import logger, metrics
from paygate.observability.tracing import span
from paygate.schemas.requests import CreatePayment, ListPaymentsQuery
from paygate.schemas.responses import event_object, list_object, payment_object
from paygate.services.errors import InvalidRequest, NotFound
from paygate.services.idempotency import run_idempotent
from paygate.services.ports import (
    EventMeta,
    IdempotencyStore,
    PaymentRepository,
    StoredResponse,
)


def create_payment(
    payments: PaymentRepository,
    idempotency: IdempotencyStore,
    *,
    merchant: Merchant,
    key: str,
    raw_body: Any,
    request: CreatePayment,
    correlation_id: str | None,
) -> StoredResponse:
    """Accept a payment: state NEW, event 1 and the idempotency key in one transaction."""

    def work(complete) -> StoredResponse:  # type: ignore[no-untyped-def]
        payment_id = new_id("pay")
        logger.append_keys(payment_id=payment_id)
        with span("payment.create") as traceparent:
            payment, event = domain.open_payment(
                payment_id=payment_id,
                event_id=new_id("evt"),
                merchant_id=merchant.id,
                money=Money.of(request.amount, request.currency),
                payment_method=request.payment_method.model_dump(),
                now=utc_now(),
                description=request.description,
                metadata=request.metadata,
                customer_id=request.customer_id,
                destination=request.destination.model_dump() if request.destination else None,
            )
            response = StoredResponse(
                202, payment_object(payment), {"Location": f"/v1/payments/{payment.id}"}
            )
            payments.create(payment, event, EventMeta(traceparent, correlation_id), complete(response))
        metrics.add_metric(name="PaymentsCreated", unit=MetricUnit.Count, value=1)
        logger.info("payment accepted", extra={"amount": payment.amount, "currency": payment.currency})
        return response

    return run_idempotent(
        idempotency, merchant_id=merchant.id, key=key, method="POST", path="/v1/payments",
        body=raw_body, now=epoch_seconds(), work=work,
    )


def get_owned(payments: PaymentRepository, merchant: Merchant, payment_id: str) -> domain.Payment:
    """Another merchant's payment is answered exactly like a missing one."""
    payment = payments.get(payment_id) if len(payment_id) <= 64 else None
    if payment is None or payment.merchant_id != merchant.id:
        raise NotFound(f"no such payment: {payment_id!r}", param="id")
    return payment


def get_payment(payments: PaymentRepository, merchant: Merchant, payment_id: str) -> dict[str, Any]:
    return payment_object(get_owned(payments, merchant, payment_id))


def list_payments(payments: PaymentRepository, merchant: Merchant, query: ListPaymentsQuery) -> dict[str, Any]:
    cursor = None
    if query.starting_after:
        cursor = payments.get(query.starting_after)
        if cursor is None or cursor.merchant_id != merchant.id:
            raise InvalidRequest(f"no such payment: {query.starting_after!r}", param="starting_after")
    items, has_more = payments.list(
        merchant.id, limit=query.limit, starting_after=cursor, status=query.status
    )
    return list_object([payment_object(p) for p in items], has_more, "/v1/payments")


def list_events(payments: PaymentRepository, merchant: Merchant, payment_id: str) -> dict[str, Any]:
    payment = get_owned(payments, merchant, payment_id)
    stored = payments.events(payment.id)
    data = [event_object(s.event, s.snapshot) for s in stored]
    return list_object(data, False, f"/v1/payments/{payment.id}/events")
