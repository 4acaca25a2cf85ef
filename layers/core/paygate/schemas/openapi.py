"""The OpenAPI document of the merchant API: its paths and operations come from the API's routes
(Powertools generates them from the resolver), its request and response models from here.

``OPERATIONS`` names, for each route, the model of its body, its answer and its errors; a test checks
that every route has an entry and every entry a route, so the document cannot drift from the API.
The response models describe what ``paygate.schemas.responses`` writes (a test validates real answers
against them); the request models are the ones the API validates with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from paygate.schemas.requests import (
    CancelPayment,
    CreateCustomer,
    CreateOrder,
    CreatePayment,
    CreateRefund,
    CreateTopup,
    CreateWebhookEndpoint,
    ListDeliveriesQuery,
    ListEntriesQuery,
    ListEventsQuery,
    ListNotificationsQuery,
    ListOrdersQuery,
    ListPaymentsQuery,
    Redeliver,
)

TITLE = "paygate"
VERSION = "1"
REF = "#/components/schemas/{model}"


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Failure(_Out):
    code: str
    message: str


class Payment(_Out):
    id: str
    object: Literal["payment"]
    status: Literal["NEW", "PROCESSING", "COMPLETED", "FAILED", "CANCELED"]
    amount: int
    currency: str
    payment_method: dict[str, Any]
    description: str | None
    metadata: dict[str, str]
    customer_id: str | None
    destination: dict[str, str] | None
    order_id: str | None
    failure: Failure | None
    amount_refunded: int
    cancel_requested: bool
    version: int
    created_at: str
    updated_at: str


class EventData(_Out):
    object: dict[str, Any]


class Event(_Out):
    id: str
    object: Literal["event"]
    type: str
    sequence: int
    created_at: str
    data: EventData


class Refund(_Out):
    id: str
    object: Literal["refund"]
    payment_id: str
    amount: int
    currency: str
    status: Literal["PENDING", "SUCCEEDED", "FAILED"]
    failure: Failure | None
    version: int
    created_at: str
    updated_at: str


class WebhookEndpoint(_Out):
    id: str
    object: Literal["webhook_endpoint"]
    url: str
    enabled_events: list[str]
    description: str | None
    status: str
    created_at: str
    secret: str | None = None  # only in the answer that creates it


class DeletedWebhookEndpoint(_Out):
    id: str
    object: Literal["webhook_endpoint"]
    deleted: bool


class WebhookEnvelope(_Out):
    id: str
    type: str
    created_at: str
    data: EventData


class FailedDelivery(_Out):
    object: Literal["webhook_delivery"]
    status: Literal["failed"]
    endpoint_id: str
    attempts: int
    failed_at: str
    event: WebhookEnvelope


class DeliveryAttempt(_Out):
    id: str
    object: Literal["delivery_attempt"]
    endpoint_id: str
    event_id: str
    event_type: str
    attempt: int
    delivered: bool
    status_code: int | None
    error: str | None
    at: str
    next_attempt_at: str | None


class Customer(_Out):
    id: str
    object: Literal["customer"]
    name: str
    email: str | None
    wallet_id: str
    currency: str
    created_at: str


class Wallet(_Out):
    id: str
    object: Literal["wallet"]
    customer_id: str
    currency: str
    available: int
    held: int
    version: int
    created_at: str


class WalletEntry(_Out):
    id: str
    object: Literal["wallet_entry"]
    wallet_id: str
    sequence: int
    type: Literal["topup", "hold", "capture", "release", "refund"]
    amount: int  # signed, from the customer's side
    currency: str
    available_after: int
    held_after: int
    payment_id: str | None
    order_id: str | None
    created_at: str


class Topup(_Out):
    id: str
    object: Literal["topup"]
    wallet_id: str
    amount: int
    currency: str
    status: Literal["SUCCEEDED"]
    created_at: str


class CurrencyAmount(_Out):
    currency: str
    amount: int


class Balance(_Out):
    object: Literal["balance"]
    available: list[CurrencyAmount]  # captured wallet payments less their refunds
    topped_up: list[CurrencyAmount]  # brought in by top-ups
    paid_to_billers: list[CurrencyAmount]


class Order(_Out):
    id: str
    object: Literal["order"]
    status: Literal["NEW", "FINISHED", "CANCELED"]
    customer_id: str
    amount: int
    currency: str
    description: str | None
    payment_id: str | None
    failure: Failure | None
    version: int
    created_at: str
    updated_at: str


class Notification(_Out):
    id: str
    object: Literal["notification"]
    type: Literal["order.finished", "order.canceled"]
    customer_id: str
    order_id: str
    message: str
    created_at: str


class _List(_Out):
    object: Literal["list"]
    has_more: bool
    url: str


class PaymentList(_List):
    data: list[Payment]


class EventList(_List):
    data: list[Event]


class RefundList(_List):
    data: list[Refund]


class WebhookEndpointList(_List):
    data: list[WebhookEndpoint]


class FailedDeliveryList(_List):
    data: list[FailedDelivery]


class WebhookEnvelopeList(_List):
    data: list[WebhookEnvelope]


class DeliveryAttemptList(_List):
    data: list[DeliveryAttempt]


class WalletEntryList(_List):
    data: list[WalletEntry]


class OrderList(_List):
    data: list[Order]


class NotificationList(_List):
    data: list[Notification]


class CallbackData(BaseModel):
    reference: str  # the payment id the charge was made for


class ProviderCallback(BaseModel):
    """What the sandbox provider posts (other providers: their own shape, under their own name)."""

    id: str
    type: str  # e.g. charge.succeeded; types other than charge.* are acknowledged and ignored
    data: CallbackData


class CallbackReceived(_Out):
    received: Literal[True]
    id: str


class ErrorDetail(_Out):
    type: str
    code: str
    message: str
    param: str | None


class Error(_Out):
    error: ErrorDetail


class Health(_Out):
    status: Literal["ok"]


# Every answer may also be one of these (bad input, bad key, unknown id or route, body too large).
COMMON_ERRORS = (400, 401, 404, 405, 413)


@dataclass(frozen=True)
class Operation:
    status: int
    answer: type[BaseModel]
    body: type[BaseModel] | None = None
    body_required: bool = True
    idempotency_key: Literal["required", "optional", None] = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = COMMON_ERRORS
    public: bool = False  # no API key
    extra: dict[str, Any] = field(default_factory=dict)


CREATING_ERRORS = COMMON_ERRORS + (409, 422)

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/health"): Operation(200, Health, errors=(), public=True),
    ("POST", "/v1/payments"): Operation(202, Payment, CreatePayment, idempotency_key="required",
                                        errors=CREATING_ERRORS),
    ("GET", "/v1/payments"): Operation(200, PaymentList, query=ListPaymentsQuery),
    ("GET", "/v1/payments/{payment_id}"): Operation(200, Payment),
    ("GET", "/v1/payments/{payment_id}/events"): Operation(200, EventList),
    ("POST", "/v1/payments/{payment_id}/cancel"): Operation(202, Payment, CancelPayment, body_required=False,
                                                            idempotency_key="optional", errors=CREATING_ERRORS),
    ("POST", "/v1/payments/{payment_id}/refunds"): Operation(202, Refund, CreateRefund, body_required=False,
                                                             idempotency_key="required", errors=CREATING_ERRORS),
    ("GET", "/v1/payments/{payment_id}/refunds"): Operation(200, RefundList),
    ("GET", "/v1/refunds/{refund_id}"): Operation(200, Refund),
    ("POST", "/v1/webhook_endpoints"): Operation(201, WebhookEndpoint, CreateWebhookEndpoint,
                                                 idempotency_key="required", errors=CREATING_ERRORS),
    ("GET", "/v1/webhook_endpoints"): Operation(200, WebhookEndpointList),
    ("DELETE", "/v1/webhook_endpoints/{endpoint_id}"): Operation(200, DeletedWebhookEndpoint),
    ("GET", "/v1/webhook_endpoints/{endpoint_id}/failed_deliveries"): Operation(200, FailedDeliveryList),
    ("POST", "/v1/webhook_endpoints/{endpoint_id}/rotate_secret"): Operation(200, WebhookEndpoint),
    ("GET", "/v1/webhook_endpoints/{endpoint_id}/deliveries"): Operation(200, DeliveryAttemptList,
                                                                         query=ListDeliveriesQuery),
    ("POST", "/v1/webhook_endpoints/{endpoint_id}/redeliver"): Operation(202, WebhookEnvelope, Redeliver),
    ("GET", "/v1/events"): Operation(200, WebhookEnvelopeList, query=ListEventsQuery),
    ("GET", "/v1/events/{event_id}"): Operation(200, WebhookEnvelope),
    ("POST", "/v1/customers"): Operation(201, Customer, CreateCustomer, idempotency_key="required",
                                         errors=CREATING_ERRORS),
    ("GET", "/v1/customers/{customer_id}"): Operation(200, Customer),
    ("GET", "/v1/customers/{customer_id}/notifications"): Operation(200, NotificationList,
                                                                    query=ListNotificationsQuery),
    ("GET", "/v1/wallets/{wallet_id}"): Operation(200, Wallet),
    ("POST", "/v1/wallets/{wallet_id}/topups"): Operation(201, Topup, CreateTopup, idempotency_key="required",
                                                          errors=CREATING_ERRORS),
    ("GET", "/v1/wallets/{wallet_id}/entries"): Operation(200, WalletEntryList, query=ListEntriesQuery),
    ("GET", "/v1/balance"): Operation(200, Balance),
    ("POST", "/v1/orders"): Operation(202, Order, CreateOrder, idempotency_key="required", errors=CREATING_ERRORS),
    ("GET", "/v1/orders"): Operation(200, OrderList, query=ListOrdersQuery),
    ("GET", "/v1/orders/{order_id}"): Operation(200, Order),
}

# Served by another function (CallbacksFunction) behind the same API: described here by hand.
CALLBACKS_PATH = "/callbacks/{provider}"
CALLBACKS_ERRORS = (400, 401, 404, 405, 413)

ERROR_DESCRIPTIONS = {
    400: "Invalid request (malformed JSON, unknown or invalid field or query parameter, missing Idempotency-Key)",
    401: "Missing or bad API key (on /callbacks: a signature that does not verify, or is too old)",
    404: "Unknown id, another merchant's object, or no such route",
    405: "Method not allowed on this path",
    409: "invalid_state, or idempotency_key_in_use",
    413: "Body larger than 64 KiB",
    422: "idempotency_key_reused: the same key with a different request",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _add_model(components: dict[str, Any], model: type[BaseModel], mode: Literal["validation", "serialization"]) -> None:
    schema = model.model_json_schema(ref_template=REF, mode=mode)
    for name, nested in schema.pop("$defs", {}).items():
        components.setdefault(name, nested)
    components[model.__name__] = schema


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()]


def _add_callbacks(document: dict[str, Any], components: dict[str, Any]) -> None:
    """`POST /callbacks/{provider}`: the provider's asynchronous result, signed by the provider, no API key."""
    for model in (CallbackReceived, Error):
        _add_model(components, model, "serialization")
    _add_model(components, ProviderCallback, "validation")
    responses = {"200": _json(_ref(CallbackReceived), "Accepted: the payment is settled from the provider's records")}
    responses.update({str(s): _json(_ref(Error), ERROR_DESCRIPTIONS[s]) for s in CALLBACKS_ERRORS})
    document.setdefault("paths", {})[CALLBACKS_PATH] = {"post": {
        "summary": "A provider's callback",
        "operationId": "provider_callback",
        "security": [],
        "parameters": [
            {"name": "provider", "in": "path", "required": True, "schema": {"type": "string", "enum": ["sandbox"]}},
            {"name": "Sandbox-Signature", "in": "header", "required": True,
             "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<body>')>",
             "schema": {"type": "string"}},
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(ProviderCallback)}}},
        "responses": responses,
    }}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Powertools' document of the routes, with the models, parameters and answers of ``OPERATIONS``."""
    components: dict[str, Any] = {}
    for (method, path), op in OPERATIONS.items():
        operation = document.get("paths", {}).get(path, {}).get(method.lower())
        if operation is None:
            continue  # the route is gone: the drift test says so
        _add_model(components, op.answer, "serialization")
        responses = {str(op.status): _json(_ref(op.answer), "Success")}
        if op.errors:
            _add_model(components, Error, "serialization")
        for status in op.errors:
            responses[str(status)] = _json(_ref(Error), ERROR_DESCRIPTIONS[status])
        operation["responses"] = responses
        parameters = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
        for p in parameters:
            p["schema"] = {"type": "string", "minLength": 1, "maxLength": 64}
        if op.idempotency_key:
            parameters.append({"name": "Idempotency-Key", "in": "header", "required": op.idempotency_key == "required",
                               "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
        if op.query is not None:
            parameters += _query_parameters(op.query)
        if parameters:
            operation["parameters"] = parameters
        else:
            operation.pop("parameters", None)
        if op.body is not None:
            _add_model(components, op.body, "validation")
            operation["requestBody"] = {"required": op.body_required,
                                        "content": {"application/json": {"schema": _ref(op.body)}}}
        if op.public:
            operation["security"] = []
    _add_callbacks(document, components)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)  # Powertools' own validation answers: paygate answers with Error
    schemas.update(components)
    document["components"]["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer sk_test_..."}}
    document["security"] = [{"apiKey": []}]
    return document
