"""The workflow table: every command it names has a service function, and only events that ask for
work send a command."""

import inspect

import pytest

from paygate.domain.payment import EventType
from paygate.domain.refund import RefundEventType
from paygate.domain.workflow import WORKFLOW, CommandType, next_step, step_for
from paygate.schemas.messages import Command, MessageError
from paygate.services.commands.runner import dead_runners, runners


def test_every_command_in_the_table_is_run_by_a_service_function_taking_the_command_and_its_context():
    found = runners()
    assert set(found) == {str(c) for c in CommandType}
    for function in found.values():
        assert list(inspect.signature(function).parameters) == ["command", "ctx"]


def test_every_command_has_a_settler_for_when_it_is_dead_lettered():
    found = dead_runners()
    assert set(found) == {str(c) for c in CommandType}
    for function in found.values():
        assert list(inspect.signature(function).parameters) == ["command", "ctx"]


def test_which_events_ask_for_a_command():
    assert next_step(EventType.CREATED).command == CommandType.PROCESS_PAYMENT
    assert next_step(EventType.CANCEL_REQUESTED).command == CommandType.CANCEL_PAYMENT
    assert next_step(RefundEventType.CREATED).command == CommandType.PROCESS_REFUND
    assert [e for e in EventType if next_step(e) is not None] == [EventType.CREATED, EventType.CANCEL_REQUESTED]
    assert [e for e in RefundEventType if next_step(e) is not None] == [RefundEventType.CREATED]
    assert step_for("payment.process") is WORKFLOW[EventType.CREATED]


def test_the_command_message_knows_only_the_commands_of_the_table():
    good = Command(type="payment.process", payment_id="pay_1", expected_version=1, event_id="evt_1")
    assert Command.from_json(good.to_json()) == good
    with pytest.raises(MessageError):
        Command.from_json(good.to_json().replace("payment.process", "payment.charge"))


@pytest.mark.parametrize("body", ["not json", "[]", '{"type": "payment.process"}',
                                  '{"type": "payment.process", "payment_id": "p", "expected_version": true,'
                                  ' "event_id": "e"}'])
def test_a_malformed_command_is_a_message_error(body):
    with pytest.raises(MessageError):
        Command.from_json(body)
