"""The error answer, whatever its status: `{"error": {"type", "code", "message", "param"}}`."""

from __future__ import annotations

from typing import Any, Literal

from paygate.schemas.docs import model


@model()
class ErrorDetail:
    type: Literal["invalid_request_error", "authentication_error", "idempotency_error", "api_error"]
    code: str
    """Stable and machine-readable: `parameter_invalid`, `invalid_state`, `idempotency_key_reused`, ..."""
    message: str
    """For people; may change."""
    param: str | None
    """The request field, query parameter or header at fault (`amount`, `payment_method.token`,
    `Idempotency-Key`), when there is one."""


@model({"error": {"type": "invalid_request_error", "code": "parameter_invalid", "param": "amount",
                  "message": "invalid amount: Input should be greater than or equal to 1"}})
class Error:
    """Every error answer, whatever its status."""

    error: ErrorDetail

    @classmethod
    def of(cls, error: Any) -> Error:
        """Of a paygate.services.errors.RequestError (named by duck type: schemas never import services)."""
        return cls(ErrorDetail(error.type, error.code, error.message, error.param))
