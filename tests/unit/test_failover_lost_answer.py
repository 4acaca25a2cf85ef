"""A lost answer on one try of a charge keeps the outcome unknown even when the later tries are refused
(the provider fell over as it answered): the exception says `charged_maybe`, so the payment is settled
at that provider and never failed over to another (found by `make simulate`, seed 13 at 60 payments)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from paygate.services.funding import failover
from paygate.services.ports.provider import ChargeResult, ProviderUnavailable


class Provider:
    """Answers each try from a list: an exception to raise or a result to return."""

    def __init__(self, answers: list[Any]):
        self.answers, self.keys = answers, []

    def charge(self, *, reference: str, amount: int, currency: str, token: str, idempotency_key: str) -> ChargeResult:
        self.keys.append(idempotency_key)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def card_with(provider: Provider) -> Any:
    ctx = SimpleNamespace(time_for_provider=lambda delay=0.0: True, sleep=lambda seconds: None)
    return SimpleNamespace(connector=lambda name: provider, ctx=ctx, method=SimpleNamespace(token="tok_success"))


PAYMENT = SimpleNamespace(amount=100, currency="USD")
LOST = ProviderUnavailable("timed out", charged_maybe=True)
REFUSED = ProviderUnavailable("connection refused")


def test_a_lost_answer_then_refusals_is_an_unknown_outcome() -> None:
    provider = Provider([LOST, REFUSED, REFUSED])
    with pytest.raises(ProviderUnavailable) as raised:
        failover._charge_with_retries(card_with(provider), PAYMENT, ("sandbox", "pay_1"))
    assert raised.value.charged_maybe is True
    assert provider.keys == ["pay_1"] * 3


def test_refusals_only_took_no_charge() -> None:
    provider = Provider([REFUSED, REFUSED, REFUSED])
    with pytest.raises(ProviderUnavailable) as raised:
        failover._charge_with_retries(card_with(provider), PAYMENT, ("sandbox", "pay_1"))
    assert raised.value.charged_maybe is False


def test_a_lost_answer_then_the_answer_is_the_charge() -> None:
    charged = ChargeResult("succeeded", "ch_1", None)
    provider = Provider([LOST, charged])
    assert failover._charge_with_retries(card_with(provider), PAYMENT, ("sandbox", "pay_1")) is charged


class LookedUp:
    """A provider whose look-up by reference answers ``found`` (or raises it)."""

    def __init__(self, found: Any):
        self.found, self.asked = found, []

    def find_charge(self, reference: str, request: Any = None) -> ChargeResult | None:
        self.asked.append(reference)
        if isinstance(self.found, Exception):
            raise self.found
        return self.found


def card_at(delivery: int, provider: LookedUp) -> Any:
    return SimpleNamespace(connector=lambda name: provider, ctx=SimpleNamespace(attempt=delivery),
                           request=lambda payment: None)


ROUTED = SimpleNamespace(route=("sandbox", "sandbox-b"), attempts=())


def test_a_refusal_on_the_first_delivery_took_no_charge() -> None:
    provider = LookedUp(REFUSED)
    assert failover._no_charge_at(card_at(1, provider), ROUTED, ("sandbox", "pay_1"), REFUSED) is True
    assert provider.asked == []


def test_a_refusal_on_a_redelivery_is_settled_by_the_lookup() -> None:
    """An earlier delivery may have charged and died before recording it (found by `make simulate`,
    seeds 7 and 8 at 1,000 payments: the redelivery failed over and charged at sandbox-b too)."""
    charged = ChargeResult("succeeded", "ch_1", None)
    assert failover._no_charge_at(card_at(2, LookedUp(charged)), ROUTED, ("sandbox", "pay_1"), REFUSED) is charged
    assert failover._no_charge_at(card_at(2, LookedUp(REFUSED)), ROUTED, ("sandbox", "pay_1"), REFUSED) is False
    assert failover._no_charge_at(card_at(2, LookedUp(None)), ROUTED, ("sandbox", "pay_1"), REFUSED) is True
