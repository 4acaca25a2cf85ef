"""The outbox relay: the payments table's stream -> commands.fifo and the webhooks queue.

A batch is published as a whole (services.relay); on a failure the response names the first record
not fully published, and Lambda retries the batch from there (ReportBatchItemFailures): nothing is
lost and order is kept.
"""

from __future__ import annotations

from typing import Any

from paygate.container import get_container
from paygate.observability import logger, metrics
from paygate.observability.tracing import flush_spans
from paygate.services.relay import relay


@flush_spans
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    c = get_container()
    first_unsent = relay(event.get("Records") or [], decoder=c.payment_changes, publisher=c.publisher,
                         commands_queue_url=c.settings.commands_queue_url,
                         webhooks_queue_url=c.settings.webhooks_queue_url)
    return {"batchItemFailures": [] if first_unsent is None else [{"itemIdentifier": first_unsent}]}
