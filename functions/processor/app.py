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
from paygate.services.commands.runner import run_command

# One payment's commands are one FIFO group: stop that group at its first failure, go on with others.
processor = fifo_processor()


def record_handler(record: SQSRecord, lambda_context: Any) -> None:
    command = parse_or_drop(Command, record)
    if command is None:
        return
    bind_log_keys(record, command.correlation_id)
    c = get_container()
    ctx = c.command_context(attempt=attempt_of(record), time_left=lambda: seconds_left(lambda_context))
    settle(run_command(command, ctx), record, c.queues, c.settings.commands_queue_url)


@flush_spans
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
