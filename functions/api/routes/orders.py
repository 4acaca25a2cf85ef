"""Orders paid from a customer's wallet: /v1/orders, /v1/orders/{id}."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response

from paygate.container import get_container
from paygate.observability import logger
from paygate.schemas.events import Order
from paygate.schemas.openapi import ORDERS, errors
from paygate.schemas.requests import CreateOrder
from paygate.schemas.responses import listing
from paygate.schemas.wallet_responses import OrderList
from paygate.services import orders
from routes.common import CurrentMerchant, ResourceRouter, accepted, idempotent, params

router = ResourceRouter(ORDERS)


@router.post("/v1/orders", status_code=202,
             openapi_extensions=errors({400: ["customer_not_found", "currency_mismatch"]}))
def create_order(body: Annotated[CreateOrder, params.Body()], idempotency_key: params.IdempotencyKey,
                 merchant: CurrentMerchant) -> Response[Order]:
    """Create an order

    Accepted at once (202, NEW). The order and its payment task are written in one transaction (the
    outbox); the payment side records the task once (the inbox), pays from the customer's wallet, and
    the order ends FINISHED (`payment_id`) or CANCELED (`failure`): webhooks `order.finished`,
    `order.canceled`, and a notification to the customer."""
    request = idempotent(merchant, idempotency_key, "/v1/orders", body.model_dump(mode="json"))
    c = get_container()
    done = orders.create_order(c.orders, c.wallets, merchant=merchant, request=request,
                               customer_id=body.customer_id, amount=body.amount, currency=body.currency,
                               description=body.description, correlation_id=logger.get_correlation_id())
    logger.append_keys(order_id=done.order.id)
    return accepted(202, Order.of(done.order), replayed=done.replayed, location=f"/v1/orders/{done.order.id}")


@router.get("/v1/orders", openapi_extensions=errors({400: ["customer_not_found", "invalid_request"]}))
def list_orders(customer_id: params.CustomerQuery, merchant: CurrentMerchant, limit: params.Limit = 10,
                starting_after: params.StartingAfter = None) -> OrderList:
    """List a customer's orders

    Newest first; `starting_after` is an order id."""
    c = get_container()
    found, has_more = orders.list_orders(c.orders, c.wallets, merchant, customer_id=customer_id, limit=limit,
                                         starting_after=starting_after)
    return listing(OrderList, [Order.of(o) for o in found], has_more, "/v1/orders")


@router.get("/v1/orders/<order_id>")
def get_order(order_id: params.OrderId, merchant: CurrentMerchant) -> Order:
    """Retrieve an order

    NEW until its payment has its outcome; then FINISHED (`payment_id`) or CANCELED (`failure`)."""
    return Order.of(orders.get_order(get_container().orders, merchant, order_id))
