"""Customers, wallets, bill payments and orders end to end over HTTP on `paygate dev` (moto, and
LocalStack with PAYGATE_E2E_BACKEND=localstack): the API, the stream, the relay, the FIFO commands, the
processor, the sandbox's billers and signed webhooks, all real."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import httpx
import invariants
from gateway_client import Client, new_merchant
from polling import wait_for
from test_dlq import ROOT, clients
from test_lifecycle import FINAL, register, verified

from paygate.adapters.dynamodb.items import dump, load, state_key
from paygate.schemas.messages import Command
from paygate_local.devfile import DeployInfo
from paygate_local.template import Stack


def resources(info) -> tuple[str, str]:
    """The aggregates table's name and the commands queue's URL: as paygate dev names them, or as the
    stack deployed into MiniStack (make test-ministack) reports them."""
    if isinstance(info, DeployInfo):
        kwargs = {"endpoint_url": info.aws_endpoint_url, "region_name": info.region,
                  "aws_access_key_id": "test", "aws_secret_access_key": "test"}
        [stack] = boto3.client("cloudformation", **kwargs).describe_stacks(StackName=info.stack_name)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        return outputs["AggregatesTableName"], outputs["CommandsQueueUrl"]
    stack = Stack.from_file(ROOT / "template.yaml", parameter_overrides={"Mode": "dev"})
    tables = {t.logical_id: t.name for t in stack.tables()}
    queues = {q.logical_id: q.name for q in stack.queues()}
    _, _, sqs = clients(info)
    return tables["AggregatesTable"], sqs.get_queue_url(QueueName=queues["CommandsQueue"])["QueueUrl"]


def customer(client: Client, name: str = "Ana", topup: int = 0, currency: str = "USD") -> dict:
    response = client.post("/v1/customers", {"name": name, "email": "ana@example.com", "currency": currency})
    assert response.status_code == 201, response.text
    found = response.json()
    if topup:
        assert client.post(f"/v1/wallets/{found['wallet_id']}/topups", {"amount": topup}).status_code == 201
    return found


def wallet(client: Client, found: dict) -> dict:
    response = client.get(f"/v1/wallets/{found['wallet_id']}")
    assert response.status_code == 200, response.text
    return response.json()


def pay_from(client: Client, found: dict, amount: int, destination: dict | None = None) -> dict:
    body = {"amount": amount, "currency": "USD", "payment_method": {"type": "wallet", "wallet_id": found["wallet_id"]}}
    if destination:
        body["destination"] = destination
    response = client.post("/v1/payments", body)
    assert response.status_code == 202, response.text
    return response.json()


def entries(client: Client, found: dict) -> list[dict]:
    return client.get(f"/v1/wallets/{found['wallet_id']}/entries", params={"limit": 100}).json()["data"]


def order_of(client: Client, order_id: str, statuses=("FINISHED", "CANCELED")) -> dict:
    def final():
        found = client.get(f"/v1/orders/{order_id}").json()
        return found if found["status"] in statuses else None
    return wait_for(final, 60, f"order {order_id} to finish or be canceled")


def test_registration_creates_the_customer_and_its_wallet_together(merchant):
    response = merchant.post("/v1/customers", {"name": "Ana", "email": "ana@example.com"}, key="register-ana")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("cus_") and body["wallet_id"].startswith("wal_") and body["currency"] == "USD"
    assert response.headers["Location"] == f"/v1/customers/{body['id']}"
    again = merchant.post("/v1/customers", {"name": "Ana", "email": "ana@example.com"}, key="register-ana")
    assert again.json() == body and again.headers["Idempotent-Replayed"] == "true"
    assert merchant.get(f"/v1/customers/{body['id']}").json() == body
    assert {k: wallet(merchant, body)[k] for k in ("object", "customer_id", "currency", "available", "held")} == {
        "object": "wallet", "customer_id": body["id"], "currency": "USD", "available": 0, "held": 0}
    bad = merchant.post("/v1/customers", {"name": "", "currency": "XXX"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] in ("name", "currency")


def test_a_topup_replayed_credits_once(merchant):
    ana = customer(merchant)
    first = merchant.post(f"/v1/wallets/{ana['wallet_id']}/topups", {"amount": 1000}, key="topup-1")
    again = merchant.post(f"/v1/wallets/{ana['wallet_id']}/topups", {"amount": 1000}, key="topup-1")
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["status"] == "SUCCEEDED" and first.json()["id"].startswith("top_")
    reused = merchant.post(f"/v1/wallets/{ana['wallet_id']}/topups", {"amount": 999}, key="topup-1")
    assert reused.status_code == 422
    assert wallet(merchant, ana)["available"] == 1000
    assert [(e["type"], e["amount"], e["available_after"]) for e in entries(merchant, ana)] == [("topup", 1000, 1000)]
    assert merchant.get("/v1/balance").json()["topped_up"] == [{"currency": "USD", "amount": 1000}]


def test_twelve_concurrent_payments_of_150_on_1000_give_six_completed_and_six_refused(merchant):
    ana = customer(merchant, topup=1000)
    with ThreadPoolExecutor(12) as pool:
        payments = list(pool.map(lambda _: pay_from(merchant, ana, 150), range(12)))
    done = [merchant.wait_status(p["id"], FINAL, timeout=90) for p in payments]
    statuses = sorted((d["status"], (d["failure"] or {}).get("code")) for d in done)
    assert statuses == [("COMPLETED", None)] * 6 + [("FAILED", "insufficient_funds")] * 6
    assert {k: wallet(merchant, ana)[k] for k in ("available", "held")} == {"available": 100, "held": 0}
    kinds = sorted(e["type"] for e in entries(merchant, ana))
    assert kinds == ["capture"] * 6 + ["hold"] * 6 + ["topup"]  # the refused ones held nothing
    assert merchant.get("/v1/balance").json()["available"] == [{"currency": "USD", "amount": 900}]


def test_a_wallet_payment_refunded_goes_back_to_the_wallet(merchant):
    ana = customer(merchant, topup=500)
    payment = pay_from(merchant, ana, 400)
    assert merchant.wait_status(payment["id"], FINAL)["status"] == "COMPLETED"
    refund = merchant.post(f"/v1/payments/{payment['id']}/refunds", {"amount": 150})
    assert refund.status_code == 202, refund.text
    wait_for(lambda: merchant.get(f"/v1/refunds/{refund.json()['id']}").json()["status"] == "SUCCEEDED", 60,
             "the refund")
    assert wallet(merchant, ana)["available"] == 250
    assert merchant.get(f"/v1/payments/{payment['id']}").json()["amount_refunded"] == 150
    assert entries(merchant, ana)[0]["type"] == "refund" and entries(merchant, ana)[0]["amount"] == 150
    assert merchant.get("/v1/balance").json()["available"] == [{"currency": "USD", "amount": 250}]


def test_bill_payments_approved_and_declined_with_the_hold_released(merchant, info):
    ana = customer(merchant, topup=1000)
    approved = pay_from(merchant, ana, 300, {"service_id": "svc_electricity", "client_number": "1234567890"})
    declined = pay_from(merchant, ana, 200, {"service_id": "svc_water", "client_number": "0000000000"})
    assert merchant.wait_status(approved["id"], FINAL)["status"] == "COMPLETED"
    failed = merchant.wait_status(declined["id"], FINAL)
    assert (failed["status"], failed["failure"]["code"]) == ("FAILED", "biller_declined")
    assert {k: wallet(merchant, ana)[k] for k in ("available", "held")} == {"available": 700, "held": 0}
    kinds = [e["type"] for e in entries(merchant, ana) if e["payment_id"] == declined["id"]]
    assert kinds == ["release", "hold"]
    bills = httpx.get(f"{info.provider_url}/bill_payments", params={"reference": approved["id"]}).json()
    assert bills["count"] == 1 and bills["data"][0]["service_id"] == "svc_electricity"
    balance = merchant.get("/v1/balance").json()
    assert balance["paid_to_billers"] == [{"currency": "USD", "amount": 300}] and balance["available"] == []
    unknown = merchant.post("/v1/payments", {"amount": 10, "currency": "USD",
                                             "payment_method": {"type": "wallet", "wallet_id": ana["wallet_id"]},
                                             "destination": {"service_id": "svc_gas", "client_number": "1"}})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_service"
    by_card = merchant.post("/v1/payments", {"amount": 10, "currency": "USD",
                                             "payment_method": {"type": "card", "token": "tok_success"},
                                             "destination": {"service_id": "svc_water", "client_number": "1"}})
    assert by_card.status_code == 400 and by_card.json()["error"]["param"] == "destination"


def test_an_order_paid_and_one_declined_each_with_its_notification_and_webhook(merchant, receiver):
    endpoint = register(merchant, receiver.url, ["order.finished", "order.canceled"])
    ana = customer(merchant, topup=500)
    paid = merchant.post("/v1/orders", {"customer_id": ana["id"], "amount": 300, "description": "Order #1"})
    declined = merchant.post("/v1/orders", {"customer_id": ana["id"], "amount": 900})
    assert paid.status_code == declined.status_code == 202, paid.text
    assert paid.json()["status"] == "NEW" and paid.json()["payment_id"] is None
    finished, canceled = order_of(merchant, paid.json()["id"]), order_of(merchant, declined.json()["id"])
    assert finished["status"] == "FINISHED" and finished["payment_id"].startswith("pay_")
    assert merchant.get(f"/v1/payments/{finished['payment_id']}").json()["order_id"] == finished["id"]
    assert (canceled["status"], canceled["failure"]["code"]) == ("CANCELED", "insufficient_funds")
    assert wallet(merchant, ana)["available"] == 200
    notes = merchant.get(f"/v1/customers/{ana['id']}/notifications").json()["data"]
    assert sorted((n["type"], n["order_id"]) for n in notes) == sorted(
        [("order.finished", finished["id"]), ("order.canceled", canceled["id"])])
    assert all(n["id"].startswith("ntf_") and n["message"] for n in notes)
    assert verified(receiver, endpoint, "order.finished", finished["id"])["data"]["object"]["status"] == "FINISHED"
    assert verified(receiver, endpoint, "order.canceled", canceled["id"])["data"]["object"]["status"] == "CANCELED"
    listed = merchant.get("/v1/orders", params={"customer_id": ana["id"]}).json()["data"]
    assert {o["id"] for o in listed} == {finished["id"], canceled["id"]}


def test_a_redelivered_order_task_makes_no_second_payment(merchant, info):
    ana = customer(merchant, topup=500)
    order = merchant.post("/v1/orders", {"customer_id": ana["id"], "amount": 200}).json()
    done = order_of(merchant, order["id"])
    assert done["status"] == "FINISHED"
    # The task again, as SQS would hand it over after a lost acknowledgement (a new deduplication id).
    ddb, _, sqs = clients(info)
    table, queue = resources(info)
    item = load(ddb.get_item(TableName=table, Key=dump(state_key(order["id"])), ConsistentRead=True)["Item"])
    task = Command(type="order.pay", payment_id=item["payment_id"], expected_version=1, event_id=item["events"][0]["id"],
                   order_id=order["id"])
    for n in range(2):
        sqs.send_message(QueueUrl=queue, MessageBody=task.to_json(), MessageGroupId=order["id"],
                         MessageDeduplicationId=f"again-{n}-{uuid.uuid4().hex}")
    wait_for(lambda: int(sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessages"]) == 0, 30, "the redelivered tasks to be consumed")
    inbox = load(ddb.get_item(TableName=table, Key=dump(state_key(f"INBOX#{order['id']}")),
                                 ConsistentRead=True)["Item"])
    assert inbox["payment_id"] == done["payment_id"]
    assert wallet(merchant, ana)["available"] == 300
    assert [e["type"] for e in entries(merchant, ana)] == ["capture", "hold", "topup"]


def test_another_merchants_customers_wallets_and_orders_are_not_found(merchant, info):
    ana = customer(merchant, topup=100)
    order = merchant.post("/v1/orders", {"customer_id": ana["id"], "amount": 50}).json()
    other = Client(info.api_url, new_merchant(info, f"other-{uuid.uuid4().hex[:6]}")["api_key"])
    for response in (other.get(f"/v1/customers/{ana['id']}"), other.get(f"/v1/wallets/{ana['wallet_id']}"),
                     other.post(f"/v1/wallets/{ana['wallet_id']}/topups", {"amount": 5}),
                     other.get(f"/v1/orders/{order['id']}"), other.get(f"/v1/customers/{ana['id']}/notifications")):
        assert response.status_code == 404 and response.json()["error"]["code"] == "resource_missing"
    for response in (other.post("/v1/orders", {"customer_id": ana["id"], "amount": 5}),
                     other.post("/v1/payments", {"amount": 5, "currency": "USD",
                                                 "payment_method": {"type": "wallet", "wallet_id": ana["wallet_id"]}})):
        assert response.status_code == 400, response.text
    assert wallet(merchant, ana)["available"] in (50, 100)


def test_the_ledger_sums_to_zero_and_every_aggregate_agrees_with_its_events(merchant, info):
    """Last in the module: over everything this gateway moved, per currency the accounts sum to zero."""
    ana = customer(merchant, topup=300)
    merchant.wait_status(pay_from(merchant, ana, 100)["id"], FINAL)
    ddb, _, _ = clients(info)
    items = invariants.scan(ddb, resources(info)[0])
    invariants.check(items)
    invariants.check_ledger(items)
