"""Provider settings: no usable default secret outside dev mode, and the providers' URLs."""

from __future__ import annotations

import pytest

from paygate.domain.providers.attempts import payment_id_of
from paygate.domain.providers.routing import Condition, Routing, Rule, UnknownProvider
from paygate.settings import ConfigurationError, load_settings

BASE = {"MERCHANTS_TABLE": "m", "AGGREGATES_TABLE": "a", "IDEMPOTENCY_TABLE": "i"}


def settings(monkeypatch, **env):
    for key, value in {**BASE, **env}.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def test_a_deploy_with_the_default_callback_secret_refuses_to_start(monkeypatch):
    with pytest.raises(ConfigurationError, match="PROVIDER_CALLBACK_SECRET is the template's default"):
        settings(monkeypatch, PAYGATE_MODE="prod", PROVIDER_CALLBACK_SECRET="sandbox_secret")
    assert settings(monkeypatch, PAYGATE_MODE="dev", PROVIDER_CALLBACK_SECRET="sandbox_secret").dev
    assert settings(monkeypatch, PAYGATE_MODE="prod", PROVIDER_CALLBACK_SECRET="a-secret-of-ours").mode == "prod"


def test_stripe_secrets_as_plain_values_are_for_dev_mode_only(monkeypatch):
    with pytest.raises(ConfigurationError, match="STRIPE_API_KEY"):
        settings(monkeypatch, PAYGATE_MODE="prod", STRIPE_API_KEY="sk_test_x")
    named = settings(monkeypatch, PAYGATE_MODE="prod", STRIPE_API_KEY="", STRIPE_SECRET_KEY_SECRET="paygate/stripe")
    assert named.stripe_configured and "sk_test" not in repr(named)


def test_provider_urls_are_a_json_object(monkeypatch):
    assert settings(monkeypatch, PROVIDER_URLS='{"sandbox-b": "http://127.0.0.1:1/"}').provider_urls == {
        "sandbox-b": "http://127.0.0.1:1"}
    with pytest.raises(ConfigurationError, match="PROVIDER_URLS"):
        settings(monkeypatch, PROVIDER_URLS="[1]")


def test_the_first_matching_rule_decides_then_the_default():
    routing = Routing(rules=(Rule(Condition(currency="EUR", max_amount=100), ("stripe",)),
                             Rule(Condition(min_amount=1000), ("sandbox-b", "sandbox"))), default=("sandbox",))
    assert routing.route(currency="eur", amount=50, method="card") == ("stripe",)
    assert routing.route(currency="EUR", amount=5000, method="card") == ("sandbox-b", "sandbox")
    assert routing.route(currency="USD", amount=500, method="card") == ("sandbox",)
    with pytest.raises(UnknownProvider) as err:
        Routing(default=("sandbox", "adyen")).check()
    assert err.value.path == "default[1]"


def test_an_attempts_reference_names_its_payment():
    assert payment_id_of("pay_abc_2") == "pay_abc" and payment_id_of("pay_abc") == "pay_abc"
