"""The OpenAPI document: every route of the API is in it with its models, nothing else is, and the
answers the API really gives validate against the response models it names."""

from __future__ import annotations

import json

import pytest
from lambda_harness import load_event, make_merchant

from paygate.schemas import openapi


@pytest.fixture
def api(handler_of):
    return handler_of("ApiFunction")


def get(api, path: str) -> dict:
    event = load_event("api/health.json")
    event.update(path=path, resource=path)
    event["requestContext"]["path"] = path
    event["requestContext"]["resourcePath"] = path
    return api(event)


def test_every_route_is_documented_with_its_models_and_nothing_else(api):
    answer = get(api, "/openapi.json")
    assert answer["statusCode"] == 200
    document = json.loads(answer["body"])
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == set(openapi.OPERATIONS) | {("POST", openapi.CALLBACKS_PATH)}
    callbacks = document["paths"][openapi.CALLBACKS_PATH]["post"]
    assert callbacks["security"] == [] and set(callbacks["responses"]) == {"200", "400", "401", "404", "405", "413"}
    schemas = document["components"]["schemas"]
    for (method, path), op in openapi.OPERATIONS.items():
        operation = document["paths"][path][method.lower()]
        assert operation["responses"][str(op.status)]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/" + op.answer.__name__)
        if op.body is not None:
            assert op.body.__name__ in schemas
            assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(op.body.__name__)
    refs = {r.rsplit("/", 1)[1] for r in _refs(document)}
    assert refs <= set(schemas), refs - set(schemas)
    assert document["paths"]["/health"]["get"]["security"] == []


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
        model.model_validate(body)
        return answer["statusCode"], body

    status, payment = call("api/create_payment.json", openapi.Payment)
    assert status == 202
    assert call("api/get_payment.json", openapi.Payment, pay_REPLACE=payment["id"])[0] == 200
    assert call("api/list_payments.json", openapi.PaymentList)[0] == 200
    assert call("api/list_payment_events.json", openapi.EventList, pay_REPLACE=payment["id"])[0] == 200
    status, endpoint = call("api/create_webhook_endpoint.json", openapi.WebhookEndpoint)
    assert status == 201 and endpoint["secret"]
    assert call("api/list_webhook_endpoints.json", openapi.WebhookEndpointList)[0] == 200
    assert call("api/list_failed_deliveries.json", openapi.FailedDeliveryList, we_REPLACE=endpoint["id"])[0] == 200
    assert call("api/delete_webhook_endpoint.json", openapi.DeletedWebhookEndpoint, we_REPLACE=endpoint["id"])[0] == 200
    assert call("api/get_payment.json", openapi.Error, pay_REPLACE="pay_unknown")[0] == 404


def test_every_route_of_the_api_is_an_api_event_of_the_template_and_nothing_else():
    """A route the template does not name is never reached through API Gateway (nor `paygate dev`)."""
    import re
    from pathlib import Path

    from paygate_local.template import Stack

    stack = Stack.from_file(Path(__file__).parents[2] / "template.yaml", parameter_overrides={"Mode": "dev"})
    served = {(r.method, re.sub(r"\{[^}]+\}", "{}", r.path)) for r in stack.function("ApiFunction").api_routes}
    documented = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for m, p in openapi.OPERATIONS}
    hidden = {("GET", "/openapi.json"), ("GET", "/docs")}  # served, left out of the document itself
    assert served == documented | hidden
