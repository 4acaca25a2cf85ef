"""Configuration: one validated model (pydantic-settings) of what the template gives every function in
its environment, read once per process, at its first use (nothing reads the environment at import
time: tests and the local runtime set it first). A value that does not validate stops the function at
its first invocation with the variable's name, rather than failing a payment later.

Nothing else in functions/ or services/ reads the environment.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from paygate.domain.webhooks import DEV_SCHEDULE, PRODUCTION_SCHEDULE


class ConfigurationError(RuntimeError):
    pass


# The sandbox's callback secret: the template's default, usable in dev mode only.
DEV_CALLBACK_SECRET = "sandbox_secret"


def _env(name: str, default: Any = ..., **rules: Any) -> Any:
    """A field read from the environment variable `name`."""
    return Field(default, validation_alias=name, **rules)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=True)

    mode: Literal["prod", "dev"] = _env("PAYGATE_MODE", "prod")
    merchants_table: str = _env("MERCHANTS_TABLE", min_length=1)
    aggregates_table: str = _env("AGGREGATES_TABLE", min_length=1)
    idempotency_table: str = _env("IDEMPOTENCY_TABLE", min_length=1)
    events_table: str = _env("EVENTS_TABLE", "")
    commands_queue_url: str = _env("COMMANDS_QUEUE_URL", "")
    webhooks_queue_url: str = _env("WEBHOOKS_QUEUE_URL", "")
    webhooks_dlq_url: str = _env("WEBHOOKS_DLQ_URL", "")
    provider_url: str = _env("PROVIDER_URL", "")
    # The other providers' base URLs by provider id (JSON), e.g. {"sandbox-b": "http://127.0.0.1:4011"}.
    provider_urls: Annotated[dict[str, str], NoDecode] = _env("PROVIDER_URLS", "", validate_default=True)
    # The callbacks function's only: the secret the provider signs its callbacks with.
    provider_callback_secret: str | None = _env("PROVIDER_CALLBACK_SECRET", None, repr=False)
    # Stripe: its API (empty: Stripe itself; localstripe or a fake in tests), and its secret key and
    # webhook secret, named as Secrets Manager secrets (read at cold start by the composition root), or
    # given as values in dev mode only (paygate dev provides them itself).
    stripe_api_base: str = _env("STRIPE_API_BASE", "")
    stripe_secret_key_secret: str = _env("STRIPE_SECRET_KEY_SECRET", "")
    stripe_webhook_secret_secret: str = _env("STRIPE_WEBHOOK_SECRET_SECRET", "")
    stripe_api_key: str = _env("STRIPE_API_KEY", "", repr=False)
    stripe_webhook_secret: str = _env("STRIPE_WEBHOOK_SECRET", "", repr=False)
    # Defaults by mode (dev: a quicker provider timeout, backoff and webhook schedule).
    provider_timeout: float = _env("PROVIDER_TIMEOUT_SECONDS", None, gt=0)
    breaker_cooldown: float = _env("PROVIDER_BREAKER_COOLDOWN_SECONDS", None, ge=0)
    command_max_attempts: int = _env("COMMAND_MAX_ATTEMPTS", 5, ge=1)
    command_backoff_base: int = _env("COMMAND_BACKOFF_SECONDS", None, ge=0)
    webhook_max_attempts: int = _env("WEBHOOK_MAX_ATTEMPTS", 8, ge=1)
    webhook_schedule: Annotated[tuple[int, ...], NoDecode] = _env("WEBHOOK_RETRY_SCHEDULE", None)
    webhook_timeout: float = _env("WEBHOOK_TIMEOUT_SECONDS", 10.0, gt=0)
    reconcile_after_seconds: int = _env("RECONCILE_AFTER_SECONDS", 600, ge=0)
    webhook_concurrency: int = 16
    max_body_bytes: int = 64 * 1024

    @property
    def dev(self) -> bool:
        return self.mode == "dev"

    @model_validator(mode="before")
    @classmethod
    def _mode_defaults(cls, data: Any) -> Any:
        """What is left unset, or set empty, takes its mode's default."""
        if not isinstance(data, dict):
            return data
        values = {k: v for k, v in data.items() if v not in ("", None) or k not in _BY_MODE}
        dev = values.get("PAYGATE_MODE", "prod") == "dev"
        for name, (in_dev, in_prod) in _BY_MODE.items():
            values.setdefault(name, in_dev if dev else in_prod)
        return values

    @model_validator(mode="after")
    def _no_default_secret_outside_dev(self) -> Settings:
        """A secret with a usable default applies only in dev mode: a deployment whose callback secret
        is the template's default, or whose Stripe secrets are plain values, refuses to start."""
        if self.mode == "dev":
            return self
        if self.provider_callback_secret == DEV_CALLBACK_SECRET:
            raise ValueError("PROVIDER_CALLBACK_SECRET is the template's default (the sandbox's); set "
                             "ProviderCallbackSecret to a secret of your own outside dev mode")
        if self.stripe_api_key or self.stripe_webhook_secret:
            raise ValueError("STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET are for dev mode; name Secrets Manager "
                             "secrets instead (STRIPE_SECRET_KEY_SECRET, STRIPE_WEBHOOK_SECRET_SECRET)")
        return self

    @property
    def stripe_configured(self) -> bool:
        return bool(self.stripe_secret_key_secret or self.stripe_api_key)

    @field_validator("provider_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("provider_urls", mode="before")
    @classmethod
    def _provider_urls(cls, raw: Any) -> Any:
        if raw in (None, ""):
            return {}
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise ValueError("PROVIDER_URLS must be a JSON object of provider id -> URL") from None
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise ValueError("PROVIDER_URLS must be a JSON object of provider id -> URL")
        return {k: v.rstrip("/") for k, v in raw.items()}

    @field_validator("webhook_schedule", mode="before")
    @classmethod
    def _schedule(cls, raw: Any) -> Any:
        """Seconds after each failed attempt, comma-separated; each at most SQS's visibility limit."""
        if isinstance(raw, str):
            try:
                raw = tuple(int(v) for v in raw.split(",") if v.strip())
            except ValueError:
                raise ValueError(f"bad retry schedule {raw!r}: seconds, comma-separated") from None
        if not raw or any(v < 0 or v > 43200 for v in raw):
            raise ValueError("retry delays must be 0 to 43200 seconds (the SQS visibility limit)")
        return raw

    def callback_secret(self) -> str:
        if not self.provider_callback_secret:
            raise ConfigurationError("PROVIDER_CALLBACK_SECRET is not set")
        return self.provider_callback_secret


# Variables whose default depends on the mode: (dev, prod).
_BY_MODE: dict[str, tuple[Any, Any]] = {
    "PROVIDER_TIMEOUT_SECONDS": (2.0, 10.0),
    "COMMAND_BACKOFF_SECONDS": (1, 5),
    "PROVIDER_BREAKER_COOLDOWN_SECONDS": (5.0, 30.0),
    "WEBHOOK_RETRY_SCHEDULE": (DEV_SCHEDULE, PRODUCTION_SCHEDULE),
}


def load_settings() -> Settings:
    """The settings the environment gives, validated; ConfigurationError names what is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"invalid configuration: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
