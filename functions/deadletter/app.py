"""Dead-lettered commands: their payments (or refunds) are settled by what the provider knows, never left stuck."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from paygate.consumers import bind_log_keys, fifo_processor, parse_or_drop
from paygate.container import get_container
from paygate.observability import count_error, logger, metrics
from paygate.observability.tracing import flush_spans
from paygate.schemas.messages import Command
from paygate.services.commands.runner import run_dead_command

processor = fifo_processor()


def record_handler(record: SQSRecord) -> None:
    command = parse_or_drop(Command, record)
    if command is None:
        return
    bind_log_keys(record, command.correlation_id)
    logger.error("command dead-lettered", extra={"command": command.type})
    count_error("command_dead_lettered")
    run_dead_command(command, get_container().command_context())


@flush_spans
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
