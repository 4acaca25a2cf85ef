"""Configuration, parsed once and lazily from the environment into a typed object.

Nothing reads os.environ at import time: tests and the local runtime set the environment first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

from paygate.domain.webhooks import DEV_SCHEDULE, PRODUCTION_SCHEDULE


class ConfigurationError(RuntimeError):
    pass


def _schedule(raw: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    if not raw:
        return default
    try:
        values = tuple(int(v) for v in raw.split(",") if v.strip())
    except ValueError as exc:
        raise ConfigurationError(f"bad retry schedule {raw!r}") from exc
    if not values or any(v < 0 or v > 43200 for v in values):
        raise ConfigurationError("retry delays must be 0 to 43200 seconds (the SQS visibility limit)")
    return values


@dataclass(frozen=True)
class Settings:
    mode: str
    merchants_table: str
    aggregates_table: str
    idempotency_table: str
    events_table: str
    commands_queue_url: str
    webhooks_queue_url: str
    webhooks_dlq_url: str
    provider_url: str
    provider_timeout: float
    command_max_attempts: int
    webhook_max_attempts: int
    webhook_schedule: tuple[int, ...]
    webhook_timeout: float
    command_backoff_base: int
    webhook_concurrency: int = 16
    max_body_bytes: int = 64 * 1024

    @property
    def dev(self) -> bool:
        return self.mode == "dev"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        mode = env.get("PAYGATE_MODE", "prod")
        if mode not in ("prod", "dev"):
            raise ConfigurationError(f"PAYGATE_MODE must be prod or dev, not {mode!r}")
        dev = mode == "dev"

        def need(name: str) -> str:
            value = env.get(name)
            if not value:
                raise ConfigurationError(f"{name} is not set")
            return value

        return cls(
            mode=mode,
            merchants_table=need("MERCHANTS_TABLE"),
            aggregates_table=need("AGGREGATES_TABLE"),
            idempotency_table=need("IDEMPOTENCY_TABLE"),
            events_table=env.get("EVENTS_TABLE", ""),
            commands_queue_url=env.get("COMMANDS_QUEUE_URL", ""),
            webhooks_queue_url=env.get("WEBHOOKS_QUEUE_URL", ""),
            webhooks_dlq_url=env.get("WEBHOOKS_DLQ_URL", ""),
            provider_url=env.get("PROVIDER_URL", "").rstrip("/"),
            provider_timeout=float(env.get("PROVIDER_TIMEOUT_SECONDS", "2" if dev else "10")),
            command_max_attempts=int(env.get("COMMAND_MAX_ATTEMPTS", "5")),
            webhook_max_attempts=int(env.get("WEBHOOK_MAX_ATTEMPTS", "8")),
            webhook_schedule=_schedule(
                env.get("WEBHOOK_RETRY_SCHEDULE"), DEV_SCHEDULE if dev else PRODUCTION_SCHEDULE
            ),
            webhook_timeout=float(env.get("WEBHOOK_TIMEOUT_SECONDS", "10")),
            command_backoff_base=int(env.get("COMMAND_BACKOFF_SECONDS", "1" if dev else "5")),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
