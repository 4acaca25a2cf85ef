"""The HTTP edge: turn a proxy event's raw parts into validated models or a documented 4xx.

Bad input never becomes a 5xx: every parse or validation failure is a RequestError with a `param`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Mapping, Sequence, TypeVar

from pydantic import BaseModel, ValidationError

from paygate.services.errors import (
    AuthenticationFailed,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidRequest,
    InvalidState,
    NotFound,
    RequestError,
)

M = TypeVar("M", bound=BaseModel)

REPLAYED_HEADER = "Idempotent-Replayed"


class BodyTooLarge(RequestError):
    code = "body_too_large"


# The HTTP answer of each error the public contract names (DESIGN section 5).
_STATUS: tuple[tuple[type[RequestError], int], ...] = (
    (AuthenticationFailed, 401),
    (NotFound, 404),
    (InvalidState, 409),
    (IdempotencyKeyInUse, 409),
    (BodyTooLarge, 413),
    (IdempotencyKeyReused, 422),
    (RequestError, 400),
)


def status_of(error: RequestError) -> int:
    return next(status for kind, status in _STATUS if isinstance(error, kind))


def replay_headers(replayed: bool) -> dict[str, str]:
    return {REPLAYED_HEADER: "true"} if replayed else {}

# The tags of discriminated unions show up in pydantic's error locations; merchants never wrote them.
_UNION_TAGS = {"card", "wallet"}


def raw_body(body: str | None, is_base64: bool, max_bytes: int) -> bytes:
    data = (body or "").encode("utf-8") if not is_base64 else _b64(body or "")
    if len(data) > max_bytes:
        raise BodyTooLarge(f"the request body is larger than {max_bytes} bytes")
    return data


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest("the request body is not valid base64", code="invalid_body") from exc


def parse_json_object(data: bytes) -> dict[str, Any]:
    if not data.strip():
        raise InvalidRequest("the request body must be a JSON object", code="invalid_json")
    try:
        text = data.decode("utf-8")  # JSON is UTF-8 (RFC 8259); json.loads would guess UTF-16 and 32 from bytes
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the request body must be UTF-8 encoded JSON", code="invalid_json") from exc
    try:
        value = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("the request body must be a JSON object", code="invalid_json")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A key given twice is ambiguous (which one counts?): refuse it rather than keep the last."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def validate(model: type[M], data: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise request_error(exc) from None


def request_error(exc: ValidationError) -> InvalidRequest:
    return invalid(exc.errors(include_url=False)[0])


def invalid(error: Mapping[str, Any], loc: Sequence[Any] | None = None) -> InvalidRequest:
    """A validation error (pydantic's shape, as Powertools reports it too) as the documented 400: `param`
    is where it is (``loc``, by default the error's), `code` what is wrong."""
    parts = [str(p) for p in (error.get("loc", ()) if loc is None else loc) if str(p) not in _UNION_TAGS]
    param = ".".join(parts) or None
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return InvalidRequest(f"unknown parameter: {param}", param=param, code="parameter_unknown")
    if kind == "missing":
        return InvalidRequest(f"missing required parameter: {param}", param=param, code="parameter_missing")
    message = str(error.get("msg", "invalid value"))
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return InvalidRequest(f"invalid {param}: {message}" if param else message, param=param,
                          code="parameter_invalid")
