"""What every route shares: its router (one per resource, each route validated), the merchant, the
parameters several routes take (`params.X`), and the answer of a request that created something."""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Callable

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.request import Request

from paygate import edge
from paygate.domain.accounts import Merchant
from paygate.ids import epoch_seconds
from paygate.services.idempotency import IdempotentRequest, idempotent_request

JSON = "application/json"


class ResourceRouter(Router):
    """The routes of one resource: each is validated from its signature (`enable_validation=True`),
    tagged with the resource (the group it is listed in at /docs), its handler's name is its
    operationId, and its docstring its description (first line: the summary)."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag

    def route(self, *args: Any, **kwargs: Any) -> Callable[[Callable], Callable]:
        # Router.get, .post ... pass every setting positionally: bind them to fill in the unset ones.
        bound = _ROUTE.bind(self, *args, **kwargs)

        def register(func: Callable) -> Callable:
            summary, _, description = inspect.cleandoc(func.__doc__ or "").partition("\n\n")
            for name, value in (("summary", summary.replace("\n", " ")), ("description", description),
                                ("tags", [self.tag]), ("operation_id", func.__name__), ("enable_validation", True)):
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


def takes_merchant(route: Any) -> bool:
    """A route that takes the merchant requires the API key; one that does not is public."""
    return any(dependency.depends.dependency is current_merchant for dependency in route.dependant.dependencies)


# A body that could not be read is handed on as {UNREADABLE: its error}: every body model forbids
# unknown fields, so it fails validation after the route's other parameters, and its error is answered.
UNREADABLE = "\x00unreadable body"


class _Params:
    """`params.X`: routes.params, imported when Powertools first reads a route's signature (on its first
    call), not when the API is imported: it brings in Powertools' OpenAPI machinery and, with it, pydantic's
    schema generation (about 20 ms of a cold start, paid by the first request instead)."""

    def __getattr__(self, name: str) -> Any:
        from routes import params as module

        return getattr(module, name)


params = _Params()


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
