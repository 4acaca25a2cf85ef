"""Orders paid from a customer's wallet: /v1/orders, /v1/orders/{id}."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from paygate import edge
from paygate.container import get_container
from paygate.observability import logger
from paygate.schemas.requests import CreateOrder, ListOrdersQuery
from paygate.schemas.responses import list_object, order_object
from paygate.services import orders
from routes.common import creating_request, merchant_of, query_of, respond

router = Router()


@router.post("/v1/orders")
def create_order() -> Response[dict]:
    merchant, body, request = creating_request(router.current_event, CreateOrder, "/v1/orders")
    c = get_container()
    accepted = orders.create_order(c.orders, c.wallets, merchant=merchant, request=request,
                                   customer_id=body.customer_id, amount=body.amount, currency=body.currency,
                                   description=body.description, correlation_id=logger.get_correlation_id())
    logger.append_keys(order_id=accepted.order.id)
    return respond(202, order_object(accepted.order),
                   {"Location": f"/v1/orders/{accepted.order.id}", **edge.replay_headers(accepted.replayed)})


@router.get("/v1/orders")
def list_orders() -> Response[dict]:
    event = router.current_event
    merchant = merchant_of(event, ListOrdersQuery)
    query = query_of(event, ListOrdersQuery)
    c = get_container()
    found, has_more = orders.list_orders(c.orders, c.wallets, merchant, customer_id=query.customer_id,
                                         limit=query.limit, starting_after=query.starting_after)
    return respond(200, list_object([order_object(o) for o in found], has_more, "/v1/orders"))


@router.get("/v1/orders/<order_id>")
def get_order(order_id: str) -> Response[dict]:
    merchant = merchant_of(router.current_event)
    return respond(200, order_object(orders.get_order(get_container().orders, merchant, order_id)))
