"""Dead-lettered webhooks (webhooks-dlq.fifo): recorded for the merchant to see and fetch."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from paygate.consumers import bind_log_keys, fifo_processor
from paygate.container import get_container
from paygate.ids import utc_now
from paygate.observability import count_error, logger, metrics
from paygate.schemas.messages import WebhookDelivery
from paygate.services.delivery import record_dead_letter

processor = fifo_processor()


def record_handler(record: SQSRecord) -> None:
    delivery = WebhookDelivery.model_validate_json(record.body)
    bind_log_keys(record, delivery.correlation_id)
    count_error("webhook_dead_lettered")
    c = get_container()
    record_dead_letter(delivery, endpoints=c.endpoints, attempts=c.settings.webhook_max_attempts, now=utc_now())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
