"""Cancels, over in-memory fakes: the merchant's cancel recorded at once (with or without its key),
then settled by its command by what the provider holds: never a charge lost, never a void of money
taken; a wallet's hold released (tests/unit/test_wallet_funding.py)."""

import pytest
from fakes import ScriptedProvider, unavailable
from world import OK, World

from paygate.domain.methods import CardMethod
from paygate.services import cancellation
from paygate.services.commands.outcomes import Done, RetryLater
from paygate.services.errors import IdempotencyKeyReused, InvalidState
from paygate.services.ports.provider import ChargeResult

PENDING = ChargeResult("pending", "ch_p")


def cancel(world: World, payment_id: str, key: str | None = None):
    request = None if key is None else world.request(key, path=f"/v1/payments/{payment_id}/cancel")
    return cancellation.request_cancel(world.payments, merchant=world.merchant, payment_id=payment_id,
                                       request=request, correlation_id="corr")


def pending_payment(world: World):
    """A card payment PROCESSING: its charge pending at the provider."""
    payment = world.pay(CardMethod("tok_pending"))
    world.provider.answers = [PENDING]
    assert world.run("payment.process", payment.id) == Done("pending at the provider")
    world.provider.found = PENDING
    return world.payment(payment.id)


def test_a_cancel_is_recorded_at_once_and_answered_with_the_payment_right_after_it():
    world = World()
    payment = world.pay(CardMethod("tok_success"))
    done = cancel(world, payment.id)
    assert done.payment.cancel_requested and done.payment.status == "NEW" and not done.replayed
    assert world.events(payment.id) == ["payment.created", "payment.cancel_requested"]
    # The processor never charges a payment whose cancel was requested
    assert world.run("payment.process", payment.id) == Done("cancel requested") and world.provider.calls == []


def test_asking_twice_is_one_cancel():
    world = World()
    payment = world.pay(CardMethod("tok_success"))
    first, again = cancel(world, payment.id), cancel(world, payment.id)
    assert again.payment == first.payment and world.events(payment.id)[-1] == "payment.cancel_requested"
    assert len(world.events(payment.id)) == 2


def test_a_final_payment_cannot_be_canceled():
    world = World()
    payment = world.pay(CardMethod("tok_success"))
    world.run("payment.process", payment.id)
    with pytest.raises(InvalidState):
        cancel(world, payment.id)


def test_a_key_replays_the_first_answer_whatever_the_payment_became():
    world = World()
    payment = world.pay(CardMethod("tok_success"))
    first = cancel(world, payment.id, key="c1")
    assert world.run("payment.cancel", payment.id, 2) == Done("CANCELED")
    again = cancel(world, payment.id, key="c1")
    assert again.replayed and again.payment == first.payment and again.payment.status == "NEW"


def test_a_second_cancel_with_its_own_key_writes_the_key_alone_and_replays_after_the_cancel():
    # Given a cancel already requested (without a key)
    world = World()
    payment = world.pay(CardMethod("tok_success"))
    cancel(world, payment.id)
    versions = len(world.events(payment.id))
    # When another cancel comes with its key, the key is written alone (the payment is not written again)
    second = cancel(world, payment.id, key="c2")
    assert not second.replayed and len(world.events(payment.id)) == versions
    assert world.payments.find_key("mer_1#c2").ref == payment.id
    # Then once the payment is CANCELED, the same request again answers what it answered, not a 409
    world.run("payment.cancel", payment.id, 2)
    replay = cancel(world, payment.id, key="c2")
    assert replay.replayed and replay.payment == second.payment and replay.payment.cancel_requested


def test_a_key_used_by_another_request_is_refused():
    world = World()
    one, two = world.pay(CardMethod("tok_success")), world.pay(CardMethod("tok_success"))
    cancel(world, one.id, key="c1")
    with pytest.raises(IdempotencyKeyReused):
        cancel(world, two.id, key="c1")


def test_no_charge_at_the_provider_cancels():
    world = World()
    payment = world.pay(CardMethod("tok_success"))
    cancel(world, payment.id)
    assert world.run("payment.cancel", payment.id, 2) == Done("CANCELED")
    assert world.run("payment.cancel", payment.id, 2) == Done("nothing to cancel")
    assert world.events(payment.id) == ["payment.created", "payment.cancel_requested", "payment.canceled"]


def test_a_pending_charge_is_voided_then_canceled():
    world = World()
    payment = pending_payment(world)
    cancel(world, payment.id)
    assert world.run("payment.cancel", payment.id, 3) == Done("CANCELED")
    assert world.provider.voided == ["ch_p"] and world.payment(payment.id).status == "CANCELED"


def test_a_charge_taken_before_the_cancel_ends_completed_never_lost():
    world = World()
    payment = world.pay(CardMethod("tok_success"))
    cancel(world, payment.id)
    world.provider.found = ChargeResult("succeeded", "ch_taken")  # charged, the processor's write lost
    assert world.run("payment.cancel", payment.id, 2) == Done("COMPLETED")
    p = world.payment(payment.id)
    assert (p.status, p.provider_charge_id) == ("COMPLETED", "ch_taken") and world.provider.voided == []
    assert world.events(payment.id)[-2:] == ["payment.processing", "payment.completed"]


def test_a_void_refused_because_the_charge_succeeded_meanwhile_completes_the_payment():
    world = World()
    payment = pending_payment(world)
    cancel(world, payment.id)
    world.provider.void_refused = True
    found = iter([PENDING, ChargeResult("succeeded", "ch_p")])
    world.provider.find_charge = lambda reference, request=None: next(found)
    assert world.run("payment.cancel", payment.id, 3) == Done("COMPLETED")
    assert world.payment(payment.id).provider_charge_id == "ch_p"


def test_a_charge_still_pending_after_a_refused_void_is_asked_again_later():
    world = World()
    payment = pending_payment(world)
    cancel(world, payment.id)
    world.provider.void_refused = True
    outcome = world.run("payment.cancel", payment.id, 3, attempt=2)
    assert isinstance(outcome, RetryLater) and outcome.seconds == 10
    assert world.payment(payment.id).status == "PROCESSING"


def test_a_provider_down_comes_back_later_and_changes_nothing():
    world = World(ScriptedProvider(OK))
    payment = world.pay(CardMethod("tok_success"))
    cancel(world, payment.id)

    def down(reference, request=None):
        raise unavailable()

    world.provider.find_charge = down
    assert isinstance(world.run("payment.cancel", payment.id, 2), RetryLater)
    assert world.payment(payment.id).status == "NEW" and world.payment(payment.id).cancel_requested
