"""What a command runs with besides its message: the repositories, the providers' connectors, the
limits the settings give, and its delivery (which attempt this is, how much time is left).

Built in one place, the composition root (paygate.container.Container.command_context), for the
processor, the dead-letter consumer and the API's check of what a payment method can take.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from paygate.services.ports.orders import OrderRepository
from paygate.services.ports.payments import PaymentRepository
from paygate.services.ports.provider import Connectors, ProviderHealth
from paygate.services.ports.refunds import RefundRepository
from paygate.services.ports.wallets import WalletStore

MAX_BACKOFF_SECONDS = 900
WRITE_TRIES = 3  # re-read and decide again when another writer moved the aggregate first


@dataclass(frozen=True)
class CommandContext:
    payments: PaymentRepository
    refunds: RefundRepository
    wallets: WalletStore
    orders: OrderRepository
    connectors: Connectors  # by provider name
    attempt: int = 1  # which delivery of the command this is (SQS's receive count, for a FIFO queue)
    max_attempts: int = 5
    backoff_base: int = 5
    provider_timeout: float = 10.0
    sandbox: bool = False  # dev mode: card tokens are the sandbox's, refused at the edge when unknown
    time_left: Callable[[], float] = lambda: 30.0
    sleep: Callable[[float], None] = time.sleep
    health: ProviderHealth | None = None  # the providers' breakers (None: every provider is tried)
    breaker_cooldown: float = 30.0

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    def backoff(self) -> int:
        """Seconds before the next delivery of this command."""
        return backoff(self.attempt, self.backoff_base)

    def time_for_provider(self, extra: float = 0.0) -> bool:
        """Whether a provider call (and `extra` seconds) fits in what is left of the invocation."""
        return self.time_left() >= self.provider_timeout + extra + 2


def backoff(attempt: int, base: int) -> int:
    """Seconds before delivery `attempt + 1` of a command: base, 2*base, 4*base ... capped."""
    return min(base * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)
