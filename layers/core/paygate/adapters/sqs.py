"""SQS: publishing FIFO messages and pushing a failed message's next delivery back."""

from __future__ import annotations

import json
from typing import Any, Sequence

from paygate.services.ports import OutboundMessage

BATCH = 10


class PublishError(RuntimeError):
    pass


class SqsPublisher:
    def __init__(self, client: Any) -> None:
        self.client = client

    def publish(self, queue_url: str, messages: Sequence[OutboundMessage]) -> None:
        for start in range(0, len(messages), BATCH):
            chunk = messages[start:start + BATCH]
            entries = [{
                "Id": str(n),
                "MessageBody": json.dumps(m.body, separators=(",", ":")),
                "MessageGroupId": m.group_id,
                "MessageDeduplicationId": m.deduplication_id,
                "MessageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in m.attributes.items()},
            } for n, m in enumerate(chunk)]
            result = self.client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            if result.get("Failed"):
                raise PublishError(f"SQS refused {len(result['Failed'])} messages: {result['Failed'][:3]}")


class SqsQueueControl:
    def __init__(self, client: Any) -> None:
        self.client = client

    def retry_after(self, queue_url: str, receipt_handle: str, seconds: int) -> None:
        """The message comes back after `seconds` (its visibility timeout): a retry with backoff."""
        self.client.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(seconds, 43200))
        )
