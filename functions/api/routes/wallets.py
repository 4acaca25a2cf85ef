"""Customers and wallets: /v1/customers, /v1/wallets/{id} (+ topups, entries), /v1/balance."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from paygate import edge
from paygate.container import get_container
from paygate.schemas.requests import CreateCustomer, CreateTopup, ListEntriesQuery, ListNotificationsQuery, NoQuery
from paygate.schemas.responses import (
    balance_object,
    customer_object,
    entry_object,
    list_object,
    notification_object,
    topup_object,
    wallet_object,
)
from paygate.services import orders, wallets
from routes.common import creating_request, merchant_of, query_of, respond

router = Router()


@router.post("/v1/customers")
def create_customer() -> Response[dict]:
    merchant, body, request = creating_request(router.current_event, CreateCustomer, "/v1/customers")
    created = wallets.create_customer(get_container().wallets, merchant=merchant, request=request, name=body.name,
                                      email=body.email, currency=body.currency)
    return respond(201, customer_object(created.customer),
                   {"Location": f"/v1/customers/{created.customer.id}", **edge.replay_headers(created.replayed)})


@router.get("/v1/customers/<customer_id>")
def get_customer(customer_id: str) -> Response[dict]:
    merchant = merchant_of(router.current_event)
    return respond(200, customer_object(wallets.get_customer(get_container().wallets, merchant, customer_id)))


@router.get("/v1/customers/<customer_id>/notifications")
def list_notifications(customer_id: str) -> Response[dict]:
    event = router.current_event
    merchant = merchant_of(event, ListNotificationsQuery)
    query = query_of(event, ListNotificationsQuery)
    c = get_container()
    found = orders.notifications(c.orders, c.wallets, merchant, customer_id, query.limit)
    return respond(200, list_object([notification_object(n) for n in found], False,
                                    f"/v1/customers/{customer_id}/notifications"))


@router.get("/v1/wallets/<wallet_id>")
def get_wallet(wallet_id: str) -> Response[dict]:
    merchant = merchant_of(router.current_event)
    return respond(200, wallet_object(wallets.get_wallet(get_container().wallets, merchant, wallet_id)))


@router.post("/v1/wallets/<wallet_id>/topups")
def create_topup(wallet_id: str) -> Response[dict]:
    merchant, body, request = creating_request(router.current_event, CreateTopup, f"/v1/wallets/{wallet_id}/topups")
    topup, replayed = wallets.topup(get_container().wallets, merchant=merchant, wallet_id=wallet_id,
                                    amount=body.amount, request=request)
    return respond(201, topup_object(topup), edge.replay_headers(replayed))


@router.get("/v1/wallets/<wallet_id>/entries")
def list_entries(wallet_id: str) -> Response[dict]:
    event = router.current_event
    merchant = merchant_of(event, ListEntriesQuery)
    query = query_of(event, ListEntriesQuery)
    c = get_container()
    wallet = wallets.get_wallet(c.wallets, merchant, wallet_id)
    found, has_more = c.wallets.entries(wallet.id, limit=query.limit, starting_after=query.starting_after)
    return respond(200, list_object([entry_object(e) for e in found], has_more, f"/v1/wallets/{wallet_id}/entries"))


@router.get("/v1/balance")
def get_balance() -> Response[dict]:
    merchant = merchant_of(router.current_event)
    query_of(router.current_event, NoQuery)
    return respond(200, balance_object(get_container().wallets.balances(merchant.id)))
