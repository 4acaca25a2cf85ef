"""Customers and wallets: /v1/customers, /v1/wallets/{id} (+ topups, entries), /v1/balance."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response

from paygate.container import get_container
from paygate.schemas.openapi import CUSTOMERS
from paygate.schemas.requests import CreateCustomer, CreateTopup
from paygate.schemas.responses import listing
from paygate.schemas.wallet_responses import (
    Balance,
    Customer,
    Notification,
    NotificationList,
    Topup,
    Wallet,
    WalletEntry,
    WalletEntryList,
)
from paygate.services import orders, wallets
from routes.common import CurrentMerchant, ResourceRouter, accepted, idempotent, params

router = ResourceRouter(CUSTOMERS)


@router.post("/v1/customers", status_code=201)
def create_customer(body: Annotated[CreateCustomer, params.Body()], idempotency_key: params.IdempotencyKey,
                    merchant: CurrentMerchant) -> Response[Customer]:
    """Create a customer

    The customer and its wallet (`wallet_id`), written together in one transaction."""
    request = idempotent(merchant, idempotency_key, "/v1/customers", body.model_dump(mode="json"))
    done = wallets.create_customer(get_container().wallets, merchant=merchant, request=request, name=body.name,
                                   email=body.email, currency=body.currency)
    return accepted(201, Customer.of(done.customer), replayed=done.replayed,
                    location=f"/v1/customers/{done.customer.id}")


@router.get("/v1/customers/<customer_id>")
def get_customer(customer_id: params.CustomerId, merchant: CurrentMerchant) -> Customer:
    """Retrieve a customer

    With its `wallet_id`."""
    return Customer.of(wallets.get_customer(get_container().wallets, merchant, customer_id))


@router.get("/v1/customers/<customer_id>/notifications")
def list_notifications(customer_id: params.CustomerId, merchant: CurrentMerchant,
                       limit: params.Limit = 10) -> NotificationList:
    """A customer's notifications

    What the customer was told of each order's outcome (`order.finished`, `order.canceled`), newest first."""
    c = get_container()
    found = orders.notifications(c.orders, c.wallets, merchant, customer_id, limit)
    return listing(NotificationList, [Notification.of(n) for n in found], False,
                   f"/v1/customers/{customer_id}/notifications")


@router.get("/v1/wallets/<wallet_id>")
def get_wallet(wallet_id: params.WalletId, merchant: CurrentMerchant) -> Wallet:
    """Retrieve a wallet

    Its balance: `available` to spend, and `held` for payments under way."""
    return Wallet.of(wallets.get_wallet(get_container().wallets, merchant, wallet_id))


@router.post("/v1/wallets/<wallet_id>/topups", status_code=201)
def create_topup(wallet_id: params.WalletId, body: Annotated[CreateTopup, params.Body()],
                 idempotency_key: params.IdempotencyKey, merchant: CurrentMerchant) -> Response[Topup]:
    """Top up a wallet

    The amount is credited at once (SUCCEEDED), from your funding account: one double-entry transfer."""
    request = idempotent(merchant, idempotency_key, f"/v1/wallets/{wallet_id}/topups", body.model_dump(mode="json"))
    topup, replayed = wallets.topup(get_container().wallets, merchant=merchant, wallet_id=wallet_id,
                                    amount=body.amount, request=request)
    return accepted(201, Topup.of(topup), replayed=replayed)


@router.get("/v1/wallets/<wallet_id>/entries")
def list_entries(wallet_id: params.WalletId, merchant: CurrentMerchant, limit: params.Limit = 10,
                 starting_after: params.EntryCursor = None) -> WalletEntryList:
    """A wallet's ledger

    Its entries, newest first: top-ups, holds, captures, releases and refunds, each with the balances after it."""
    c = get_container()
    wallet = wallets.get_wallet(c.wallets, merchant, wallet_id)
    found, has_more = c.wallets.entries(wallet.id, limit=limit, starting_after=starting_after)
    return listing(WalletEntryList, [WalletEntry.of(e) for e in found], has_more, f"/v1/wallets/{wallet_id}/entries")


@router.get("/v1/balance")
def get_balance(merchant: CurrentMerchant) -> Balance:
    """Your balance

    `available`: captured wallet payments less their refunds, by currency; beside it what top-ups
    brought in and what billers were paid."""
    return Balance.of(get_container().wallets.balances(merchant.id))
