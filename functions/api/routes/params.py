"""The parameters several routes take, typed for Powertools (its Path, Query, Header and Body, which
import its OpenAPI machinery): routes name them as `params.X` in their signatures, which Powertools
reads when a route is first called, so this module is imported then (routes.common.params)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from pydantic import AfterValidator

from paygate.domain.idempotency import MAX_KEY_LENGTH

__all__ = ["Body", "Header", "Path", "Query"]


def _printable(key: str | None) -> str | None:
    if key is not None and not key.isprintable():
        raise ValueError("the Idempotency-Key header must be 1 to 255 printable characters")
    return key


_KEY_DOC = ("Makes the request safe to retry: the same key and the same request answer the first answer "
            "again (`Idempotent-Replayed: true`), a different request with it is a 422. 1 to 255 printable "
            "characters, scoped to your account, kept 24 hours.")
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH,
                                       description=_KEY_DOC), AfterValidator(_printable)]
OptionalIdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                      max_length=MAX_KEY_LENGTH, description=_KEY_DOC),
                                   AfterValidator(_printable)]

Limit = Annotated[int, Query(ge=1, le=100, description="How many to answer, 1 to 100.")]
StartingAfter = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$",
                                            description="The id of the last item of the previous page.")]
EntryCursor = Annotated[int | None, Query(ge=1, description="The `sequence` of the last entry of the previous page.")]
CustomerQuery = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$",
                                     description="The customer whose orders to list.")]
PaymentStatusQuery = Annotated[Literal["NEW", "PROCESSING", "COMPLETED", "FAILED", "CANCELED"] | None,
                               Query(description="Only the payments in this status.")]


def _id(what: str) -> Any:
    """A path parameter that names one object (an unknown one, or another merchant's: 404)."""
    return Annotated[str, Path(description=f"The {what}'s id.")]


PaymentId, RefundId, EndpointId, EventId = _id("payment"), _id("refund"), _id("webhook endpoint"), _id("event")
CustomerId, WalletId, OrderId = _id("customer"), _id("wallet"), _id("order")
ApiKeyId = _id("API key")
