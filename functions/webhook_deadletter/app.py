"""Dead-lettered webhooks: recorded for the merchant to see and fetch, with the attempts made."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from paygate.consumers import bind_log_keys, parse_or_drop
from paygate.container import get_container
from paygate.ids import utc_now
from paygate.observability import count_error, logger, metrics
from paygate.observability.tracing import flush_spans
from paygate.schemas.messages import WebhookDelivery
from paygate.services.webhooks.delivery import record_dead_letter

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    delivery = parse_or_drop(WebhookDelivery, record)
    if delivery is None:
        return
    bind_log_keys(record, delivery.correlation_id)
    count_error("webhook_dead_lettered")
    record_dead_letter(delivery, endpoints=get_container().endpoints, now=utc_now())


@flush_spans
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
