"""Errors a caller can act on, each with the HTTP answer the public contract gives it."""

from __future__ import annotations

from typing import Any


class RequestError(Exception):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code:
            self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "code": self.code, "message": self.message, "param": self.param}}


class InvalidRequest(RequestError):
    pass


class AuthenticationFailed(RequestError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class NotFound(RequestError):
    status = 404
    code = "resource_missing"


class InvalidState(RequestError):
    status = 409
    code = "invalid_state"


class IdempotencyKeyInUse(RequestError):
    status = 409
    type = "idempotency_error"
    code = "idempotency_key_in_use"


class IdempotencyKeyReused(RequestError):
    status = 422
    type = "idempotency_error"
    code = "idempotency_key_reused"


class BodyTooLarge(RequestError):
    status = 413
    code = "body_too_large"


class MethodNotAllowed(RequestError):
    status = 405
    code = "method_not_allowed"
