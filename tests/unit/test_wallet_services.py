"""Wallet and bill payments (the ledger's funding port) and the wallets service, over in-memory fakes
that refuse what DynamoDB's conditions refuse: a hold resolves exactly once, money moves all or nothing,
and every account of the ledger sums to zero."""

import pytest
from fakes import ScriptedProvider, unavailable
from world import World

from paygate.domain import ledger
from paygate.domain.methods import CardMethod, Destination, WalletMethod
from paygate.services import cancellation, wallets
from paygate.services.commands.outcomes import Done, RetryLater
from paygate.services.errors import InvalidRequest
from paygate.services.ports.provider import ChargeResult, ProviderRejected

BILL = Destination("svc_water", "42")


def test_a_wallet_payment_holds_then_captures_to_the_merchants_balance_in_one_command():
    # Given a customer with 1000, when a payment of 300 from the wallet runs its one command
    world = World()
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 300)
    assert world.run("payment.process", payment.id) == Done("COMPLETED")
    # Then the hold was placed with PROCESSING, then captured with COMPLETED: the money is the merchant's
    assert world.events(payment.id) == ["payment.created", "payment.processing", "payment.completed"]
    assert world.payment(payment.id).hold == "captured"
    assert world.available(ana) == (700, 0) and world.merchant_balance() == 300
    assert world.wallets.types(ana.wallet_id) == ["topup", "hold", "capture"]
    assert world.balanced() and world.provider.calls == []  # a wallet payment never calls the provider


def test_not_enough_money_fails_the_payment_and_holds_nothing():
    world = World()
    ana = world.customer(100)
    payment = world.wallet_payment(ana, 300)
    assert world.run("payment.process", payment.id) == Done("FAILED")
    assert world.payment(payment.id).failure.code == "insufficient_funds"
    assert world.events(payment.id) == ["payment.created", "payment.processing", "payment.failed"]
    assert world.available(ana) == (100, 0) and world.wallets.types(ana.wallet_id) == ["topup"]


def test_a_command_that_comes_again_after_its_hold_captures_it_once():
    # Given the command crashed right after the hold was written (its capture never happened)
    world = World()
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 300)
    moves = world.wallets.move

    def crash_after_the_hold(move, **written):
        moves(move, **written)
        if move.hold == "place":
            raise RuntimeError("the worker died")

    world.wallets.move = crash_after_the_hold
    with pytest.raises(RuntimeError):
        world.run("payment.process", payment.id)
    assert world.payment(payment.id).hold == "placed" and world.available(ana) == (700, 300)
    # When the command comes again, then it goes on from the hold: captured, never held twice
    world.wallets.move = moves
    assert world.run("payment.process", payment.id) == Done("COMPLETED")
    assert world.wallets.types(ana.wallet_id) == ["topup", "hold", "capture"]
    assert world.available(ana) == (700, 0) and world.merchant_balance() == 300 and world.balanced()


def test_a_copy_of_the_command_after_the_payment_ended_moves_no_money():
    world = World()
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 300)
    world.run("payment.process", payment.id)
    assert world.run("payment.process", payment.id) == Done("stale")
    assert world.wallets.types(ana.wallet_id) == ["topup", "hold", "capture"] and world.merchant_balance() == 300


def test_payments_racing_on_one_wallet_are_decided_again_and_never_overdraw_it():
    # Given two payments of 600 on a wallet of 1000, the second one's hold racing the first one's
    world = World()
    ana = world.customer(1000)
    first, second = world.wallet_payment(ana, 600), world.wallet_payment(ana, 600)
    world.wallets.before_move = lambda: world.run("payment.process", first.id)
    # When the second one's hold loses the race (its wallet moved on), it is decided again from a fresh read
    assert world.run("payment.process", second.id) == Done("FAILED")
    assert world.payment(first.id).status == "COMPLETED"
    assert world.payment(second.id).failure.code == "insufficient_funds"
    assert world.available(ana) == (400, 0) and world.merchant_balance() == 600 and world.balanced()


def test_a_bill_payment_pays_the_biller_once_then_captures_to_the_billers_account():
    world = World()
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 200, BILL)
    assert world.run("payment.process", payment.id) == Done("COMPLETED")
    [bill] = world.provider.bill_calls
    assert (bill["reference"], bill["idempotency_key"], bill["service_id"], bill["amount"]) == (
        payment.id, payment.id, "svc_water", 200)
    biller = ledger.biller_account(world.merchant.id, "svc_water", "USD")
    assert world.wallets.balance(biller) == 200 and world.merchant_balance() == 0
    assert world.available(ana) == (800, 0) and world.balanced()


def test_a_declined_bill_releases_the_hold():
    world = World(ScriptedProvider(bills=[ChargeResult("declined", "bill_1", "client_unknown")]))
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 200, BILL)
    assert world.run("payment.process", payment.id) == Done("FAILED")
    p = world.payment(payment.id)
    assert (p.failure.code, p.hold) == ("biller_declined", "released")
    assert world.wallets.types(ana.wallet_id) == ["topup", "hold", "release"] and world.available(ana) == (1000, 0)


def test_a_provider_that_refuses_the_bill_releases_the_hold():
    world = World(ScriptedProvider(bills=[ProviderRejected("HTTP 400")]))
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 200, BILL)
    assert world.run("payment.process", payment.id) == Done("FAILED")
    assert world.payment(payment.id).failure.code == "provider_rejected" and world.available(ana) == (1000, 0)


def test_a_provider_down_keeps_the_hold_and_comes_back_later():
    world = World(ScriptedProvider(bills=[unavailable()]))
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 200, BILL)
    outcome = world.run("payment.process", payment.id, attempt=2)
    assert isinstance(outcome, RetryLater) and outcome.seconds == 10
    assert world.payment(payment.id).hold == "placed" and world.available(ana) == (800, 200)


def test_on_the_last_attempt_a_biller_paid_after_all_is_captured_never_released():
    world = World(ScriptedProvider(bills=[unavailable()]), max_attempts=3)
    world.provider.bill_found = ChargeResult("succeeded", "bill_7")
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 200, BILL)
    assert world.run("payment.process", payment.id, attempt=3) == Done("COMPLETED")
    assert world.wallets.balance(ledger.biller_account(world.merchant.id, "svc_water", "USD")) == 200


def test_on_the_last_attempt_a_bill_never_paid_is_released():
    world = World(ScriptedProvider(bills=[unavailable()]), max_attempts=3)
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 200, BILL)
    assert world.run("payment.process", payment.id, attempt=3) == Done("FAILED")
    assert world.payment(payment.id).failure.code == "provider_unavailable" and world.available(ana) == (1000, 0)


def test_a_cancel_releases_the_hold_once():
    # Given a bill payment holding 200 while its provider is down
    world = World(ScriptedProvider(bills=[unavailable()]))
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 200, BILL)
    world.run("payment.process", payment.id)
    cancellation.request_cancel(world.payments, merchant=world.merchant, payment_id=payment.id, request=None,
                                correlation_id=None)
    # When its cancel command runs, then the hold is released with CANCELED
    assert world.run("payment.cancel", payment.id, 3) == Done("CANCELED")
    assert world.payment(payment.id).hold == "released" and world.available(ana) == (1000, 0)
    # And a copy of the cancel, or of the charge, releases nothing again
    assert world.run("payment.cancel", payment.id, 3) == Done("nothing to cancel")
    assert world.run("payment.process", payment.id) == Done("stale")
    assert world.wallets.types(ana.wallet_id) == ["topup", "hold", "release"] and world.balanced()


def test_a_dead_wallet_command_releases_its_hold_failed():
    world = World(ScriptedProvider(bills=[unavailable()]))
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 200, Destination("svc_phone", "7"))
    world.run("payment.process", payment.id)
    assert world.dead("payment.process", payment.id) == Done("FAILED")
    p = world.payment(payment.id)
    assert (p.failure.code, p.hold) == ("processing_error", "released") and world.available(ana) == (1000, 0)
    assert world.dead("payment.process", payment.id) == Done("nothing to end")


def test_a_dead_command_of_a_payment_holding_nothing_fails_it():
    world = World()
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 200)
    assert world.dead("payment.process", payment.id) == Done("FAILED")
    assert world.payment(payment.id).failure.code == "processing_error" and world.available(ana) == (1000, 0)


def test_a_settle_signal_for_a_wallet_payment_asks_no_provider():
    world = World()
    ana = world.customer(1000)
    payment = world.wallet_payment(ana, 200)
    assert world.run("payment.settle", payment.id) == Done("a wallet payment")
    assert world.payment(payment.id).status == "NEW"


def test_a_topup_is_credited_once_per_key():
    world = World()
    ana = world.customer(0)
    request = world.request("top-1", body=250)
    first, replayed = wallets.topup(world.wallets, merchant=world.merchant, wallet_id=ana.wallet_id, amount=250,
                                    request=request)
    again, replayed_again = wallets.topup(world.wallets, merchant=world.merchant, wallet_id=ana.wallet_id,
                                          amount=250, request=request)
    assert (replayed, replayed_again) == (False, True) and again == first
    assert world.available(ana) == (250, 0) and world.wallets.types(ana.wallet_id) == ["topup"] and world.balanced()


@pytest.mark.parametrize("what,param,code", [
    ("another merchant's wallet", "payment_method.wallet_id", "wallet_not_found"),
    ("another currency", "currency", "currency_mismatch"),
    ("an unknown biller", "destination.service_id", "unknown_service"),
])
def test_what_a_wallet_cannot_pay_is_refused_at_the_edge(what, param, code):
    world = World()
    ana = world.customer(1000)
    method, currency, destination = WalletMethod(ana.wallet_id), "USD", None
    if what == "another merchant's wallet":
        method = WalletMethod("wal_elsewhere")
    elif what == "another currency":
        currency = "EUR"
    else:
        destination = Destination("svc_casino", "1")
    with pytest.raises(InvalidRequest) as caught:
        world.pay(method, 100, currency, destination)
    assert (caught.value.param, caught.value.code) == (param, code) and world.payments.records == {}


def test_a_bill_is_never_paid_by_card_and_a_sandbox_token_must_be_known():
    world = World(sandbox=True)
    with pytest.raises(InvalidRequest) as by_card:
        world.pay(CardMethod("tok_success"), 100, destination=BILL)
    with pytest.raises(InvalidRequest) as unknown:
        world.pay(CardMethod("tok_nonsense"), 100)
    assert (by_card.value.code, unknown.value.code) == ("payment_method_unsupported", "invalid_token")
    assert world.pay(CardMethod("tok_success"), 100).status == "NEW"
