"""Webhook delivery: sign and POST one event to one endpoint; on failure, retry on the schedule.

The same `webhook-id` (the event id) goes with every attempt, so merchants can deduplicate; the
timestamp and signature are made fresh per attempt, as Standard Webhooks asks.
"""

from __future__ import annotations

import json
from typing import Sequence

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain.webhooks import FailedDelivery, envelope, retry_delay, sign
from paygate.observability import logger, metrics
from paygate.schemas.messages import WebhookDelivery
from paygate.services.outcomes import Done, Outcome, RetryLater
from paygate.services.ports import (
    DeliveryError,
    EndpointRepository,
    UrlGuard,
    WebhookTransport,
)

USER_AGENT = "paygate-webhooks/1"


def deliver(
    delivery: WebhookDelivery,
    *,
    attempt: int,
    max_attempts: int,
    schedule: Sequence[int],
    endpoints: EndpointRepository,
    transport: WebhookTransport,
    guard: UrlGuard,
    timeout: float,
    now: int,
) -> Outcome:
    endpoint = endpoints.get(delivery.merchant_id, delivery.endpoint_id)
    if endpoint is None:
        logger.info("endpoint deleted; delivery dropped", extra={"endpoint_id": delivery.endpoint_id})
        return Done("endpoint deleted")
    body = json.dumps(envelope(delivery.event_id, delivery.event_type, delivery.created_at, delivery.object),
                      separators=(",", ":"))
    headers = {
        **sign(endpoint.secret, delivery.event_id, now, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    refused = guard.check(endpoint.url)
    status: int | None = None
    if refused:
        # Counted as a failed attempt, so that it ends dead-lettered where the merchant sees it.
        metrics.add_metric(name="WebhooksRefused", unit=MetricUnit.Count, value=1)
        reason = f"url refused: {refused}"
    else:
        try:
            status = transport.post(endpoint.url, body, headers, timeout)
            reason = f"HTTP {status}"
        except DeliveryError as exc:
            reason = str(exc)
    if status is not None and 200 <= status < 300:
        metrics.add_metric(name="WebhooksDelivered", unit=MetricUnit.Count, value=1)
        logger.info("webhook delivered", extra={"endpoint_id": endpoint.id, "attempt": attempt,
                                                "event_type": delivery.event_type})
        return Done("delivered")

    metrics.add_metric(name="WebhookFailures", unit=MetricUnit.Count, value=1)
    delay = retry_delay(schedule, attempt) if attempt < max_attempts else None
    if delay is None:
        logger.error("webhook attempts exhausted; dead-lettering",
                     extra={"endpoint_id": endpoint.id, "attempt": attempt, "reason": reason})
        return RetryLater(0, f"attempts exhausted ({reason})")
    logger.warning("webhook attempt failed", extra={"endpoint_id": endpoint.id, "attempt": attempt,
                                                     "reason": reason, "retry_in": delay})
    return RetryLater(delay, reason)


def record_dead_letter(delivery: WebhookDelivery, *, endpoints: EndpointRepository, attempts: int,
                       now: str) -> Outcome:
    """A delivery whose attempts ran out: keep it where the merchant can see it."""
    if endpoints.get(delivery.merchant_id, delivery.endpoint_id) is None:
        return Done("endpoint deleted")
    endpoints.record_failure(delivery.merchant_id, FailedDelivery(
        endpoint_id=delivery.endpoint_id, event_id=delivery.event_id, event_type=delivery.event_type,
        created_at=delivery.created_at, failed_at=now, attempts=attempts, object=delivery.object,
    ))
    metrics.add_metric(name="WebhooksDeadLettered", unit=MetricUnit.Count, value=1)
    logger.error("webhook dead-lettered; visible to the merchant",
                 extra={"endpoint_id": delivery.endpoint_id, "event_type": delivery.event_type})
    return Done("recorded")
