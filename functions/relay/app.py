"""The outbox relay: DynamoDB Streams -> commands.fifo and webhooks.fifo.

Records are published as one batch (see services.relay.relay_batch) rather than one record at a
time: on a failure the response names the first record not fully published, and Lambda retries
the batch from there (ReportBatchItemFailures), so nothing is lost and order is kept.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import (
    DynamoDBStreamEvent,
    event_source,
)

from paygate.adapters.items import is_event_item, stored_event_from_item
from paygate.container import get_container
from paygate.observability import count_error, logger, metrics
from paygate.services.relay import relay_batch


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_source(data_class=DynamoDBStreamEvent)
def handler(event: DynamoDBStreamEvent, context: Any) -> dict[str, Any]:
    sequence_numbers, events = [], []
    for record in event.records:
        image = record.dynamodb.new_image if record.dynamodb else None
        # State items change too; only new event items are the outbox.
        if record.event_name and record.event_name.name == "INSERT" and image and is_event_item(image):
            sequence_numbers.append(record.dynamodb.sequence_number)
            events.append(stored_event_from_item(image))
    if not events:
        return {"batchItemFailures": []}
    c = get_container()
    first_unsent = relay_batch(
        events, endpoints=c.endpoints, publisher=c.publisher,
        commands_queue_url=c.settings.commands_queue_url, webhooks_queue_url=c.settings.webhooks_queue_url,
    )
    for position, stored in enumerate(events):
        sent = first_unsent is None or position < first_unsent
        logger.info("event relayed" if sent else "event not relayed; will be retried",
                    extra={"payment_id": stored.event.payment_id, "correlation_id": stored.meta.correlation_id,
                           "event_type": str(stored.event.type), "sequence": stored.event.sequence})
    if first_unsent is None:
        return {"batchItemFailures": []}
    count_error("relay_publish_failed")
    return {"batchItemFailures": [{"itemIdentifier": sequence_numbers[first_unsent]}]}
