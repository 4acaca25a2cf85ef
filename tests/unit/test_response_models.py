"""One model per object: the examples the document shows are what the models take, the API's
serialization (pydantic, through Powertools) and the relay's (dataclasses.asdict) give the same JSON,
and a function that only relays never loads pydantic."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, TypeAdapter

from paygate.domain.methods import CardMethod
from paygate.domain.payment import EventType, Failed, Failure, Payment, PaymentEvent, PaymentStatus
from paygate.schemas import callbacks, errors, events, requests, responses, wallet_responses
from paygate.schemas.events import PaymentWebhook, to_json

ROOT = Path(__file__).resolve().parents[2]
ALL = [m for module in (events, errors, responses, wallet_responses, callbacks) for m in vars(module).values()
       if dataclasses.is_dataclass(m) and isinstance(m, type) and m.__module__ == module.__name__]
REQUESTS = [m for m in vars(requests).values()
            if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == requests.__name__]


def example_of(model: type) -> dict | None:
    examples = TypeAdapter(model).json_schema(mode="serialization").get("examples")
    return examples[0] if examples else None


EXAMPLES = [(m, example_of(m)) for m in ALL if example_of(m) is not None]


def test_every_object_merchants_get_has_an_example():
    shown = {m.__name__ for m, _ in EXAMPLES}
    assert {"Payment", "Refund", "Event", "PaymentWebhook", "RefundWebhook", "OrderWebhook", "WebhookEndpoint",
            "WebhookEndpointWithSecret", "DeliveryAttempt", "FailedDelivery", "Error", "Customer", "Wallet",
            "WalletEntry", "Topup", "Balance", "Order", "Notification", "PaymentList"} <= shown


@pytest.mark.parametrize("model, example", EXAMPLES, ids=lambda m: getattr(m, "__name__", ""))
def test_each_example_is_what_its_model_answers_and_both_serializations_agree(model, example):
    adapter = TypeAdapter(model)
    instance = adapter.validate_python(example)  # extra fields forbidden: the example names no field too many
    assert adapter.dump_python(instance, mode="json") == example
    assert to_json(instance) == example


@pytest.mark.parametrize("model", REQUESTS, ids=lambda m: m.__name__)
def test_each_request_example_is_a_valid_request(model):
    for example in model.model_json_schema().get("examples", []):
        model.model_validate(example)


def test_every_field_of_a_response_model_is_described_or_self_explanatory():
    schema = TypeAdapter(events.Payment).json_schema(mode="serialization")
    described = {name for name, prop in schema["properties"].items() if prop.get("description")}
    assert {"id", "status", "amount", "version", "failure", "amount_refunded"} <= described
    assert schema["additionalProperties"] is False and schema["description"].startswith("A payment.")


def test_a_webhook_body_is_the_payment_model_after_the_event():
    payment = Payment(id="pay_1", merchant_id="mer_1", amount=1050, currency="USD",
                      payment_method=CardMethod("tok_decline"), status=PaymentStatus.FAILED,
                      version=3, created_at="2026-01-01T00:00:00.000Z", updated_at="2026-01-01T00:00:01.000Z",
                      failure=Failure("card_declined", "declined"))
    event = PaymentEvent(event_id="evt_1", type=EventType.FAILED, payment_id="pay_1", sequence=3,
                         occurred_at="2026-01-01T00:00:01.000Z", payload=Failed(Failure("card_declined", "declined")))
    body = to_json(PaymentWebhook.of(event, payment))
    assert body == TypeAdapter(PaymentWebhook).dump_python(PaymentWebhook.of(event, payment), mode="json")
    assert body["type"] == "payment.failed" and body["data"]["object"]["status"] == "FAILED"
    assert body["data"]["object"]["failure"] == {"code": "card_declined", "message": "declined"}
    assert "merchant_id" not in body["data"]["object"]  # a database field never leaks


def test_the_functions_that_only_relay_or_deliver_never_load_pydantic():
    probe = ("import sys; import paygate.services.relay, paygate.services.webhooks.delivery; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT / "layers" / "core"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
