"""Examples of what the API takes and answers, shown in its OpenAPI document (a test validates each
against its model, so an example cannot drift from what the API really says)."""

from __future__ import annotations

from typing import Any

CREATED = "2026-03-02T15:23:35.120Z"
UPDATED = "2026-03-02T15:23:35.642Z"

PAYMENT: dict[str, Any] = {
    "id": "pay_D7vGQgDYw06oBjjZAZ5pUP3a", "object": "payment", "status": "COMPLETED", "amount": 1050,
    "currency": "USD", "payment_method": {"type": "card", "token": "tok_success"}, "description": "Order #1001",
    "metadata": {"order_id": "1001"}, "customer_id": None, "destination": None, "order_id": None, "failure": None,
    "amount_refunded": 0, "cancel_requested": False, "version": 3, "created_at": CREATED, "updated_at": UPDATED,
    "provider": "sandbox",
    "attempts": [{"provider": "sandbox", "reference": "pay_D7vGQgDYw06oBjjZAZ5pUP3a", "status": "succeeded",
                  "failure": None, "at": UPDATED}],
}
NEW_PAYMENT: dict[str, Any] = {**PAYMENT, "status": "NEW", "version": 1, "updated_at": CREATED, "provider": None,
                               "attempts": []}
FAILED_PAYMENT: dict[str, Any] = {
    **PAYMENT, "status": "FAILED", "payment_method": {"type": "card", "token": "tok_decline"},
    "failure": {"code": "card_declined", "message": "the card was declined"},
}

REFUND: dict[str, Any] = {
    "id": "re_Vb0cOQ7m2mNnxW1k4cJ2Lq9z", "object": "refund", "payment_id": PAYMENT["id"], "amount": 300,
    "currency": "USD", "status": "PENDING", "failure": None, "version": 1, "created_at": UPDATED,
    "updated_at": UPDATED,
}

EVENT_ID = "evt_0Ab3kQ9zW3q1c6yD2nUfE8hJ"
WEBHOOK_EVENT: dict[str, Any] = {"id": EVENT_ID, "type": "payment.completed", "created_at": UPDATED,
                                 "data": {"object": PAYMENT}}
PAYMENT_HISTORY_EVENT: dict[str, Any] = {"id": EVENT_ID, "object": "event", "type": "payment.completed",
                                         "sequence": 3, "created_at": UPDATED, "data": {"object": PAYMENT}}

ENDPOINT: dict[str, Any] = {
    "id": "we_5HhT0c2uY8pQe1LmZk3sV7bN", "object": "webhook_endpoint", "url": "https://shop.example/hooks",
    "enabled_events": ["*"], "description": "the shop's order service", "status": "enabled", "created_at": CREATED,
}
ENDPOINT_WITH_SECRET: dict[str, Any] = {**ENDPOINT, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}

API_KEY: dict[str, Any] = {"id": "key_7Qm2Lx9cVb4nZs1kWp8rTy3d", "object": "api_key", "prefix": "sk_test_Xa4f",
                           "created_at": CREATED, "last_used_at": None}
API_KEY_WITH_SECRET: dict[str, Any] = {**API_KEY, "secret": "sk_test_Xa4fJ0tq9ZbC2rW8mLk1VnH6yP3sD5gE7uQ0xT4iOa2"}

DELIVERY_ATTEMPT: dict[str, Any] = {
    "id": "att_0Ab3kQA1p2r3s4t5u6v7w8x9", "object": "delivery_attempt", "endpoint_id": ENDPOINT["id"],
    "event_id": EVENT_ID, "event_type": "payment.completed", "attempt": 1, "delivered": False, "status_code": 503,
    "error": None, "at": UPDATED, "next_attempt_at": "2026-03-02T15:23:40.642Z",
}
FAILED_DELIVERY: dict[str, Any] = {
    "object": "webhook_delivery", "status": "failed", "endpoint_id": ENDPOINT["id"], "attempts": 8,
    "failed_at": "2026-03-05T16:01:12.004Z", "event": WEBHOOK_EVENT,
}

CUSTOMER: dict[str, Any] = {"id": "cus_8xQ2mB7nK1pL4vR9sT3wY6zA", "object": "customer", "name": "Ana",
                            "email": "ana@example.com", "wallet_id": "wal_3kP9qL2mN8vB1xC7zR4tY6wE",
                            "currency": "USD", "created_at": CREATED}
WALLET: dict[str, Any] = {"id": CUSTOMER["wallet_id"], "object": "wallet", "customer_id": CUSTOMER["id"],
                          "currency": "USD", "available": 850, "held": 0, "version": 3, "created_at": CREATED}
WALLET_ENTRY: dict[str, Any] = {
    "id": "txn_0Ab3kQ9z1qW2eR3tY4uI5oP6", "object": "wallet_entry", "wallet_id": WALLET["id"], "sequence": 3,
    "type": "capture", "amount": -150, "currency": "USD", "available_after": 850, "held_after": 0,
    "payment_id": "pay_Q1w2E3r4T5y6U7i8O9p0AsDf", "order_id": None, "created_at": UPDATED,
}
TOPUP: dict[str, Any] = {"id": "top_2wE3rT4yU5iO6pA7sD8fG9hJ", "object": "topup", "wallet_id": WALLET["id"],
                         "amount": 1000, "currency": "USD", "status": "SUCCEEDED", "created_at": CREATED}
BALANCE: dict[str, Any] = {"object": "balance", "available": [{"currency": "USD", "amount": 150}],
                           "topped_up": [{"currency": "USD", "amount": 1000}],
                           "paid_to_billers": [{"currency": "USD", "amount": 300}]}

ORDER: dict[str, Any] = {
    "id": "ord_7yU8iO9pA0sD1fG2hJ3kL4zX", "object": "order", "status": "FINISHED", "customer_id": CUSTOMER["id"],
    "amount": 200, "currency": "USD", "description": "Order #2001", "payment_id": "pay_Z9x8C7v6B5n4M3l2K1j0HgFd",
    "failure": None, "version": 2, "created_at": CREATED, "updated_at": UPDATED,
}
NOTIFICATION: dict[str, Any] = {"id": "ntf_4rT5yU6iO7pA8sD9fG0hJ1kL", "object": "notification",
                                "type": "order.finished", "customer_id": CUSTOMER["id"], "order_id": ORDER["id"],
                                "message": f"Your order {ORDER['id']} of 2.00 USD was approved and paid from your "
                                           "wallet.",
                                "created_at": UPDATED}


def listing(item: dict[str, Any], url: str, has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": [item], "has_more": has_more, "url": url}


# Request bodies, by route: what a merchant sends.
CREATE_PAYMENT = {"amount": 1050, "currency": "usd", "payment_method": {"type": "card", "token": "tok_success"},
                  "description": "Order #1001", "metadata": {"order_id": "1001"}}
WALLET_PAYMENT = {"amount": 150, "currency": "USD", "payment_method": {"type": "wallet", "wallet_id": WALLET["id"]}}
BILL_PAYMENT = {**WALLET_PAYMENT, "amount": 300,
                "destination": {"service_id": "svc_electricity", "client_number": "1234567890"}}
