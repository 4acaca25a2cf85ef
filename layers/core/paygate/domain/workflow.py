"""The workflow: which command each event asks for, and which service function runs that command.

This is the one table. The relay reads it to publish commands, the message schema takes its command
names from it, and the processor runs the function it names. Every event is also published to the
merchant's webhook endpoints; that needs no row here.

The service function is named rather than imported ("module.function" under `paygate.services`), so
that the pure domain depends on nothing above it; `paygate.services.commands` resolves the names and
a unit test checks that each one exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Mapping

from paygate.domain.payment import EventType
from paygate.domain.refund import RefundEventType


class CommandType(StrEnum):
    PROCESS_PAYMENT = "payment.process"
    CANCEL_PAYMENT = "payment.cancel"
    PROCESS_REFUND = "refund.process"
    SETTLE_PAYMENT = "payment.settle"


@dataclass(frozen=True)
class Step:
    command: CommandType
    runs: str  # the service function that carries the command out: "module.function"
    # what settles the command when it reached the dead-letter queue (same signature)
    settles_dead: str = "processing.fail_dead_command"


WORKFLOW: Mapping[str, Step] = {
    # A new payment is charged: PROCESSING and the provider's answer are recorded by one command.
    EventType.CREATED: Step(CommandType.PROCESS_PAYMENT, runs="processing.process_payment"),
    # A cancel asks the provider what it holds: a charge taken completes the payment, a pending one
    # is voided, then CANCELED. It runs in the payment's FIFO group, after any charge in progress.
    EventType.CANCEL_REQUESTED: Step(CommandType.CANCEL_PAYMENT, runs="cancellation.cancel_payment"),
    # An accepted refund (its amount reserved) is sent to the provider: SUCCEEDED or FAILED.
    RefundEventType.CREATED: Step(CommandType.PROCESS_REFUND, runs="refunds.process_refund",
                                  settles_dead="refunds.settle_dead_refund"),
}


# Commands started from outside a payment's event log, by name of what starts them.
TRIGGERED: Mapping[str, Step] = {
    # The provider says a charge moved on (its callback, verified): ask the provider and record what
    # it holds now. A dead settle command changes nothing: the payment stays PROCESSING for the next
    # callback or the processor's own lookup.
    "provider.callback": Step(CommandType.SETTLE_PAYMENT, runs="processing.settle_payment",
                              settles_dead="processing.leave_dead_settle"),
    # Reconciliation found the payment PROCESSING past the threshold (a callback that never came):
    # the same settle command, which records what the provider holds or leaves it for a later run.
    "reconciliation": Step(CommandType.SETTLE_PAYMENT, runs="processing.settle_payment",
                           settles_dead="processing.leave_dead_settle"),
}


def all_steps() -> list[Step]:
    return [*WORKFLOW.values(), *TRIGGERED.values()]


def next_step(event_type: str) -> Step | None:
    """The command an event asks for, if any (most events only notify)."""
    return WORKFLOW.get(event_type)


def step_for(command: str) -> Step:
    for step in all_steps():
        if step.command == command:
            return step
    raise KeyError(f"no workflow step runs {command!r}")
