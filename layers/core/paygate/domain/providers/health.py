"""A provider's health, gateway-wide: a breaker from recent outcomes. Pure: the times are given.

`open` after THRESHOLD unavailable attempts in a row (new payments skip the provider while another of
their route is eligible); `half_open` once the cool-down has passed since the last failure (one trial
goes through, claimed by one processor); `up` again after a success.
"""

from __future__ import annotations

from dataclasses import dataclass

THRESHOLD = 5


@dataclass(frozen=True)
class Breaker:
    provider: str
    consecutive_failures: int = 0
    last_failure: float = 0.0  # unix seconds
    trial_at: float = 0.0  # when the last half-open trial was claimed

    def status(self, now: float, cooldown: float) -> str:
        if self.consecutive_failures < THRESHOLD:
            return "up"
        return "half_open" if now - self.last_failure >= cooldown else "open"

    def trial_free(self, now: float, cooldown: float) -> bool:
        """Half open and no trial claimed since the cool-down began (a trial left unanswered for a
        whole cool-down is claimed again)."""
        return self.status(now, cooldown) == "half_open" and now - self.trial_at >= cooldown


@dataclass(frozen=True)
class Window:
    """Attempts and unavailable ones in the recent window."""

    attempts: int = 0
    failures: int = 0

    @property
    def success_rate(self) -> float | None:
        return round(1 - self.failures / self.attempts, 4) if self.attempts else None
