"""The processor: payment commands from commands.fifo, each run by the service the workflow names."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from paygate.consumers import attempt_of, bind_log_keys, fifo_processor, parse_or_drop, seconds_left, settle
from paygate.container import get_container
from paygate.observability import logger, metrics
from paygate.observability.tracing import flush_spans
from paygate.schemas.messages import Command
from paygate.services.commands import run_command
from paygate.services.processing import CommandContext

# One payment's commands are one FIFO group: stop that group at its first failure, go on with others.
processor = fifo_processor()


def record_handler(record: SQSRecord, lambda_context: Any) -> None:
    command = parse_or_drop(Command, record)
    if command is None:
        return
    bind_log_keys(record, command.correlation_id)
    c = get_container()
    s = c.settings
    outcome = run_command(command, CommandContext(
        payments=c.payments, provider=c.provider, attempt=attempt_of(record), max_attempts=s.command_max_attempts,
        backoff_base=s.command_backoff_base, provider_timeout=s.provider_timeout,
        time_left=lambda: seconds_left(lambda_context), refunds=c.refunds,
        wallets=c.wallets, orders=c.orders,
    ))
    settle(outcome, record, c.queues, s.commands_queue_url)


@flush_spans
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
