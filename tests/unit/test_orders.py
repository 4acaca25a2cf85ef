"""Orders, over in-memory fakes: the order and its payment task written together (the outbox), the
task recorded once by the payment side (the inbox), the order moved on by its payment's outcome with
the customer told, once."""

import pytest
from world import World

from paygate.domain.methods import WalletMethod
from paygate.services import cancellation, orders
from paygate.services.commands.outcomes import Done
from paygate.services.errors import InvalidRequest


def order(world: World, customer, amount: int = 300, key: str | None = None, currency: str | None = None):
    return orders.create_order(world.orders, world.wallets, merchant=world.merchant,
                               request=world.request(key, path="/v1/orders", body=amount), customer_id=customer.id,
                               amount=amount, currency=currency, description="Order #1", correlation_id="corr")


def pay(world: World, o) -> Done:
    return world.run("order.pay", o.task_payment_id, 1, order_id=o.id)


def settle(world: World, o) -> Done:
    return world.run("order.settle", o.task_payment_id, 3, order_id=o.id)


def test_an_order_is_written_with_its_key_and_the_same_key_answers_the_same_order():
    world = World()
    ana = world.customer(1000)
    first = order(world, ana, key="o1")
    again = order(world, ana, key="o1")
    assert (first.replayed, again.replayed) == (False, True) and again.order == first.order
    assert first.order.status == "NEW" and first.order.payment_id is None and len(world.orders.records) == 1


@pytest.mark.parametrize("case,code", [("another merchant's customer", "customer_not_found"),
                                       ("another currency", "currency_mismatch")])
def test_what_an_order_cannot_be_is_refused(case, code):
    world = World()
    ana = world.customer(1000)
    if case == "another merchant's customer":
        ana = type(ana)(**{**ana.__dict__, "id": "cus_elsewhere"})
    with pytest.raises(InvalidRequest) as caught:
        order(world, ana, currency="EUR" if case == "another currency" else None)
    assert caught.value.code == code and world.orders.records == {}


def test_the_task_is_recorded_once_however_often_it_is_delivered():
    world = World()
    ana = world.customer(1000)
    o = order(world, ana).order
    assert pay(world, o) == Done("payment made")
    assert pay(world, o) == Done("recorded already")
    [payment] = world.payments.records.values()
    p = payment.state
    assert (p.id, p.amount, p.order_id, p.payment_method) == (o.task_payment_id, 300, o.id, WalletMethod(ana.wallet_id))


def test_a_paid_order_finishes_with_its_payment_and_the_customer_is_told_once():
    world = World()
    ana = world.customer(1000)
    o = order(world, ana).order
    pay(world, o)
    assert world.run("payment.process", o.task_payment_id) == Done("COMPLETED")
    assert settle(world, o) == Done("FINISHED")
    assert settle(world, o) == Done("nothing to settle")
    finished = world.orders.order(o.id)
    assert (finished.status, finished.payment_id) == ("FINISHED", o.task_payment_id)
    [note] = world.orders.notifications(ana.id, limit=10)
    assert note.type == "order.finished" and "approved" in note.message and note.order_id == o.id
    assert world.available(ana) == (700, 0) and world.balanced()


def test_an_order_its_wallet_cannot_pay_is_canceled_with_the_payments_failure():
    world = World()
    ana = world.customer(100)
    o = order(world, ana).order
    pay(world, o)
    assert world.run("payment.process", o.task_payment_id) == Done("FAILED")
    assert settle(world, o) == Done("CANCELED")
    canceled = world.orders.order(o.id)
    assert canceled.failure.code == "insufficient_funds" and canceled.payment_id == o.task_payment_id
    [note] = world.orders.notifications(ana.id, limit=10)
    assert note.type == "order.canceled" and "declined" in note.message
    assert world.available(ana) == (100, 0)


def test_an_order_whose_payment_the_merchant_canceled_is_canceled_and_its_customer_told():
    # Given an order's payment canceled by the merchant before its command ran
    world = World()
    ana = world.customer(1000)
    o = order(world, ana).order
    pay(world, o)
    cancellation.request_cancel(world.payments, merchant=world.merchant, payment_id=o.task_payment_id,
                                request=None, correlation_id="corr")
    assert world.run("payment.process", o.task_payment_id, 2) == Done("cancel requested")
    assert world.run("payment.cancel", o.task_payment_id, 2) == Done("CANCELED")
    # When the order is settled, then it is CANCELED too (never FINISHED), and nothing left the wallet
    assert settle(world, o) == Done("CANCELED")
    canceled = world.orders.order(o.id)
    assert (canceled.status, canceled.failure.code) == ("CANCELED", "payment_canceled")
    [note] = world.orders.notifications(ana.id, limit=10)
    assert note.type == "order.canceled" and world.available(ana) == (1000, 0) and world.merchant_balance() == 0


def test_an_order_is_not_settled_before_its_payment_ends():
    world = World()
    ana = world.customer(1000)
    o = order(world, ana).order
    pay(world, o)
    assert settle(world, o) == Done("nothing to settle") and world.orders.order(o.id).status == "NEW"


def test_a_wallet_gone_cancels_the_order_and_makes_no_payment():
    world = World()
    ana = world.customer(1000)
    o = order(world, ana).order
    del world.wallets.wallets[ana.wallet_id]
    assert pay(world, o) == Done("CANCELED")
    assert world.orders.order(o.id).failure.code == "wallet_not_found" and world.payments.records == {}


def test_a_dead_task_cancels_an_unpaid_order_and_leaves_a_paid_one_to_its_payment():
    world = World()
    ana = world.customer(1000)
    unpaid, paid = order(world, ana).order, order(world, ana).order
    pay(world, paid)
    assert world.dead("order.pay", unpaid.task_payment_id, 1, order_id=unpaid.id) == Done("CANCELED")
    assert world.dead("order.pay", paid.task_payment_id, 1, order_id=paid.id) == Done("nothing to do")
    assert world.orders.order(unpaid.id).failure.code == "processing_error"
    assert world.orders.order(paid.id).status == "NEW"


def test_a_customers_orders_and_notifications_are_the_merchants_own():
    world = World()
    ana = world.customer(1000)
    first, second = order(world, ana).order, order(world, ana).order
    found, more = orders.list_orders(world.orders, world.wallets, world.merchant, customer_id=ana.id, limit=1,
                                     starting_after=None)
    assert len(found) == 1 and more
    rest, _ = orders.list_orders(world.orders, world.wallets, world.merchant, customer_id=ana.id, limit=5,
                                 starting_after=found[0].id)
    assert {o.id for o in found + rest} == {first.id, second.id}
    with pytest.raises(InvalidRequest):
        orders.list_orders(world.orders, world.wallets, world.merchant, customer_id="cus_other", limit=5,
                           starting_after=None)
