import pytest

from paygate.domain import payment as d
from paygate.domain.errors import InvalidTransition
from paygate.domain.methods import CardMethod
from paygate.domain.money import Money
from paygate.domain.payment import TRANSITIONS, PaymentStatus, can_transition, fold

NOW = "2026-01-01T00:00:00.000Z"


def new_payment():
    return d.open_payment(payment_id="pay_1", event_id="evt_1", merchant_id="mer_1",
                          money=Money.of(1050, "usd"), payment_method=CardMethod("tok_success"),
                          now=NOW, metadata={"order": "42"})


def test_a_new_payment_is_new_at_version_one_with_its_first_event():
    payment, event = new_payment()
    assert (payment.status, payment.version, payment.currency) == (PaymentStatus.NEW, 1, "USD")
    assert (event.type, event.sequence) == (d.EventType.CREATED, 1)


def test_the_happy_path_appends_one_event_per_change_in_sequence():
    p, e1 = new_payment()
    p, e2 = d.start_processing(p, event_id="evt_2", now=NOW)
    p, e3 = d.complete(p, event_id="evt_3", now=NOW, charge_id="ch_1")
    assert [e.sequence for e in (e1, e2, e3)] == [1, 2, 3]
    assert (p.status, p.version, p.provider_charge_id) == (PaymentStatus.COMPLETED, 3, "ch_1")


def test_the_event_history_rebuilds_the_payment_in_any_arrival_order():
    p, e1 = new_payment()
    p, e2 = d.start_processing(p, event_id="evt_2", now=NOW)
    p, e3 = d.fail(p, event_id="evt_3", now=NOW, code="card_declined", message="declined")
    assert fold([e3, e1, e2]) == p
    assert p.failure == d.Failure("card_declined", "declined")


@pytest.mark.parametrize("terminal", [PaymentStatus.COMPLETED, PaymentStatus.FAILED, PaymentStatus.CANCELED])
def test_terminal_states_allow_no_transition(terminal):
    assert TRANSITIONS[terminal] == frozenset()
    assert all(not can_transition(terminal, target) for target in PaymentStatus)


def test_the_transition_table_is_the_documented_one():
    assert can_transition(PaymentStatus.NEW, PaymentStatus.PROCESSING)
    assert can_transition(PaymentStatus.NEW, PaymentStatus.CANCELED)
    assert can_transition(PaymentStatus.PROCESSING, PaymentStatus.CANCELED)
    assert not can_transition(PaymentStatus.NEW, PaymentStatus.COMPLETED)
    assert not can_transition(PaymentStatus.NEW, PaymentStatus.FAILED)
    assert not can_transition(PaymentStatus.PROCESSING, PaymentStatus.NEW)


def test_a_forbidden_transition_is_a_named_error():
    p, _ = new_payment()
    with pytest.raises(InvalidTransition) as caught:
        d.complete(p, event_id="evt_2", now=NOW, charge_id=None)
    assert (caught.value.current, caught.value.target) == (PaymentStatus.NEW, PaymentStatus.COMPLETED)


def test_completed_payment_cannot_be_failed_twice_over():
    p, _ = new_payment()
    p, _ = d.start_processing(p, event_id="evt_2", now=NOW)
    p, _ = d.complete(p, event_id="evt_3", now=NOW, charge_id="ch")
    with pytest.raises(InvalidTransition):
        d.fail(p, event_id="evt_4", now=NOW, code="x", message="y")


def test_an_event_out_of_sequence_is_refused():
    p, _ = new_payment()
    _, e2 = d.start_processing(p, event_id="evt_2", now=NOW)
    gap = d.PaymentEvent("evt_9", d.EventType.COMPLETED, p.id, 3, NOW, d.Completed("ch"))
    with pytest.raises(ValueError):
        d.apply(p, gap)


def test_snapshots_are_the_payment_after_each_event():
    p, e1 = d.open_payment(payment_id="pay_s", event_id="e1", merchant_id="m", money=Money.of(100, "USD"),
                           payment_method=CardMethod("t"), now="2026-01-01T00:00:00.000Z")
    p2, e2 = d.start_processing(p, event_id="e2", now="2026-01-01T00:00:01.000Z")
    _, e3 = d.complete(p2, event_id="e3", now="2026-01-01T00:00:02.000Z", charge_id="ch")
    states = d.snapshots([e3, e1, e2])
    assert [(s.status, s.version) for s in states] == [("NEW", 1), ("PROCESSING", 2), ("COMPLETED", 3)]
    assert states[-1] == d.fold([e1, e2, e3])
