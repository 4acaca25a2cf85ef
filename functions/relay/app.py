"""The outbox relay: DynamoDB Streams -> commands.fifo and webhooks.fifo."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from paygate.adapters.items import is_event_item, stored_event_from_item
from paygate.container import get_container
from paygate.observability import logger, metrics
from paygate.services.relay import relay_event

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image if record.dynamodb else None
    if record.event_name is None or record.event_name.name != "INSERT" or not image or not is_event_item(image):
        return  # state items and idempotency keys change too; only new event items are the outbox
    stored = stored_event_from_item(image)
    logger.append_keys(payment_id=stored.event.payment_id)
    logger.set_correlation_id(stored.meta.correlation_id)
    c = get_container()
    commands, hooks = relay_event(
        stored, endpoints=c.endpoints, publisher=c.publisher,
        commands_queue_url=c.settings.commands_queue_url, webhooks_queue_url=c.settings.webhooks_queue_url,
    )
    logger.info("event relayed", extra={"event_type": str(stored.event.type), "sequence": stored.event.sequence,
                                        "commands": commands, "webhooks": hooks})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
