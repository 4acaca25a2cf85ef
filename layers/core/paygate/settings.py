"""Configuration: one validated model of what the template gives every function in its environment,
read once per process, at its first use (nothing reads the environment at import time: tests and the
local runtime set it first). A value that does not validate stops the function at its first
invocation with the variable's name, rather than failing a payment later.

A frozen dataclass and a table of its variables, each with its parser and rule, rather than
pydantic-settings: every function loads the settings at its cold start, and pydantic-settings costs
them about 100 ms of CPU to import (docs/performance.md, "The core regrouped") for what this does
in a page.

Nothing else in functions/ or services/ reads the environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from paygate.domain.webhooks import DEV_SCHEDULE, PRODUCTION_SCHEDULE


class ConfigurationError(RuntimeError):
    pass


# The sandbox's callback secret: the template's default, usable in dev mode only.
DEV_CALLBACK_SECRET = "sandbox_secret"
MODES = ("prod", "dev")
MAX_VISIBILITY_SECONDS = 43200  # SQS's longest visibility timeout: the longest retry delay


@dataclass(frozen=True)
class Settings:
    mode: str = "prod"
    merchants_table: str = ""
    aggregates_table: str = ""
    idempotency_table: str = ""
    events_table: str = ""
    commands_queue_url: str = ""
    webhooks_queue_url: str = ""
    webhooks_dlq_url: str = ""
    provider_url: str = ""
    # The other providers' base URLs by provider id (JSON), e.g. {"sandbox-b": "http://127.0.0.1:4011"}.
    provider_urls: dict[str, str] = field(default_factory=dict)
    # The callbacks function's only: the secret the provider signs its callbacks with.
    provider_callback_secret: str | None = field(default=None, repr=False)
    # Stripe: its API (empty: Stripe itself; localstripe or a fake in tests), and its secret key and
    # webhook secret, named as Secrets Manager secrets (read at cold start by the composition root), or
    # given as values in dev mode only (paygate dev provides them itself).
    stripe_api_base: str = ""
    stripe_secret_key_secret: str = ""
    stripe_webhook_secret_secret: str = ""
    stripe_api_key: str = field(default="", repr=False)
    stripe_webhook_secret: str = field(default="", repr=False)
    # Defaults by mode (dev: a quicker provider timeout, backoff, breaker and webhook schedule): _BY_MODE.
    provider_timeout: float = 10.0
    breaker_cooldown: float = 30.0
    command_max_attempts: int = 5
    command_backoff_base: int = 5
    webhook_max_attempts: int = 8
    webhook_schedule: tuple[int, ...] = PRODUCTION_SCHEDULE
    webhook_timeout: float = 10.0
    reconcile_after_seconds: int = 600
    webhook_concurrency: int = 16
    max_body_bytes: int = 64 * 1024

    @property
    def dev(self) -> bool:
        return self.mode == "dev"

    @property
    def stripe_configured(self) -> bool:
        return bool(self.stripe_secret_key_secret or self.stripe_api_key)

    def callback_secret(self) -> str:
        if not self.provider_callback_secret:
            raise ConfigurationError("PROVIDER_CALLBACK_SECRET is not set")
        return self.provider_callback_secret


# ---------------------------------------------------------------- parsers (ValueError: the reason)

def _text(raw: str) -> str:
    return raw


def _required(raw: str) -> str:
    if not raw:
        raise ValueError("must not be empty")
    return raw


def _url(raw: str) -> str:
    return raw.rstrip("/")


def _mode(raw: str) -> str:
    if raw not in MODES:
        raise ValueError(f"must be one of {', '.join(MODES)}, not {raw!r}")
    return raw


def _number(kind: type, *, above: float | None = None, at_least: float | None = None) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"must be {'an integer' if kind is int else 'a number'}, not {raw!r}") from None
        if above is not None and not value > above:
            raise ValueError(f"must be greater than {above:g}")
        if at_least is not None and not value >= at_least:
            raise ValueError(f"must be at least {at_least:g}")
        return value
    return parse


def _provider_urls(raw: str) -> dict[str, str]:
    if not raw:
        return {}
    try:
        urls = json.loads(raw)
    except ValueError:
        urls = None
    if not isinstance(urls, dict) or not all(isinstance(v, str) for v in urls.values()):
        raise ValueError("must be a JSON object of provider id -> URL")
    return {k: v.rstrip("/") for k, v in urls.items()}


def _schedule(raw: str) -> tuple[int, ...]:
    """Seconds after each failed attempt, comma-separated; each at most SQS's visibility limit."""
    try:
        delays = tuple(int(v) for v in raw.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"bad retry schedule {raw!r}: seconds, comma-separated") from None
    if not delays or any(v < 0 or v > MAX_VISIBILITY_SECONDS for v in delays):
        raise ValueError(f"retry delays must be 0 to {MAX_VISIBILITY_SECONDS} seconds (the SQS visibility limit)")
    return delays


# Each field: its variable and its parser. Unset or empty: the field's default (or its mode's, below).
_VARIABLES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "mode": ("PAYGATE_MODE", _mode),
    "merchants_table": ("MERCHANTS_TABLE", _required),
    "aggregates_table": ("AGGREGATES_TABLE", _required),
    "idempotency_table": ("IDEMPOTENCY_TABLE", _required),
    "events_table": ("EVENTS_TABLE", _text),
    "commands_queue_url": ("COMMANDS_QUEUE_URL", _text),
    "webhooks_queue_url": ("WEBHOOKS_QUEUE_URL", _text),
    "webhooks_dlq_url": ("WEBHOOKS_DLQ_URL", _text),
    "provider_url": ("PROVIDER_URL", _url),
    "provider_urls": ("PROVIDER_URLS", _provider_urls),
    "provider_callback_secret": ("PROVIDER_CALLBACK_SECRET", _text),
    "stripe_api_base": ("STRIPE_API_BASE", _text),
    "stripe_secret_key_secret": ("STRIPE_SECRET_KEY_SECRET", _text),
    "stripe_webhook_secret_secret": ("STRIPE_WEBHOOK_SECRET_SECRET", _text),
    "stripe_api_key": ("STRIPE_API_KEY", _text),
    "stripe_webhook_secret": ("STRIPE_WEBHOOK_SECRET", _text),
    "provider_timeout": ("PROVIDER_TIMEOUT_SECONDS", _number(float, above=0)),
    "breaker_cooldown": ("PROVIDER_BREAKER_COOLDOWN_SECONDS", _number(float, at_least=0)),
    "command_max_attempts": ("COMMAND_MAX_ATTEMPTS", _number(int, at_least=1)),
    "command_backoff_base": ("COMMAND_BACKOFF_SECONDS", _number(int, at_least=0)),
    "webhook_max_attempts": ("WEBHOOK_MAX_ATTEMPTS", _number(int, at_least=1)),
    "webhook_schedule": ("WEBHOOK_RETRY_SCHEDULE", _schedule),
    "webhook_timeout": ("WEBHOOK_TIMEOUT_SECONDS", _number(float, above=0)),
    "reconcile_after_seconds": ("RECONCILE_AFTER_SECONDS", _number(int, at_least=0)),
}

# Fields whose default depends on the mode: (dev, prod).
_BY_MODE: dict[str, tuple[Any, Any]] = {
    "provider_timeout": (2.0, 10.0),
    "command_backoff_base": (1, 5),
    "breaker_cooldown": (5.0, 30.0),
    "webhook_schedule": (DEV_SCHEDULE, PRODUCTION_SCHEDULE),
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings the environment gives, validated; ConfigurationError names every variable that is
    wrong, and why."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, (variable, parse) in _VARIABLES.items():
        raw = env.get(variable)
        if raw is None or raw == "":
            if parse is _required:
                problems.append(f"{variable}: must be set")
            continue
        try:
            values[name] = parse(raw)
        except ValueError as bad:
            problems.append(f"{variable}: {bad}")
    dev = values.get("mode") == "dev"
    for name, (in_dev, in_prod) in _BY_MODE.items():
        values.setdefault(name, in_dev if dev else in_prod)
    if not problems:
        problems += _secrets_outside_dev(values)
    if problems:
        raise ConfigurationError(f"invalid configuration: {'; '.join(problems)}")
    return Settings(**values)


def _secrets_outside_dev(values: dict[str, Any]) -> list[str]:
    """A secret with a usable default applies only in dev mode: a deployment whose callback secret is
    the template's default, or whose Stripe secrets are plain values, refuses to start."""
    if values.get("mode") == "dev":
        return []
    if values.get("provider_callback_secret") == DEV_CALLBACK_SECRET:
        return ["PROVIDER_CALLBACK_SECRET is the template's default (the sandbox's); set "
                "ProviderCallbackSecret to a secret of your own outside dev mode"]
    if values.get("stripe_api_key") or values.get("stripe_webhook_secret"):
        return ["STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET are for dev mode; name Secrets Manager secrets "
                "instead (STRIPE_SECRET_KEY_SECRET, STRIPE_WEBHOOK_SECRET_SECRET)"]
    return []


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
