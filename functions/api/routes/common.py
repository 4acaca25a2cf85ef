"""What every route shares: its router (one per resource), the merchant, the parameters several routes
take, and the answer of a request that created something."""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Callable, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.event_handler.request import Request
from pydantic import AfterValidator

from paygate import edge
from paygate.domain.accounts import Merchant
from paygate.domain.idempotency import MAX_KEY_LENGTH
from paygate.ids import epoch_seconds
from paygate.services.idempotency import IdempotentRequest, idempotent_request

JSON = "application/json"


class ResourceRouter(Router):
    """The routes of one resource: each is tagged with it (the group it is listed in at /docs), its
    handler's name is its operationId, and its docstring its description (first line: the summary)."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag

    def route(self, *args: Any, **kwargs: Any) -> Callable[[Callable], Callable]:
        # Router.get, .post ... pass every setting positionally: bind them to fill in the unset ones.
        bound = _ROUTE.bind(self, *args, **kwargs)

        def register(func: Callable) -> Callable:
            summary, _, description = inspect.cleandoc(func.__doc__ or "").partition("\n\n")
            for name, value in (("summary", summary.replace("\n", " ")), ("description", description),
                                ("tags", [self.tag]), ("operation_id", func.__name__)):
                if bound.arguments.get(name) is None and value:
                    bound.arguments[name] = value
            return Router.route(*bound.args, **bound.kwargs)(func)
        return register


_ROUTE = inspect.signature(Router.route)


def current_merchant(request: Request) -> Merchant:
    """The merchant behind the request's API key, authenticated before its parameters are validated
    (functions/api/validation.py) for every route that takes it."""
    return request.context["merchant"]


# A route that takes the merchant requires the API key; one that does not is public.
CurrentMerchant = Annotated[Merchant, Depends(current_merchant)]


def _printable(key: str) -> str:
    if not key.isprintable():
        raise ValueError("the Idempotency-Key header must be 1 to 255 printable characters")
    return key


_KEY_DOC = ("Makes the request safe to retry: the same key and the same request answer the first answer "
            "again (`Idempotent-Replayed: true`), a different request with it is a 422. 1 to 255 printable "
            "characters, scoped to your account, kept 24 hours.")
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH,
                                       description=_KEY_DOC), AfterValidator(_printable)]
OptionalIdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                      max_length=MAX_KEY_LENGTH, description=_KEY_DOC),
                                   AfterValidator(lambda key: key if key is None else _printable(key))]

Limit = Annotated[int, Query(ge=1, le=100, description="How many to answer, 1 to 100.")]
StartingAfter = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$",
                                            description="The id of the last item of the previous page.")]


def path_id(what: str) -> Any:
    """A path parameter that names one object (an unknown or another merchant's: 404)."""
    return Path(description=f"The {what}'s id.")


PaymentId = Annotated[str, path_id("payment")]
EndpointId = Annotated[str, path_id("webhook endpoint")]
CustomerId = Annotated[str, path_id("customer")]
WalletId = Annotated[str, path_id("wallet")]

PaymentStatus = Literal["NEW", "PROCESSING", "COMPLETED", "FAILED", "CANCELED"]


def idempotent(merchant: Merchant, key: str, path: str, body: Any) -> IdempotentRequest:
    """A creating request and its key. The fingerprint covers the request as understood ("usd" and
    "USD" are the same request), not as spelled."""
    return idempotent_request(merchant_id=merchant.id, key=key, method="POST", path=path, body=body,
                              now=epoch_seconds())


def accepted(status: int, model: Any, *, replayed: bool, location: str | None = None) -> Response:
    """The answer of a request that created (201) or started (202) something; the replay of the first
    answer says so (`Idempotent-Replayed: true`)."""
    headers = {"Location": location} if location else {}
    return Response(status, JSON, model, headers={**headers, **edge.replay_headers(replayed)})
