"""/v1/routing: which providers a merchant's card payments go to, in order of preference."""

from __future__ import annotations

from typing import Annotated

from paygate.container import get_container
from paygate.schemas.openapi import PAYMENTS, errors
from paygate.schemas.routing import ProviderHealth, ProviderList, PutRouting, Routing
from paygate.services import providers, routing
from routes.common import CurrentMerchant, ResourceRouter, params

router = ResourceRouter(PAYMENTS)


@router.put("/v1/routing", openapi_extensions=errors({400: ["unknown_provider"]}))
def put_routing(body: Annotated[PutRouting, params.Body()], merchant: CurrentMerchant) -> Routing:
    """Set the routing

    Replaces the whole routing: ordered `rules` (on `currency`, `min_amount`, `max_amount`, `method`;
    the first that matches decides), then `default`. A card payment's providers are chosen when it is
    accepted; it goes to the next one only when a provider is unavailable (never after a decline).
    An unknown provider is 400 `unknown_provider` (`param` its path, e.g. `default[1]`).
    `Idempotency-Key` is optional: the same routing set twice is the same routing."""
    return Routing.of(routing.put_routing(get_container().routing, merchant, body.typed()))


@router.get("/v1/routing")
def get_routing(merchant: CurrentMerchant) -> Routing:
    """Get the routing

    The routing in force: `default` `["sandbox"]` until one is set."""
    return Routing.of(routing.get_routing(get_container().routing, merchant))


@router.get("/v1/providers")
def list_providers(merchant: CurrentMerchant) -> ProviderList:
    """List the providers and their health

    Gateway-wide: each provider's breaker (`up`, `open`, `half_open`) and its attempts and failures in
    the last 5 minutes."""
    c = get_container()
    return ProviderList(data=[ProviderHealth(id=p.id, status=p.status, attempts=p.attempts, failures=p.failures,  # type: ignore[arg-type]
                                             success_rate=p.success_rate)
                              for p in providers.provider_statuses(c.provider_health, c.settings.breaker_cooldown)])
