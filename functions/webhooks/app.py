"""Webhook delivery from webhooks.fifo: signed POSTs, retried on the schedule, then dead-lettered."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from paygate.consumers import attempt_of, bind_log_keys, fifo_processor, seconds_left, settle
from paygate.container import get_container
from paygate.ids import epoch_seconds
from paygate.observability import logger, metrics
from paygate.schemas.messages import WebhookDelivery
from paygate.services.delivery import deliver
from paygate.services.outcomes import RetryLater

# Group = endpoint + payment: a failing endpoint holds back only its own events for that payment.
processor = fifo_processor()


def record_handler(record: SQSRecord, lambda_context: Any) -> None:
    delivery = WebhookDelivery.model_validate_json(record.body)
    bind_log_keys(record, delivery.correlation_id)
    c = get_container()
    s = c.settings
    if seconds_left(lambda_context) < s.webhook_timeout + 2:
        # Earlier deliveries of this batch used the time up: come back at once rather than be cut off.
        settle(RetryLater(0, "no time left in this invocation"), record, c.queues, s.webhooks_queue_url)
    outcome = deliver(
        delivery, attempt=attempt_of(record), max_attempts=s.webhook_max_attempts, schedule=s.webhook_schedule,
        endpoints=c.endpoints, transport=c.transport, guard=c.url_guard, timeout=s.webhook_timeout,
        now=epoch_seconds(),
    )
    settle(outcome, record, c.queues, s.webhooks_queue_url)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
