"""The outbox relay: each new event item becomes the commands it asks for and one webhook message
per subscribed endpoint. Publishing twice is harmless (deduplication ids, idempotent consumers)."""

from __future__ import annotations

from typing import Sequence

from paygate.domain.accounts import WebhookEndpoint
from paygate.domain.payment import EventType
from paygate.domain.webhooks import subscribes
from paygate.schemas.messages import Command, WebhookDelivery
from paygate.services.ports import (
    EndpointRepository,
    OutboundMessage,
    Publisher,
    StoredEvent,
)

SQS_BATCH = 10

# Which event asks the processor for which next step.
NEXT_COMMAND: dict[EventType, str] = {
    EventType.CREATED: "payment.start_processing",
    EventType.PROCESSING: "payment.charge",
}


def _attributes(stored: StoredEvent) -> dict[str, str]:
    attrs = {"payment_id": stored.event.payment_id, "event_type": str(stored.event.type)}
    if stored.meta.traceparent:
        attrs["traceparent"] = stored.meta.traceparent
    if stored.meta.correlation_id:
        attrs["correlation_id"] = stored.meta.correlation_id
    return attrs


def commands_for(stored: StoredEvent) -> list[OutboundMessage]:
    command_type = NEXT_COMMAND.get(stored.event.type)
    if command_type is None:
        return []
    command = Command(
        type=command_type,  # type: ignore[arg-type]
        payment_id=stored.event.payment_id,
        expected_version=stored.event.sequence,
        event_id=stored.event.event_id,
        traceparent=stored.meta.traceparent,
        correlation_id=stored.meta.correlation_id,
    )
    return [OutboundMessage(command.model_dump(), stored.event.payment_id, stored.event.event_id,
                            _attributes(stored))]


def webhooks_for(stored: StoredEvent, endpoints: Sequence[WebhookEndpoint]) -> list[OutboundMessage]:
    messages = []
    for endpoint in endpoints:
        if not subscribes(endpoint.enabled_events, str(stored.event.type)):
            continue
        delivery = WebhookDelivery(
            event_id=stored.event.event_id,
            event_type=str(stored.event.type),
            created_at=stored.event.occurred_at,
            merchant_id=stored.merchant_id,
            endpoint_id=endpoint.id,
            object=stored.snapshot,
            traceparent=stored.meta.traceparent,
            correlation_id=stored.meta.correlation_id,
        )
        # One group per endpoint and payment: a failing endpoint holds back only its own events.
        messages.append(OutboundMessage(
            delivery.model_dump(),
            group_id=f"{endpoint.id}:{stored.event.payment_id}",
            deduplication_id=f"{stored.event.event_id}:{endpoint.id}",
            attributes=_attributes(stored),
        ))
    return messages


def relay_batch(
    events: Sequence[StoredEvent],
    *,
    endpoints: EndpointRepository,
    publisher: Publisher,
    commands_queue_url: str,
    webhooks_queue_url: str,
) -> int | None:
    """Publish what a batch of events asks for, in order; answers the position of the first event
    whose messages were not all sent (None when everything went out).

    One look-up of endpoints per merchant per batch and up to ten messages per SQS call: the relay
    is the one serial stage of the pipeline (one stream shard), so its calls are what bound
    throughput. Messages of one group keep their order within and across SQS batch calls.
    """
    by_merchant: dict[str, list[WebhookEndpoint]] = {}
    commands: list[tuple[int, OutboundMessage]] = []
    hooks: list[tuple[int, OutboundMessage]] = []
    for position, stored in enumerate(events):
        if stored.merchant_id not in by_merchant:
            by_merchant[stored.merchant_id] = endpoints.list(stored.merchant_id)
        commands += [(position, m) for m in commands_for(stored)]
        hooks += [(position, m) for m in webhooks_for(stored, by_merchant[stored.merchant_id])]
    first_unsent: int | None = None
    for queue_url, outbound in ((commands_queue_url, commands), (webhooks_queue_url, hooks)):
        for start in range(0, len(outbound), SQS_BATCH):
            chunk = outbound[start:start + SQS_BATCH]
            if first_unsent is not None and chunk[0][0] >= first_unsent:
                break  # everything from there on is retried anyway
            try:
                publisher.publish(queue_url, [m for _, m in chunk])
            except Exception:
                first_unsent = chunk[0][0] if first_unsent is None else min(first_unsent, chunk[0][0])
                break
    return first_unsent
