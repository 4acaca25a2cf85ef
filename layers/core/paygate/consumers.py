"""What the SQS consumers share: parsing a body, the attempt number, log keys, retry with backoff."""

from __future__ import annotations

from typing import Any, TypeVar

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from paygate.observability import count_error, logger
from paygate.schemas.messages import Message, MessageError
from paygate.services.commands.outcomes import Outcome, RetryLater, RetryRequested
from paygate.services.ports.messaging import QueueControl

M = TypeVar("M", bound=Message)


def parse_or_drop(kind: type[M], record: SQSRecord) -> M | None:
    """The message, or None for a body the gateway never wrote: it could never succeed, so it is
    acknowledged (and logged whole, with an error metric) rather than retried into a dead-letter queue."""
    try:
        return kind.from_json(record.body)
    except MessageError as exc:
        logger.error("malformed message dropped", extra={"reason": str(exc), "body": record.body[:2000],
                                                         "message_id": record.message_id})
        count_error("malformed_message")
        return None


def attempt_of(record: SQSRecord) -> int:
    """1 on the first delivery, 2 on the first retry ... (SQS's ApproximateReceiveCount)."""
    return int(record.attributes.approximate_receive_count or 1)


def bind_log_keys(record: SQSRecord, correlation_id: str | None) -> None:
    attrs = record.message_attributes
    payment_id = attrs["payment_id"].string_value if "payment_id" in attrs else None
    logger.append_keys(payment_id=payment_id, message_id=record.message_id, attempt=attempt_of(record))
    logger.set_correlation_id(correlation_id)


def settle(outcome: Outcome, record: SQSRecord, queue: QueueControl, queue_url: str) -> None:
    """Done: the batch deletes the message. RetryLater: push its next delivery back, then fail it."""
    if isinstance(outcome, RetryLater):
        queue.retry_after(queue_url, record.receipt_handle, outcome.seconds)
        raise RetryRequested(outcome)


def fifo_processor() -> SqsFifoPartialProcessor:
    """Partial batch processing for a FIFO queue: a failed message holds back only its own group.

    A whole batch that fails is reported as item failures, not raised: a retry with backoff is an
    expected outcome here, not a function error, and either way SQS redelivers the same messages.
    """
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    processor.raise_on_entire_batch_failure = False
    return processor


def seconds_left(lambda_context: Any) -> float:
    """Time left in this invocation: a batch handler checks it before a call that may take long."""
    return lambda_context.get_remaining_time_in_millis() / 1000
