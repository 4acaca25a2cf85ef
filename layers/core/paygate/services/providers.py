"""`GET /v1/providers`: each provider the gateway knows, its breaker's status and its recent counts
(gateway-wide, shared by all merchants)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from paygate.domain.providers.registry import REGISTRY
from paygate.services.ports.provider import ProviderHealth


@dataclass(frozen=True)
class ProviderStatus:
    id: str
    status: str
    attempts: int
    failures: int
    success_rate: float | None


def provider_statuses(health: ProviderHealth, cooldown: float) -> list[ProviderStatus]:
    now = time.time()
    found = []
    for provider in REGISTRY:
        window = health.window(provider)
        found.append(ProviderStatus(provider, health.breaker(provider).status(now, cooldown), window.attempts,
                                    window.failures, window.success_rate))
    return found
