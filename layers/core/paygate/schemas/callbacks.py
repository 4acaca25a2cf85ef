"""`POST /callbacks/{provider}`: what a provider posts, and what it is answered. The route is served by
CallbacksFunction, not by the API's resolver, so its operation is described here for the API's
document. The body is read by the callbacks service after its signature is checked on the raw bytes
(paygate.services.triggered.callbacks), so this model documents the shape that service accepts."""

from __future__ import annotations

from typing import Any, Literal

from paygate.schemas.docs import model

PATH = "/callbacks/{provider}"
PROVIDERS = ["sandbox"]
ERRORS = {400: ["signature_invalid", "invalid_json", "invalid_callback"], 401: ["signature_mismatch"],
          404: ["provider_unknown"], 405: ["method_not_allowed"], 413: ["body_too_large"]}


@model()
class CallbackData:
    reference: str
    """The payment the charge was made for (`pay_...`): required for `charge.*` events."""


@model({"id": "cb_5ZQm1dV0eX2s", "type": "charge.succeeded", "data": {"reference": "pay_D7vGQgDYw06oBjjZAZ5pUP3a"}})
class ProviderCallback:
    """What the sandbox provider posts about a charge it settled later (other providers: their own
    shape, under their own name)."""

    id: str
    """The callback's id: a repeat of the same id within 5 minutes is dropped."""
    type: str
    """`charge.succeeded`, `charge.failed`, ...; types other than `charge.*` are acknowledged and ignored."""
    data: CallbackData


@model({"received": True, "id": "cb_5ZQm1dV0eX2s"})
class CallbackReceived:
    """The callback is taken: the payment is settled from what the provider holds, never from the
    callback alone."""

    received: Literal[True]
    id: str


def operation(ref: str, tag: str) -> dict[str, Any]:
    return {
        "tags": [tag],
        "summary": "A provider's callback",
        "description": "The provider's asynchronous result of a charge (a `tok_async` payment in the sandbox). "
                       "Signed by the provider, no API key; a callback that does not verify changes nothing.",
        "operationId": "provider_callback",
        "security": [],
        "parameters": [
            {"name": "provider", "in": "path", "required": True, "schema": {"type": "string", "enum": PROVIDERS}},
            {"name": "Sandbox-Signature", "in": "header", "required": True,
             "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<body>')>`, within 5 minutes",
             "schema": {"type": "string"}},
        ],
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": {"$ref": ref.format(model="ProviderCallback")}}}},
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": ref.format(model="CallbackReceived")}}}}},
    }
