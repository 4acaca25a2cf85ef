"""A merchant's routing: which providers a card payment goes to, in order of preference. Set whole
with `PUT /v1/routing`, read by `GET /v1/routing`; a card payment's route is chosen once, when it is
accepted, and recorded with it (`payment.created`), so every later command of the payment agrees."""

from __future__ import annotations

from paygate.domain.accounts import Merchant
from paygate.domain.providers.registry import DEFAULT_ROUTE
from paygate.domain.providers.routing import Routing, UnknownProvider
from paygate.observability import logger
from paygate.services.errors import InvalidRequest
from paygate.services.ports.merchants import RoutingRepository


def get_routing(repo: RoutingRepository, merchant: Merchant) -> Routing:
    """The routing in force: the merchant's, else the default (`["sandbox"]`)."""
    return repo.get(merchant.id) or Routing()


def put_routing(repo: RoutingRepository, merchant: Merchant, routing: Routing) -> Routing:
    """Replace the merchant's routing; 400 `unknown_provider` names the first provider the gateway has
    no connector for, by its path (`default[1]`)."""
    try:
        routing.check()
    except UnknownProvider as exc:
        raise InvalidRequest(f"unknown provider {exc.provider!r}", param=exc.path, code="unknown_provider") from None
    repo.put(merchant.id, routing)
    logger.info("routing replaced", extra={"rules": len(routing.rules), "default": list(routing.default)})
    return routing


def route_for(repo: RoutingRepository, merchant: Merchant, *, currency: str, amount: int,
              method: str) -> tuple[str, ...]:
    """The providers of a new card payment, in order (wallet payments have none). The default route
    (`["sandbox"]`) is not stored with the payment: an empty route means it."""
    if method != "card":
        return ()
    route = get_routing(repo, merchant).route(currency=currency, amount=amount, method=method)
    return () if route == DEFAULT_ROUTE else route
