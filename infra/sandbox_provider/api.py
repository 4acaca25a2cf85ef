"""What every route shares: the error answer, JSON in and out, the Idempotency-Key header, new ids.

Errors are ``{"error": {"type", "code", "message", "param"}}``, as the provider's clients expect.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from werkzeug.wrappers import Request, Response

MAX_BODY = 64 * 1024
MAX_KEY_LENGTH = 255
MAX_AMOUNT = 99_999_999


class ApiError(Exception):
    """An answer other than 2xx, raised by a route and turned into its JSON body by the app."""

    def __init__(self, status: int, type_: str, code: str, message: str, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = error_body(type_, code, message, param)


def error_body(type_: str, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"type": type_, "code": code, "message": message, "param": param}}


def invalid(code: str, message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request_error", code, message, param)


def missing(what: str, object_id: str, param: str) -> ApiError:
    return ApiError(404, "invalid_request_error", "resource_missing", f"no such {what}: {object_id}", param)


def invalid_state(message: str) -> ApiError:
    return ApiError(409, "invalid_request_error", "invalid_state", message)


def key_reused() -> ApiError:
    return ApiError(409, "idempotency_error", "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request body", "Idempotency-Key")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def replayed(body: dict[str, Any]) -> Response:
    """The answer to a request repeated with its Idempotency-Key: what the first one got."""
    return json_response(dict(body), 200, {"Idempotent-Replayed": "true"})


def read_json(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise ApiError(413, "invalid_request_error", "body_too_large", "request body is too large")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise invalid("invalid_json", "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("invalid_json", "request body must be a JSON object")
    return body


def idempotency_key(request: Request, required: bool) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None or key == "":
        if required:
            raise invalid("missing_idempotency_key", "the Idempotency-Key header is required", "Idempotency-Key")
        return None
    if len(key) > MAX_KEY_LENGTH:
        raise invalid("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters", "Idempotency-Key")
    return key


def fingerprint(body: dict[str, Any]) -> str:
    """The request body's hash: the same key with another body is a reuse, not a replay."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def reference_param(request: Request) -> str:
    reference = request.args.get("reference")
    if not reference:
        raise invalid("invalid_reference", "reference (a payment id) is required", "reference")
    return reference


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
