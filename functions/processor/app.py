"""The processor: payment commands from commands.fifo, executed against the payment provider."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from paygate.consumers import attempt_of, bind_log_keys, fifo_processor, seconds_left, settle
from paygate.container import get_container
from paygate.observability import logger, metrics
from paygate.schemas.messages import Command
from paygate.services.processing import handle_command

# One payment's commands are one FIFO group: stop that group at its first failure, go on with others.
processor = fifo_processor()


def record_handler(record: SQSRecord, lambda_context: Any) -> None:
    command = Command.model_validate_json(record.body)
    bind_log_keys(record, command.correlation_id)
    c = get_container()
    outcome = handle_command(
        command, attempt=attempt_of(record), max_attempts=c.settings.command_max_attempts,
        backoff_base=c.settings.command_backoff_base, payments=c.payments, provider=c.provider,
        remaining_seconds=lambda: seconds_left(lambda_context), provider_timeout=c.settings.provider_timeout,
    )
    settle(outcome, record, c.queues, c.settings.commands_queue_url)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
