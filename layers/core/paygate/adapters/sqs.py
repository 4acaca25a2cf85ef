"""SQS: publishing messages (ten per request), and pushing a received message's next delivery back."""

from __future__ import annotations

from typing import Any, Sequence

from paygate.schemas.messages import WebhookDelivery
from paygate.services.ports.messaging import OutboundMessage

BATCH = 10
MAX_VISIBILITY = 43200  # SQS's limit, counted from when the message was received


class PublishError(RuntimeError):
    pass


class SqsPublisher:
    def __init__(self, client: Any) -> None:
        self.client = client

    def publish(self, queue_url: str, messages: Sequence[OutboundMessage]) -> None:
        for start in range(0, len(messages), BATCH):
            entries = [_entry(str(n), m) for n, m in enumerate(messages[start:start + BATCH])]
            result = self.client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            if result.get("Failed"):
                raise PublishError(f"SQS refused {len(result['Failed'])} messages: {result['Failed'][:3]}")


def _entry(entry_id: str, m: OutboundMessage) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": m.body}
    if m.group_id is not None:
        entry["MessageGroupId"] = m.group_id
    if m.deduplication_id is not None:
        entry["MessageDeduplicationId"] = m.deduplication_id
    if m.delay_seconds:
        entry["DelaySeconds"] = m.delay_seconds
    if m.attributes:
        entry["MessageAttributes"] = {k: {"DataType": "String", "StringValue": v} for k, v in m.attributes.items()}
    return entry


class SqsQueueControl:
    def __init__(self, client: Any) -> None:
        self.client = client

    def retry_after(self, queue_url: str, receipt_handle: str, seconds: int) -> None:
        """The message comes back after `seconds` (its visibility timeout): a retry with backoff."""
        self.client.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY - 1))
        )


class SqsDeliveryQueue:
    """Where webhook deliveries go next: the webhooks queue (retries, with their delay), its
    dead-letter queue (attempts used up), or back out of sight for a while (a retry not due yet)."""

    def __init__(self, publisher: SqsPublisher, control: SqsQueueControl, queue_url: str, dead_letter_url: str) -> None:
        self.publisher, self.control = publisher, control
        self.queue_url, self.dead_letter_url = queue_url, dead_letter_url

    def schedule(self, deliveries: Sequence[tuple[WebhookDelivery, int]]) -> None:
        self.publisher.publish(self.queue_url, [_message(d, delay) for d, delay in deliveries])

    def dead_letter(self, deliveries: Sequence[WebhookDelivery]) -> None:
        self.publisher.publish(self.dead_letter_url, [_message(d, 0) for d in deliveries])

    def hold(self, receipt_handle: str, seconds: int) -> None:
        self.control.retry_after(self.queue_url, receipt_handle, seconds)


def _message(delivery: WebhookDelivery, delay: int) -> OutboundMessage:
    return OutboundMessage(delivery.to_json(), attributes=delivery.attributes(), delay_seconds=delay)
