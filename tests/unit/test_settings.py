"""The settings model: every variable validated once, each wrong one named with its reason, the
defaults of the mode; and no cold-start cost of a settings library."""

from __future__ import annotations

import subprocess
import sys

import pytest

from paygate.domain.webhooks import DEV_SCHEDULE, PRODUCTION_SCHEDULE
from paygate.settings import ConfigurationError, load_settings

BASE = {"MERCHANTS_TABLE": "m", "AGGREGATES_TABLE": "a", "IDEMPOTENCY_TABLE": "i"}


def test_the_template_s_values_and_the_defaults_of_each_mode() -> None:
    prod = load_settings({**BASE, "PROVIDER_URL": "http://127.0.0.1:4010/", "WEBHOOK_RETRY_SCHEDULE": ""})
    assert (prod.mode, prod.dev, prod.merchants_table, prod.provider_url) == ("prod", False, "m", "http://127.0.0.1:4010")
    assert (prod.provider_timeout, prod.command_backoff_base, prod.breaker_cooldown) == (10.0, 5, 30.0)
    assert prod.webhook_schedule == PRODUCTION_SCHEDULE and prod.provider_callback_secret is None
    dev = load_settings({**BASE, "PAYGATE_MODE": "dev", "COMMAND_MAX_ATTEMPTS": "3", "WEBHOOK_TIMEOUT_SECONDS": "2.5"})
    assert (dev.provider_timeout, dev.command_backoff_base, dev.breaker_cooldown) == (2.0, 1, 5.0)
    assert (dev.webhook_schedule, dev.command_max_attempts, dev.webhook_timeout) == (DEV_SCHEDULE, 3, 2.5)
    assert load_settings({**BASE, "WEBHOOK_RETRY_SCHEDULE": "1, 2,3"}).webhook_schedule == (1, 2, 3)


@pytest.mark.parametrize(("env", "says"), [
    ({"MERCHANTS_TABLE": ""}, "MERCHANTS_TABLE: must be set"),
    ({"PAYGATE_MODE": "staging"}, "PAYGATE_MODE: must be one of prod, dev"),
    ({"PROVIDER_TIMEOUT_SECONDS": "0"}, "PROVIDER_TIMEOUT_SECONDS: must be greater than 0"),
    ({"COMMAND_MAX_ATTEMPTS": "two"}, "COMMAND_MAX_ATTEMPTS: must be an integer"),
    ({"COMMAND_MAX_ATTEMPTS": "0"}, "COMMAND_MAX_ATTEMPTS: must be at least 1"),
    ({"RECONCILE_AFTER_SECONDS": "-1"}, "RECONCILE_AFTER_SECONDS: must be at least 0"),
    ({"WEBHOOK_RETRY_SCHEDULE": "5,x"}, "bad retry schedule"),
    ({"WEBHOOK_RETRY_SCHEDULE": "5,43201"}, "0 to 43200 seconds"),
    ({"PROVIDER_URLS": "{\"b\": 1}"}, "PROVIDER_URLS: must be a JSON object"),
])
def test_a_wrong_variable_is_named_with_its_reason(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid configuration: .*" + says.replace("(", r"\(")):
        load_settings({**BASE, **env})


def test_every_wrong_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings({"AGGREGATES_TABLE": "a", "WEBHOOK_MAX_ATTEMPTS": "0"})
    assert all(name in str(err.value) for name in ("MERCHANTS_TABLE", "IDEMPOTENCY_TABLE", "WEBHOOK_MAX_ATTEMPTS"))


def test_secrets_are_not_in_the_repr() -> None:
    shown = repr(load_settings({**BASE, "PAYGATE_MODE": "dev", "PROVIDER_CALLBACK_SECRET": "cb-secret",
                                "STRIPE_API_KEY": "sk_test_secret", "STRIPE_WEBHOOK_SECRET": "whsec_secret"}))
    assert not any(s in shown for s in ("cb-secret", "sk_test_secret", "whsec_secret"))


def test_loading_the_settings_imports_no_settings_library() -> None:
    """Every function loads them at its cold start: pydantic (and pydantic-settings) cost ~100 ms there."""
    code = ("import sys; from paygate.settings import load_settings; "
            "load_settings({'MERCHANTS_TABLE': 'm', 'AGGREGATES_TABLE': 'a', 'IDEMPOTENCY_TABLE': 'i'}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_settings')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": ":".join(sys.path)}).stdout.strip()
    assert out == "[]"
