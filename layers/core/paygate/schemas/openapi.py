"""The API reference: the OpenAPI document Powertools generates from the API's typed routes, completed
here, in one place, with what routes cannot say: the bearer scheme, the error answers of each operation
(derived from what it takes, plus the codes its route declares with ``errors``), the headers of a
creating answer, the provider callbacks (served by another function), the webhooks (OpenAPI 3.1
``webhooks``, which Powertools does not emit), and the groups' descriptions.

Importing this module is cheap (the routes take their tag and ``errors`` from it); ``document`` does the work.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

TITLE = "paygate"
VERSION = "1"
REF = "#/components/schemas/{model}"

PAYMENTS, REFUNDS, ENDPOINTS, EVENTS = "Payments", "Refunds", "Webhook endpoints", "Events"
CUSTOMERS, ORDERS, CALLBACKS, HEALTH = "Customers and wallets", "Orders", "Provider callbacks", "Health"
API_KEYS = "API keys"
TAGS = [
    (PAYMENTS, "Take a payment by card or from a wallet, read it, list them, follow its history. A payment is "
               "accepted at once (202) and settled asynchronously; the outcome comes by webhook."),
    (REFUNDS, "Cancel a payment, refund a COMPLETED one (in parts or whole), read refunds."),
    (ENDPOINTS, "Where your webhooks go, each with its signing secret; every delivery attempt; what never "
                "arrived; a redelivery on request."),
    (EVENTS, "Every event of your account, exactly as webhooks carry it, newest first, kept 30 days."),
    (CUSTOMERS, "Customers, each with a wallet (double-entry ledger): top-ups, the balance, the ledger's "
                "entries; your own balance."),
    (ORDERS, "An order paid from its customer's wallet (outbox and inbox): NEW, then FINISHED or CANCELED, "
             "and the customer notified."),
    (API_KEYS, "Your API keys: make another (shown once), list them (never the keys themselves), revoke one "
               "at once; to roll a key, make the new one, move to it, revoke the old."),
    (CALLBACKS, "What payment providers post back: their signature checked, no API key."),
    (HEALTH, "Is the API up."),
]

DESCRIPTION = """An asynchronous payment gateway: a request is accepted at once, the work runs
asynchronously, and each outcome reaches you as a signed webhook
([Standard Webhooks](https://www.standardwebhooks.com/)).

**Authentication**: `Authorization: Bearer sk_test_...` on every route but `/health` and the provider callbacks.

**Errors**: always `{"error": {"type", "code", "message", "param"}}`; each operation lists the codes it
can answer. Bad input is a 4xx, never a 5xx.

**Idempotency**: every POST that creates something takes an `Idempotency-Key` header (1 to 255
characters, kept 24 hours): the same request again answers the first answer again with
`Idempotent-Replayed: true`; the key with a different request is a 422.

**Lists**: newest first, `limit` (1-100, default 10), `starting_after` (the last id of the previous
page), `has_more`.

**Webhooks**: see the *Webhooks* section at the end: one per event type, with its payload."""

ERRORS_KEY = "x-paygate-errors"

# Every error code an operation can answer: its status, what it means, and an example of its `param`.
CODES: dict[str, tuple[int, str, str | None]] = {
    "parameter_invalid": (400, "a field, query parameter or header has an invalid value", "amount"),
    "parameter_missing": (400, "a required field or parameter is missing", "currency"),
    "parameter_unknown": (400, "a field or query parameter this operation does not take", "expand"),
    "invalid_json": (400, "the body is not one JSON object in UTF-8 (or names a key twice)", None),
    "invalid_request": (400, "`starting_after` names nothing of yours", "starting_after"),
    "idempotency_key_missing": (400, "this request needs an Idempotency-Key header", "Idempotency-Key"),
    "idempotency_key_invalid": (400, "the Idempotency-Key is not 1 to 255 printable characters", "Idempotency-Key"),
    "invalid_token": (400, "a card token the sandbox does not know (dev mode)", "payment_method.token"),
    "unknown_provider": (400, "a provider the gateway has no connector for", "default[1]"),
    "payment_method_unsupported": (400, "a bill payment by card: bills are paid from a wallet", "destination"),
    "wallet_not_found": (400, "no such wallet of yours", "payment_method.wallet_id"),
    "currency_mismatch": (400, "the wallet holds another currency", "currency"),
    "unknown_service": (400, "no such biller", "destination.service_id"),
    "customer_not_found": (400, "no such customer of yours", "customer_id"),
    "amount_too_large": (400, "more than is left to refund (refunds accepted so far included)", "amount"),
    "url_invalid": (400, "not an https URL with a public address (dev mode: any http(s) URL)", "url"),
    "event_not_enabled": (400, "this endpoint does not receive events of this type", "event_id"),
    "signature_invalid": (400, "the Sandbox-Signature header is missing or malformed", "Sandbox-Signature"),
    "invalid_callback": (400, "not the provider's callback shape", "data.reference"),
    "invalid_api_key": (401, "no API key, a malformed one, or an unknown or revoked one", None),
    "signature_mismatch": (401, "the signature does not match the body, or is older than 5 minutes", None),
    "resource_missing": (404, "no such object, or another merchant's", "id"),
    "provider_unknown": (404, "no such provider", None),
    "method_not_allowed": (405, "this path does not take this method", None),
    "invalid_state": (409, "the object's state does not allow it (e.g. a refund of a payment not COMPLETED)", "id"),
    "idempotency_key_in_use": (409, "a request with this key is running right now: retry", "Idempotency-Key"),
    "rotation_in_progress": (409, "the secret is being rotated by another request right now: retry", None),
    "body_too_large": (413, "the body is larger than 64 KiB", None),
    "idempotency_key_reused": (422, "the key was used with a different request", "Idempotency-Key"),
}
TYPES = {401: "authentication_error", 422: "idempotency_error", 405: "invalid_request_error"}


def error_example(code: str) -> dict[str, Any]:
    status, meaning, param = CODES[code]
    kind = "idempotency_error" if code in ("idempotency_key_in_use", "rotation_in_progress") else \
        TYPES.get(status, "invalid_request_error")
    return {"error": {"type": kind, "code": code, "message": meaning[0].upper() + meaning[1:], "param": param}}


def errors(codes: dict[int, list[str]]) -> dict[str, Any]:
    """A route's own error codes by status, beyond those its parameters imply (``openapi_extensions``)."""
    return {ERRORS_KEY: {status: tuple(names) for status, names in codes.items()}}


def _implied(operation: dict[str, Any]) -> dict[int, list[str]]:
    """The error codes what an operation takes implies: its key, its parameters, its body, its header."""
    params = operation.get("parameters", [])
    if operation.get("security") == []:  # public: no key, and nothing else to check
        return {}
    implied: dict[int, list[str]] = {400: ["parameter_invalid", "parameter_missing", "parameter_unknown"],
                                     401: ["invalid_api_key"]}
    if any(p["in"] == "path" for p in params):
        implied[404] = ["resource_missing"]
        implied[405] = ["method_not_allowed"]
    if "requestBody" in operation:
        implied[400].append("invalid_json")
        implied[413] = ["body_too_large"]
    key = next((p for p in params if p["in"] == "header" and p["name"].lower() == "idempotency-key"), None)
    if key is not None:
        implied[400] += ["idempotency_key_missing", "idempotency_key_invalid"] if key["required"] else \
            ["idempotency_key_invalid"]
        implied[409] = ["idempotency_key_in_use"]
        implied[422] = ["idempotency_key_reused"]
    return implied


def _error_responses(codes: dict[int, list[str]]) -> dict[str, Any]:
    answers = {}
    for status in sorted(codes):
        names = list(dict.fromkeys(codes[status]))
        listed = "; ".join(f"`{name}`: {CODES[name][1]}" for name in names)
        answers[str(status)] = {
            "description": f"{HTTPStatus(status).phrase}. {listed}",
            "content": {"application/json": {
                "schema": {"$ref": REF.format(model="Error")},
                "examples": {name: {"summary": CODES[name][1], "value": error_example(name)} for name in names},
            }},
        }
    return answers


CREATED_HEADERS = {
    "Location": {"description": "The path of what was created.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {"description": "`true` when this is the first answer to this Idempotency-Key again.",
                            "schema": {"type": "string", "enum": ["true"]}},
}


def _complete(operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    for status in ("422", "500"):  # Powertools' own validation answers: paygate answers with Error
        responses.pop(status, None)
    for status, response in responses.items():
        response["description"] = HTTPStatus(int(status)).phrase
        if status in ("201", "202"):
            response["headers"] = CREATED_HEADERS
    for param in operation.get("parameters", []):
        if param["in"] == "header" and param["name"].lower() == "idempotency-key":
            param["name"] = "Idempotency-Key"
    for media in operation.get("requestBody", {}).get("content", {}).values():
        refs = [s for s in media["schema"].get("anyOf", []) if s.get("type") != "null"]
        if len(refs) == 1:  # an optional body (`X | None`) is left out, never sent as null
            media["schema"] = refs[0]
    codes = _implied(operation)
    for status, names in operation.pop(ERRORS_KEY, {}).items():
        codes.setdefault(int(status), []).extend(names)
    responses.update(_error_responses(codes))


# The webhooks, one per event type (paygate.domain.webhooks.EVENT_TYPES: a test keeps them equal).
WEBHOOKS: dict[str, tuple[str, str]] = {
    "payment.created": ("A payment was accepted", "The payment is NEW: the charge is on its way."),
    "payment.processing": ("A payment's charge started",
                           "The provider is being asked, or the wallet's amount is held."),
    "payment.completed": ("A payment succeeded", "The money was taken. Final."),
    "payment.failed": ("A payment failed", "Declined or impossible (`failure.code`: `card_declined`, "
                       "`insufficient_funds`, `provider_unavailable`, `biller_declined`, ...). Final."),
    "payment.cancel_requested": ("A cancel was asked for", "`cancel_requested: true`; `payment.canceled` follows, "
                                 "or `payment.completed` when the provider had already charged."),
    "payment.canceled": ("A payment was canceled", "No money taken (a pending charge voided, a hold released). Final."),
    "payment.refunded": ("A payment was refunded", "One of its refunds succeeded: `amount_refunded` grew."),
    "payment.attempt_failed": ("A provider was unavailable", "It took no charge: the payment goes on at the next "
                               "provider of its route, as a new attempt (`attempts`)."),
    "refund.created": ("A refund was accepted", "PENDING; its amount is reserved."),
    "refund.succeeded": ("A refund succeeded", "The money went back. Final."),
    "refund.failed": ("A refund failed", "It could not be made (`failure`); its amount is free again. Final."),
    "order.created": ("An order was accepted", "NEW; its payment is on its way."),
    "order.finished": ("An order was paid", "Paid from the customer's wallet (`payment_id`). Final."),
    "order.canceled": ("An order was canceled", "It could not be paid (`failure.code`: `insufficient_funds`, "
                      "`wallet_not_found`). Final."),
}
WEBHOOK_RULES = ("Posted to each of your endpoints that receives this type, signed (Standard Webhooks): verify "
                 "`webhook-signature`, answer 2xx within 10 s, and deduplicate on `webhook-id`: the same event "
                 "may come twice, and events may come out of order (`data.object.version` orders them).")
WEBHOOK_HEADERS = [
    ("webhook-id", "The event's id: the same on every attempt, so deduplicate on it."),
    ("webhook-timestamp", "Unix seconds of this attempt: refuse one more than 5 minutes off."),
    ("webhook-signature", "`v1,` + base64 HMAC-SHA256 with the endpoint's secret over `id.timestamp.body`; "
                          "after a secret rotation, two space-separated signatures for 24 hours."),
]


def webhooks() -> dict[str, Any]:
    from paygate.schemas import examples

    payloads = {"payment": ("PaymentWebhook", examples.PAYMENT), "refund": ("RefundWebhook", examples.REFUND),
                "order": ("OrderWebhook", examples.ORDER)}
    hooks = {}
    for event_type, (summary, text) in WEBHOOKS.items():
        model, example = payloads[event_type.partition(".")[0]]
        hooks[event_type] = {"post": {
            "summary": summary, "operationId": "webhook_" + event_type.replace(".", "_"),
            "description": f"{text}\n\n{WEBHOOK_RULES}", "security": [],
            "parameters": [{"name": name, "in": "header", "required": True, "description": about,
                            "schema": {"type": "string"}} for name, about in WEBHOOK_HEADERS],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": REF.format(model=model)},
                "example": {**examples.WEBHOOK_EVENT, "type": event_type, "data": {"object": example}}}}},
            "responses": {"200": {"description": (
                "Any 2xx within 10 s acknowledges it. Anything else, or no answer, is retried after 5 s, 5 min, "
                "30 min, 2 h, 5 h, 10 h and 10 h; then it is dead-lettered, and listed in the endpoint's "
                "`failed_deliveries`.")}},
        }}
    return hooks


def _add_schemas(components: dict[str, Any], *models: Any) -> None:
    """Models no route names (the webhooks', the callbacks', the error's), with those they nest."""
    from pydantic import TypeAdapter

    for model in models:
        schema = TypeAdapter(model).json_schema(ref_template=REF, mode="serialization")
        for name, nested in schema.pop("$defs", {}).items():
            components.setdefault(name, nested)
        components.setdefault(model.__name__, schema)


def document(app: Any) -> dict[str, Any]:
    """The whole document of ``app`` (a Powertools resolver whose routes are the API's)."""
    import json

    from aws_lambda_powertools.event_handler.openapi.models import Tag

    from paygate.schemas import callbacks
    from paygate.schemas.errors import Error
    from paygate.schemas.events import OrderWebhook, PaymentWebhook, RefundWebhook

    generated = json.loads(app.get_openapi_json_schema(
        title=TITLE, version=VERSION, description=DESCRIPTION,
        tags=[Tag(name=name, description=text) for name, text in TAGS],
        security_schemes={"apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "sk_test_...",
                                     "description": "Authorization: Bearer sk_test_... (the key, shown once)"}},
        security=[{"apiKey": []}]))
    for item in generated["paths"].values():
        for operation in item.values():
            _complete(operation)
    schemas = generated.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)
    _add_schemas(schemas, Error, PaymentWebhook, RefundWebhook, OrderWebhook, callbacks.ProviderCallback,
                 callbacks.CallbackReceived)
    callback = callbacks.operation(REF, CALLBACKS)
    callback["responses"].update(_error_responses(callbacks.ERRORS))
    generated["paths"][callbacks.PATH] = {"post": callback}
    order = {name: index for index, (name, _) in enumerate(TAGS)}
    generated["paths"] = dict(sorted(generated["paths"].items(), key=lambda path: (
        min(order.get(tag, len(order)) for op in path[1].values() for tag in op.get("tags", [])), path[0])))
    generated["webhooks"] = webhooks()
    return generated


def swagger_html(document_json: str) -> str:
    """Swagger UI for the document, its script and style inline from the Powertools package (no CDN)."""
    from pathlib import Path

    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = Path(generate_swagger_html.__code__.co_filename).parent
    return generate_swagger_html(document_json.replace("</", "<\\/"),
                                 (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
                                 (assets / "swagger-ui.min.css").read_text(encoding="utf-8"), "", None)
