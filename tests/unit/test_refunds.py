"""Refunds, over in-memory fakes: accepted with their amount reserved (never more than was paid), then
given back by the payment's funding, a card's at its provider (once, by the refund's id), a wallet
payment's to the wallet; a refund that fails releases its reservation."""

import pytest
from fakes import ScriptedProvider, unavailable
from world import OK, World

from paygate.domain import ledger
from paygate.domain.methods import CardMethod, Destination
from paygate.services.commands.outcomes import Done, RetryLater
from paygate.services.errors import InvalidRequest, InvalidState
from paygate.services.ports.provider import ProviderRejected, RefundResult


def completed_card(world: World, amount: int = 1000):
    payment = world.pay(CardMethod("tok_success"), amount)
    assert world.run("payment.process", payment.id) == Done("COMPLETED")
    return world.payment(payment.id)


def completed_wallet(world: World, amount: int = 600, funds: int = 1000):
    ana = world.customer(funds)
    payment = world.wallet_payment(ana, amount)
    assert world.run("payment.process", payment.id) == Done("COMPLETED")
    return ana, world.payment(payment.id)


def process(world: World, refund, **delivery):
    return world.run("refund.process", refund.payment_id, refund.version, refund_id=refund.id, **delivery)


def test_accepted_refunds_never_add_up_to_more_than_was_paid():
    world = World()
    payment = completed_card(world)
    first = world.refund(payment, 600)
    with pytest.raises(InvalidRequest) as caught:
        world.refund(payment, 500)
    assert caught.value.code == "amount_too_large" and world.refunds.reserved(payment.id) == 600
    rest = world.refund(payment)  # no amount: all that is left
    assert (first.status, rest.amount, world.refunds.reserved(payment.id)) == ("PENDING", 400, 1000)


def test_only_a_completed_payment_is_refunded():
    world = World()
    payment = world.pay(CardMethod("tok_success"), 1000)
    with pytest.raises(InvalidState):
        world.refund(payment, 100)
    assert world.refunds.records == {}


def test_a_replay_answers_the_accepted_refund_even_once_nothing_is_left_and_looks_the_key_up_only_then():
    world = World()
    payment = completed_card(world)
    looked_up = []
    find_key = world.payments.find_key
    world.payments.find_key = lambda scope: looked_up.append(scope) or find_key(scope)
    first = world.refund(payment, key="r1")
    assert looked_up == []  # an accepted refund costs no key read
    again = world.refund(payment, key="r1")  # refused now (nothing left), but this very request was accepted
    assert again == first and looked_up == ["mer_1#r1"] and len(world.refunds.records) == 1


def test_a_card_refund_is_made_at_the_provider_once_with_the_refunds_id_and_recorded_on_the_payment():
    world = World()
    payment = completed_card(world)
    refund = world.refund(payment, 300)
    assert process(world, refund) == Done("SUCCEEDED")
    assert process(world, refund) == Done("stale")  # a copy of the command refunds nothing again
    [call] = world.provider.refund_calls
    assert (call["charge_id"], call["amount"], call["idempotency_key"]) == ("ch_1", 300, refund.id)
    assert world.refunds.refund(refund.id).status == "SUCCEEDED"
    p = world.payment(payment.id)
    assert p.amount_refunded == 300 and world.events(payment.id)[-1] == "payment.refunded"


def test_a_refund_the_provider_refuses_fails_and_releases_its_amount():
    world = World(ScriptedProvider(OK, refunds=[ProviderRejected("HTTP 400")]))
    payment = completed_card(world)
    refund = world.refund(payment, 1000)
    assert process(world, refund) == Done("FAILED")
    assert world.refunds.refund(refund.id).failure.code == "provider_rejected"
    assert world.refunds.reserved(payment.id) == 0 and world.payment(payment.id).amount_refunded == 0
    assert world.refund(payment, 1000).status == "PENDING"  # the whole amount can be asked for again


def test_a_provider_down_leaves_the_refund_pending_until_its_last_attempt_asks_what_it_did():
    world = World(ScriptedProvider(OK, refunds=[unavailable()]), max_attempts=3)
    payment = completed_card(world)
    refund = world.refund(payment, 200)
    outcome = process(world, refund, attempt=1)
    assert isinstance(outcome, RetryLater) and world.refunds.refund(refund.id).status == "PENDING"
    # On the last attempt the provider is asked by the refund's key: it had refunded after all
    world.provider.refunded[refund.id] = RefundResult("succeeded", "pre_hidden")
    assert process(world, refund, attempt=3) == Done("SUCCEEDED")
    assert world.refunds.refund(refund.id).provider_refund_id == "pre_hidden"


def test_on_the_last_attempt_a_refund_the_provider_never_made_fails_released():
    world = World(ScriptedProvider(OK, refunds=[unavailable()]), max_attempts=3)
    payment = completed_card(world)
    refund = world.refund(payment, 200)
    assert process(world, refund, attempt=3) == Done("FAILED")
    assert world.refunds.refund(refund.id).failure.code == "provider_unavailable"
    assert world.refunds.reserved(payment.id) == 0


def test_a_refund_of_a_wallet_payment_goes_back_to_the_wallet():
    world = World()
    ana, payment = completed_wallet(world, 600)
    refund = world.refund(payment, 250)
    assert process(world, refund) == Done("SUCCEEDED")
    # From the merchant's balance back to the wallet's available, with the refund's outcome and
    # payment.refunded in the same transaction; no provider is asked
    assert world.available(ana) == (650, 0) and world.merchant_balance() == 350
    assert world.wallets.types(ana.wallet_id) == ["topup", "hold", "capture", "refund"]
    assert world.refunds.refund(refund.id).status == "SUCCEEDED" and world.payment(payment.id).amount_refunded == 250
    assert world.provider.refund_calls == [] and world.balanced()
    assert process(world, refund) == Done("stale") and world.available(ana) == (650, 0)


def test_a_refund_of_a_bill_payment_comes_back_from_the_billers_account():
    world = World()
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 200, Destination("svc_water", "42"))
    world.run("payment.process", payment.id)
    refund = world.refund(world.payment(payment.id), 200)
    assert process(world, refund) == Done("SUCCEEDED")
    assert world.wallets.balance(ledger.biller_account(world.merchant.id, "svc_water", "USD")) == 0
    assert world.available(ana) == (1000, 0) and world.balanced()


def test_a_wallet_refund_the_merchants_balance_cannot_cover_fails_and_releases_its_amount():
    world = World()
    ana, payment = completed_wallet(world, 600)
    refund = world.refund(payment, 100)
    # The balance held less than the refund by then (paid out to the merchant, outside this ledger)
    world.wallets.book.balances[ledger.merchant_balance(world.merchant.id, "USD")] = 50
    assert process(world, refund) == Done("FAILED")
    assert world.refunds.refund(refund.id).failure.code == "insufficient_balance"
    assert world.refunds.reserved(payment.id) == 0 and world.available(ana) == (400, 0)
    assert world.wallets.types(ana.wallet_id) == ["topup", "hold", "capture"]


def test_a_dead_card_refund_is_settled_by_what_the_provider_did():
    world = World(ScriptedProvider(OK, refunds=[unavailable()]))
    payment = completed_card(world)
    made, never = world.refund(payment, 100), world.refund(payment, 200)
    world.provider.refunded[made.id] = RefundResult("succeeded", "pre_9")
    assert world.dead("refund.process", payment.id, 1, refund_id=made.id) == Done("SUCCEEDED")
    assert world.dead("refund.process", payment.id, 1, refund_id=never.id) == Done("FAILED")
    assert world.payment(payment.id).amount_refunded == 100 and world.refunds.reserved(payment.id) == 100


def test_a_dead_wallet_refund_fails_and_releases_its_amount_without_asking_a_provider():
    world = World()
    ana, payment = completed_wallet(world, 600)
    refund = world.refund(payment, 100)
    assert world.dead("refund.process", payment.id, 1, refund_id=refund.id) == Done("FAILED")
    assert world.refunds.refund(refund.id).failure.code == "processing_error"
    assert world.refunds.reserved(payment.id) == 0 and world.available(ana) == (400, 0)
    assert world.provider.refund_calls == []
