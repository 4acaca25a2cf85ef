"""The OpenAPI document is generated from the routes: every route of the API is in it with its models,
its answers, its errors, its group and its examples, nothing else is, it is a valid OpenAPI 3.1
document, and the answers the API really gives validate against the models it names."""

from __future__ import annotations

import json
import re
import sys
import typing
from pathlib import Path

import pytest
from lambda_harness import load_event, make_merchant
from openapi_spec_validator import validate
from pydantic import TypeAdapter

from paygate.domain.webhooks import EVENT_TYPES
from paygate.schemas import errors as e
from paygate.schemas import events as v
from paygate.schemas import openapi
from paygate.schemas import responses as r
from paygate.schemas import wallet_responses as w
from paygate.schemas.callbacks import PATH as CALLBACKS_PATH

ROOT = Path(__file__).resolve().parents[2]
HIDDEN = {("GET", "/openapi.json"), ("GET", "/docs")}  # served, left out of the document itself


@pytest.fixture
def api(handler_of):
    return handler_of("ApiFunction")


@pytest.fixture
def app(api):
    return sys.modules["handler_ApiFunction"].app


def get(api, path: str) -> dict:
    event = load_event("api/health.json")
    event.update(path=path, resource=path)
    event["requestContext"]["path"] = path
    event["requestContext"]["resourcePath"] = path
    return api(event)


def routes_of(app) -> dict[tuple[str, str], object]:
    return {(route.method, route.openapi_path): route for route in app._static_routes + app._dynamic_routes}


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


@pytest.fixture
def document(api) -> dict:
    answer = get(api, "/openapi.json")
    assert answer["statusCode"] == 200
    return json.loads(answer["body"])


def test_the_document_is_valid_openapi_3_1_and_every_reference_resolves(document):
    validate(document)
    assert document["openapi"].startswith("3.1")
    schemas = document["components"]["schemas"]
    refs = {ref.rsplit("/", 1)[1] for ref in _refs(document)}
    assert refs <= set(schemas), refs - set(schemas)
    assert not {"HTTPValidationError", "ValidationError", "ResponseValidationError"} & set(schemas)


def test_every_route_is_documented_with_its_models_and_nothing_else(app, document):
    documented = {(method, path) for method, path, _ in operations(document)}
    assert documented == (set(routes_of(app)) - HIDDEN) | {("POST", CALLBACKS_PATH)}
    callbacks = document["paths"][CALLBACKS_PATH]["post"]
    assert callbacks["security"] == [] and set(callbacks["responses"]) == {"200", "400", "401", "404", "405", "413"}
    assert document["paths"]["/health"]["get"]["security"] == []
    for (method, path), route in routes_of(app).items():
        if (method, path) in HIDDEN:
            continue
        operation = document["paths"][path][method.lower()]
        success = operation["responses"][str(route.status_code)]["content"]["application/json"]["schema"]["$ref"]
        model = route.dependant.return_param.type_
        assert success.endswith("/" + model.__name__), (method, path)
        if route.dependant.body_params:
            [body] = [t for t in typing.get_args(route.dependant.body_params[0].type_) or
                      (route.dependant.body_params[0].type_,) if t is not type(None)]
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            assert any(ref.endswith("/" + body.__name__) for ref in _refs(schema)), (method, path, schema)
            # A body that cannot be read is answered after the other parameters' errors because every body
            # model refuses unknown fields (functions/api/validation.py).
            assert body.model_config["extra"] == "forbid"


def test_every_operation_is_grouped_summarised_and_described(document):
    names = [tag["name"] for tag in document["tags"]]
    assert names == [name for name, _ in openapi.TAGS]
    assert all(tag["description"] for tag in document["tags"])
    for method, path, operation in operations(document):
        [tag] = operation["tags"]
        assert tag in names and operation["summary"] and operation["summary"] != f"{method} {path}", (method, path)
        assert operation["operationId"] and "_v1_" not in operation["operationId"]
        if path != "/health":
            assert operation.get("description"), (method, path)
    used = {operation["tags"][0] for _, _, operation in operations(document)}
    assert used == {name for name, _ in openapi.TAGS}
    # Listed group by group, in the order of the tags.
    order = [names.index(operation["tags"][0]) for _, _, operation in operations(document)]
    assert order == sorted(order)


def test_every_operation_lists_the_errors_it_can_answer_with_an_example_of_each(app, document):
    for method, path, operation in operations(document):
        answers = operation["responses"]
        assert "500" not in answers  # never documented: a 5xx is a bug
        if "422" in answers:  # paygate's idempotency_key_reused, not Powertools' validation error
            assert set(answers["422"]["content"]["application/json"]["examples"]) == {"idempotency_key_reused"}
        public = operation.get("security") == []
        assert public == (path in ("/health", CALLBACKS_PATH)), (method, path)
        if not public:
            assert "invalid_api_key" in answers["401"]["content"]["application/json"]["examples"]
            assert "parameter_unknown" in answers["400"]["content"]["application/json"]["examples"]
        params = {p["name"]: p for p in operation.get("parameters", [])}
        if "Idempotency-Key" in params:
            assert {"409", "422"} <= set(answers), (method, path)
        if "requestBody" in operation:
            assert "invalid_json" in answers["400"]["content"]["application/json"]["examples"]
            assert "413" in answers
        if any(p["in"] == "path" for p in params.values()):
            assert "404" in answers
        for status, answer in answers.items():
            if status.startswith("4"):
                for code, example in answer["content"]["application/json"]["examples"].items():
                    TypeAdapter(e.Error).validate_python(example["value"])
                    assert example["value"]["error"]["code"] == code and code in answer["description"]
    creating = [(m, p) for m, p, op in operations(document) if any(
        q["name"] == "Idempotency-Key" and q["required"] for q in op.get("parameters", []))]
    assert len(creating) == 6  # payments, refunds, webhook endpoints, customers, top-ups, orders
    route_errors = document["paths"]["/v1/payments/{payment_id}/refunds"]["post"]["responses"]
    assert "amount_too_large" in route_errors["400"]["description"] and "invalid_state" in route_errors["409"][
        "description"]


def test_public_operations_are_exactly_the_routes_that_take_no_merchant(app, document):
    from routes.common import takes_merchant

    for (method, path), route in routes_of(app).items():
        if (method, path) in HIDDEN:
            assert not takes_merchant(route)
            continue
        public = document["paths"][path][method.lower()].get("security") == []
        assert public == (not takes_merchant(route)), (method, path)


def test_webhooks_document_every_event_type_with_its_payload(document):
    webhooks = document["webhooks"]
    assert set(webhooks) == set(EVENT_TYPES)
    for event_type, item in webhooks.items():
        post = item["post"]
        body = post["requestBody"]["content"]["application/json"]
        model = {"payment": "PaymentWebhook", "refund": "RefundWebhook", "order": "OrderWebhook"}[
            event_type.partition(".")[0]]
        assert body["schema"]["$ref"].endswith("/" + model) and body["example"]["type"] == event_type
        assert {p["name"] for p in post["parameters"]} == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        assert post["summary"] and post["description"] and post["security"] == []  # signed, no API key
        TypeAdapter({"PaymentWebhook": v.PaymentWebhook, "RefundWebhook": v.RefundWebhook,
                     "OrderWebhook": v.OrderWebhook}[model]).validate_python(body["example"])


def test_request_bodies_and_answers_carry_examples(document):
    schemas = document["components"]["schemas"]
    for name in ("Payment", "Refund", "WebhookEndpointWithSecret", "Customer", "Wallet", "Order", "CreatePayment",
                 "CreateRefund", "CreateWebhookEndpoint", "CreateOrder", "Error", "PaymentWebhook"):
        assert schemas[name].get("examples"), name
    assert schemas["Payment"]["properties"]["amount"]["description"]
    assert schemas["CreatePayment"]["properties"]["currency"]["description"]
    examples = document["paths"]["/v1/payments"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == {"card", "wallet", "bill"}


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_the_docs_page_is_swagger_ui_with_the_document_inline(api):
    answer = get(api, "/docs")
    assert answer["statusCode"] == 200 and "SwaggerUIBundle" in answer["body"]
    assert '"/v1/payments"' in answer["body"]


def test_real_answers_validate_against_the_documented_models(api, aws):
    key = make_merchant(aws, "openapi")["api_key"]

    def call(name, model, **replace):
        event = load_event(name, **replace)
        event["headers"]["Authorization"] = f"Bearer {key}"
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {key}"]
        answer = api(event)
        body = json.loads(answer["body"])
        TypeAdapter(model).validate_python(body)  # no field missing, none it does not name
        return answer["statusCode"], body

    status, payment = call("api/create_payment.json", v.Payment)
    assert status == 202
    assert call("api/get_payment.json", v.Payment, pay_REPLACE=payment["id"])[0] == 200
    assert call("api/list_payments.json", r.PaymentList)[0] == 200
    assert call("api/list_payment_events.json", r.PaymentHistory, pay_REPLACE=payment["id"])[0] == 200
    status, endpoint = call("api/create_webhook_endpoint.json", r.WebhookEndpointWithSecret)
    assert status == 201 and endpoint["secret"]
    assert call("api/list_webhook_endpoints.json", r.WebhookEndpointList)[0] == 200
    assert call("api/list_failed_deliveries.json", r.FailedDeliveryList, we_REPLACE=endpoint["id"])[0] == 200
    assert call("api/delete_webhook_endpoint.json", r.DeletedWebhookEndpoint, we_REPLACE=endpoint["id"])[0] == 200
    assert call("api/get_payment.json", e.Error, pay_REPLACE="pay_unknown")[0] == 404
    status, customer = call("api/create_customer.json", w.Customer)
    assert status == 201
    assert call("api/get_balance.json", w.Balance)[0] == 200


def test_every_route_of_the_api_is_an_api_event_of_the_template_and_nothing_else(app):
    """A route the template does not name is never reached through API Gateway (nor `paygate dev`)."""
    from paygate_local.template import Stack

    stack = Stack.from_file(ROOT / "template.yaml", parameter_overrides={"Mode": "dev"})
    served = {(route.method, re.sub(r"\{[^}]+\}", "{}", route.path))
              for route in stack.function("ApiFunction").api_routes}
    routes = {(method, re.sub(r"\{[^}]+\}", "{}", path)) for method, path in routes_of(app)}
    assert served == routes
