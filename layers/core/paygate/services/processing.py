"""The processor's payment commands, whatever the payment method: each reads the payment, checks what
every payment shares (a stale or duplicate command, a cancel requested, a terminal state) and hands it
to its funding port (services/funding), which charges a card or holds and captures a wallet's money.

Commands of one payment share a FIFO message group, so two of them never run at once; the
conditional write (on the version read) still guards against any other writer: a write that lost is
decided again from a fresh read.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from paygate.observability import logger, metrics
from paygate.observability.tracing import span
from paygate.schemas.messages import Command
from paygate.services.commands.context import WRITE_TRIES, CommandContext
from paygate.services.commands.outcomes import Done, Outcome
from paygate.services.funding.factory import funding_for
from paygate.services.ports.records import ConcurrencyConflict, EventMeta


def process_payment(command: Command, ctx: CommandContext) -> Outcome:
    """The `payment.process` command: the charge, or the hold and its capture, from wherever the last
    write left the payment (a copy of the command that comes again resumes from there)."""
    record = ctx.payments.get(command.payment_id)
    if record is None:
        logger.warning("command for an unknown payment", extra={"command": command.type})
        return Done("unknown payment")
    funding = funding_for(record.state.payment_method, ctx)
    for attempt in range(1, funding.write_tries + 1):
        if attempt > 1:
            funding.pause(attempt - 1)
            record = ctx.payments.get(command.payment_id)
            if record is None:
                return Done("unknown payment")
        payment = record.state
        if payment.is_terminal or payment.version < command.expected_version:
            # Terminal: a copy that comes after the work was done. Behind the command: cannot happen
            # with one write per change, but never act on a state older than the command's.
            logger.info("stale or duplicate command ignored",
                        extra={"expected_version": command.expected_version, "version": payment.version,
                               "status": str(payment.status)})
            metrics.add_metric(name="StaleCommands", unit=MetricUnit.Count, value=1)
            return Done("stale")
        if payment.cancel_requested:
            # Never charge (or hold for) a payment the merchant canceled: its cancel command, next in this
            # payment's FIFO group, settles it (services/cancellation.py).
            logger.info("cancel requested: not charging")
            return Done("cancel requested")
        with span(command.type, command.traceparent, {"payment.id": command.payment_id,
                                                      "order.id": command.order_id}) as traceparent:
            try:
                return funding.take(record, EventMeta(traceparent, command.correlation_id))
            except ConcurrencyConflict:
                logger.info("the payment (or its wallet) moved on while being processed; deciding again",
                            extra={"attempt": attempt})
    raise ConcurrencyConflict(f"payment {command.payment_id} kept changing")


def settle_payment(command: Command, ctx: CommandContext) -> Outcome:
    """A provider's callback, or reconciliation, says a payment's charge may have moved on: record what
    the provider holds now. The callback is only the signal (its signature checked by the callbacks
    function); the payment's funding asks the provider, so a signal that is late, repeated or racing
    the processor's answer changes nothing twice: a terminal payment is left as it is. It runs in the
    payment's FIFO group, after the command that charged."""
    for _ in range(WRITE_TRIES):
        record = ctx.payments.get(command.payment_id)
        if record is None or record.state.is_terminal:
            return Done("nothing to settle")
        if record.state.cancel_requested:
            return Done("cancel requested: its command settles it")
        with span(command.type, command.traceparent, {"payment.id": command.payment_id,
                                                      "order.id": command.order_id}) as traceparent:
            try:
                return funding_for(record.state.payment_method, ctx).settle(
                    record, EventMeta(traceparent, command.correlation_id))
            except ConcurrencyConflict:
                logger.info("the payment moved on while being settled; deciding again")
    raise ConcurrencyConflict(f"payment {command.payment_id} kept changing")


def fail_dead_command(command: Command, ctx: CommandContext) -> Outcome:
    """A command that kept failing reached the dead-letter queue: end its payment, never stuck, by what
    is known (a charge the provider made completes it; a hold is released)."""
    for _ in range(WRITE_TRIES):
        record = ctx.payments.get(command.payment_id)
        if record is None or record.state.is_terminal:
            return Done("nothing to end")
        try:
            with span("payment.dead_letter", command.traceparent, {"payment.id": command.payment_id}) as traceparent:
                return funding_for(record.state.payment_method, ctx).end_dead(
                    record, EventMeta(traceparent, command.correlation_id))
        except ConcurrencyConflict:
            continue
    raise ConcurrencyConflict(f"payment {command.payment_id} kept changing")


def leave_dead_settle(command: Command, ctx: CommandContext) -> Outcome:
    """A settle command that kept failing: nothing is lost by dropping it (the charge stays at the
    provider; the next callback, or a lookup, settles the payment)."""
    logger.warning("settle command dead-lettered; the payment stays as it is")
    return Done("left as it is")
