"""Webhook delivery from the webhooks queue: a batch delivered concurrently (services.webhooks.delivery);
what stays on the queue is reported as the batch's item failures."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source

from paygate.consumers import parse_or_drop, seconds_left
from paygate.container import get_container
from paygate.ids import epoch_seconds
from paygate.observability import logger, metrics
from paygate.observability.tracing import flush_spans
from paygate.schemas.messages import WebhookDelivery
from paygate.services.webhooks.delivery import DeliveryPolicy, Received, deliver_batch


@flush_spans
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_source(data_class=SQSEvent)
def handler(event: SQSEvent, context: Any) -> dict[str, Any]:
    batch = []
    for record in event.records:
        delivery = parse_or_drop(WebhookDelivery, record)
        if delivery is not None:
            batch.append(Received(record.message_id, record.receipt_handle, delivery))
    c = get_container()
    s = c.settings
    stay = deliver_batch(
        batch, endpoints=c.endpoints, transport=c.transport, guard=c.url_guard, queue=c.delivery_queue, log=c.event_log,
        policy=DeliveryPolicy(s.webhook_schedule, s.webhook_max_attempts, s.webhook_timeout, s.webhook_concurrency),
        now=epoch_seconds, time_left=lambda: seconds_left(context),
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in stay]}
