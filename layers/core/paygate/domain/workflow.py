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

from paygate.domain.order import OrderEventType
from paygate.domain.payment import EventType
from paygate.domain.refund import RefundEventType


class CommandType(StrEnum):
    PROCESS_PAYMENT = "payment.process"
    CANCEL_PAYMENT = "payment.cancel"
    PROCESS_REFUND = "refund.process"
    SETTLE_PAYMENT = "payment.settle"
    PAY_ORDER = "order.pay"
    SETTLE_ORDER = "order.settle"


# Commands that run in their order's FIFO group rather than their payment's.
ORDER_COMMANDS = frozenset({CommandType.PAY_ORDER, CommandType.SETTLE_ORDER})


@dataclass(frozen=True)
class Step:
    command: CommandType
    runs: str  # the service function that carries the command out: "module.function"
    # what settles the command when it reached the dead-letter queue (same signature)
    settles_dead: str = "processing.fail_dead_command"
    # only for a payment that pays an order (its outcome moves the order on)
    orders_only: bool = False


WORKFLOW: Mapping[str, Step] = {
    # A new payment is charged: PROCESSING and the provider's answer are recorded by one command.
    EventType.CREATED: Step(CommandType.PROCESS_PAYMENT, runs="processing.process_payment"),
    # A cancel asks the provider what it holds: a charge taken completes the payment, a pending one
    # is voided, then CANCELED. It runs in the payment's FIFO group, after any charge in progress.
    EventType.CANCEL_REQUESTED: Step(CommandType.CANCEL_PAYMENT, runs="cancellation.cancel_payment"),
    # An accepted refund (its amount reserved) is sent to the provider: SUCCEEDED or FAILED.
    RefundEventType.CREATED: Step(CommandType.PROCESS_REFUND, runs="refunds.process_refund",
                                  settles_dead="refunds.settle_dead_refund"),
    # An order's payment task (the outbox: written with the order) is recorded once by the payment
    # side (the inbox) as a wallet payment, which then runs as any payment does.
    OrderEventType.CREATED: Step(CommandType.PAY_ORDER, runs="orders.pay_order", settles_dead="orders.pay_dead_order"),
    # The outcome of an order's payment moves its order on: FINISHED or CANCELED, and the customer told.
    EventType.COMPLETED: Step(CommandType.SETTLE_ORDER, runs="orders.settle_order",
                              settles_dead="orders.settle_order", orders_only=True),
    EventType.FAILED: Step(CommandType.SETTLE_ORDER, runs="orders.settle_order",
                           settles_dead="orders.settle_order", orders_only=True),
    EventType.CANCELED: Step(CommandType.SETTLE_ORDER, runs="orders.settle_order",
                             settles_dead="orders.settle_order", orders_only=True),
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


def next_step(event_type: str, *, pays_order: bool = False) -> Step | None:
    """The command an event asks for, if any (most events only notify). `pays_order`: the event is
    of a payment that pays an order."""
    step = WORKFLOW.get(event_type)
    if step is not None and step.orders_only and not pays_order:
        return None
    return step


def step_for(command: str) -> Step:
    for step in all_steps():
        if step.command == command:
            return step
    raise KeyError(f"no workflow step runs {command!r}")
