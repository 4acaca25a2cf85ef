"""Errors a caller can act on, by name. The edge (paygate.edge) gives each its HTTP answer."""

from __future__ import annotations

MAX_PARAM_LENGTH = 100  # a param echoes what the caller sent (a field name, a header): never all of it


class RequestError(Exception):
    """Base of every error the public contract describes: a `type`, a `code`, a message, a `param`."""

    type = "invalid_request_error"
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param if param is None or len(param) <= MAX_PARAM_LENGTH else param[:MAX_PARAM_LENGTH] + "..."
        if code:
            self.code = code


class InvalidRequest(RequestError):
    pass


class InternalError(RequestError):
    """paygate's own fault (an answer that did not match its model): never the caller's."""

    type = "api_error"
    code = "internal_error"


class AuthenticationFailed(RequestError):
    type = "authentication_error"
    code = "invalid_api_key"


class NotFound(RequestError):
    code = "resource_missing"


class InvalidState(RequestError):
    code = "invalid_state"


class IdempotencyKeyInUse(RequestError):
    type = "idempotency_error"
    code = "idempotency_key_in_use"


class IdempotencyKeyReused(RequestError):
    type = "idempotency_error"
    code = "idempotency_key_reused"
