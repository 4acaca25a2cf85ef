"""Wallets, the ledger, bill payments and orders through the real handlers on moto: the API writes,
the relay reads the table's stream, the processor runs the commands against the sandbox provider.
Every stream record and command message is kept, then all of them are handed over a second time:
nothing may move (idempotent consumers, the inbox, holds that resolve once)."""

from __future__ import annotations

import json

import boto3
import invariants
import pytest
from lambda_harness import receive_all, sqs_event, stream_event
from test_pipeline_handlers import Pipeline, api_call

from paygate.adapters.dynamodb.payments import is_payment_item
from sandbox_provider import SandboxProvider


@pytest.fixture
def sandbox():
    with SandboxProvider(timeout_delay=0.5) as provider:
        yield provider


class Recorded(Pipeline):
    """The pipeline run to quiet, keeping what each consumer was handed."""

    def __init__(self, *args):
        super().__init__(*args)
        self.records: list[dict] = []
        self.commands: list[dict] = []

    def settle(self, rounds: int = 30) -> None:
        for _ in range(rounds):
            records = stream_event(self.table)["Records"][self.relayed:]
            self.relayed += len(records)
            if records:
                self.records += records
                assert self.relay({"Records": records}) == {"batchItemFailures": []}
            commands, result = self.run(self.processor, self.commands_url)
            self.commands += commands
            if result:
                assert result == {"batchItemFailures": []}, result
            receive_all(self.webhooks_url)  # webhooks are not what this test is about
            if not records and not commands:
                return
        raise AssertionError("the pipeline never went quiet")


@pytest.fixture
def pipe(aws, handler_of, sandbox):
    return Recorded(aws, handler_of, sandbox)


def post(pipe, merchant, name, body, idem, **replace):
    return api_call(pipe.api, name, merchant["api_key"], body=body, idem=idem, **replace)


def get(pipe, merchant, name, **replace):
    return api_call(pipe.api, name, merchant["api_key"], **replace)


def customer_with(pipe, merchant, amount: int, name="Ana") -> dict:
    customer = post(pipe, merchant, "api/create_customer.json", {"name": name}, f"cus-{name}")
    if amount:
        post(pipe, merchant, "api/create_topup.json", {"amount": amount}, f"top-{name}",
             wal_REPLACE=customer["wallet_id"])
    return customer


def wallet(pipe, merchant, customer) -> dict:
    return get(pipe, merchant, "api/get_wallet.json", wal_REPLACE=customer["wallet_id"])


def wallet_payment(pipe, merchant, customer, amount, idem, destination=None) -> dict:
    body = {"amount": amount, "currency": "USD", "payment_method": {"type": "wallet", "wallet_id": customer["wallet_id"]}}
    if destination:
        body["destination"] = destination
    return post(pipe, merchant, "api/create_payment.json", body, idem)


def payment(pipe, merchant, payment_id) -> dict:
    return get(pipe, merchant, "api/get_payment.json", pay_REPLACE=payment_id)


def state(pipe) -> list[dict]:
    """Everything the aggregates table holds, as it must stay when messages come again."""
    return sorted(invariants.scan(boto3.client("dynamodb"), pipe.table), key=lambda i: (i["pk"], i["sk"]))


def test_wallet_payments_bills_orders_and_refunds_then_every_message_again_changes_nothing(pipe, merchant, sandbox):
    ana = customer_with(pipe, merchant, 1000)
    assert wallet(pipe, merchant, ana)["available"] == 1000
    paid = wallet_payment(pipe, merchant, ana, 300, "p1")
    short = wallet_payment(pipe, merchant, ana, 5000, "p2")
    bill = wallet_payment(pipe, merchant, ana, 200, "p3", {"service_id": "svc_water", "client_number": "42"})
    declined = wallet_payment(pipe, merchant, ana, 100, "p4", {"service_id": "svc_phone", "client_number": "0000000000"})
    pipe.settle()
    assert payment(pipe, merchant, paid["id"])["status"] == "COMPLETED"
    assert payment(pipe, merchant, short["id"])["failure"]["code"] == "insufficient_funds"
    assert payment(pipe, merchant, bill["id"])["status"] == "COMPLETED"
    assert payment(pipe, merchant, declined["id"])["failure"]["code"] == "biller_declined"
    assert len(sandbox.bill_payments_for(bill["id"])) == 1
    assert {k: wallet(pipe, merchant, ana)[k] for k in ("available", "held")} == {"available": 500, "held": 0}

    order = post(pipe, merchant, "api/create_order.json", {"customer_id": ana["id"], "amount": 150}, "o1")
    too_big = post(pipe, merchant, "api/create_order.json", {"customer_id": ana["id"], "amount": 9000}, "o2")
    assert order["status"] == "NEW" and order["payment_id"] is None
    pipe.settle()
    finished = get(pipe, merchant, "api/get_order.json", ord_REPLACE=order["id"])
    canceled = get(pipe, merchant, "api/get_order.json", ord_REPLACE=too_big["id"])
    assert finished["status"] == "FINISHED" and finished["payment_id"].startswith("pay_")
    assert canceled["status"] == "CANCELED" and canceled["failure"]["code"] == "insufficient_funds"
    notes = get(pipe, merchant, "api/list_notifications.json", cus_REPLACE=ana["id"])["data"]
    assert sorted(n["type"] for n in notes) == ["order.canceled", "order.finished"]

    event = {"path": f"/v1/payments/{paid['id']}/refunds", "resource": "/v1/payments/{id}/refunds"}
    refund = post_path(pipe, merchant, event, {"amount": 100}, "r2")
    assert refund["status"] == "PENDING", refund
    pipe.settle()
    assert {k: wallet(pipe, merchant, ana)[k] for k in ("available", "held")} == {"available": 450, "held": 0}
    balance = get(pipe, merchant, "api/get_balance.json")
    assert balance["available"] == [{"currency": "USD", "amount": 300 - 100 + 150}]
    assert balance["paid_to_billers"] == [{"currency": "USD", "amount": 200}]
    invariants.check_ledger(state(pipe))

    # Every stream record and every command a second time, as at-least-once delivery may hand them over.
    before = state(pipe)
    assert pipe.relay({"Records": pipe.records}) == {"batchItemFailures": []}
    commands_arn = pipe.arn(pipe.commands_url)
    for message in pipe.commands:
        assert pipe.processor(sqs_event([message], commands_arn)) == {"batchItemFailures": []}
    pipe.settle()
    assert state(pipe) == before
    assert len(sandbox.bill_payments_for(bill["id"])) == 1


def post_path(pipe, merchant, where, body, idem):
    from lambda_harness import load_event

    event = load_event("api/create_payment.json")
    event.update(where)
    event["headers"].update({"Authorization": f"Bearer {merchant['api_key']}", "Idempotency-Key": idem})
    event["body"] = json.dumps(body)
    return json.loads(pipe.api(event)["body"])


def test_an_order_task_delivered_twice_makes_one_payment(pipe, merchant):
    ana = customer_with(pipe, merchant, 500)
    order = post(pipe, merchant, "api/create_order.json", {"customer_id": ana["id"], "amount": 200}, "o1")
    records = stream_event(pipe.table)["Records"][pipe.relayed:]
    pipe.relayed += len(records)
    assert pipe.relay({"Records": records}) == {"batchItemFailures": []}
    [task] = receive_all(pipe.commands_url)
    assert json.loads(task["Body"])["type"] == "order.pay" and task["Attributes"]["MessageGroupId"] == order["id"]
    arn = pipe.arn(pipe.commands_url)
    for _ in range(3):  # the same task, three deliveries (a redelivery after a lost acknowledgement)
        assert pipe.processor(sqs_event([task], arn)) == {"batchItemFailures": []}
    pipe.sqs.delete_message(QueueUrl=pipe.commands_url, ReceiptHandle=task["ReceiptHandle"])  # as Lambda would
    pipe.settle()
    assert get(pipe, merchant, "api/get_order.json", ord_REPLACE=order["id"])["status"] == "FINISHED"
    payments = [i for i in state(pipe) if is_payment_item(i) and i.get("order_id") == order["id"]]
    assert len(payments) == 1
    assert wallet(pipe, merchant, ana)["available"] == 300
    entries = get(pipe, merchant, "api/list_wallet_entries.json", wal_REPLACE=ana["wallet_id"])["data"]
    assert [e["type"] for e in entries] == ["capture", "hold", "topup"]
    assert [e["sequence"] for e in entries] == [3, 2, 1]
