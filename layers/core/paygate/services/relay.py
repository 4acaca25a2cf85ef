"""The outbox relay: each new event item becomes the commands it asks for and one webhook message
per subscribed endpoint. Publishing twice is harmless (deduplication ids, idempotent consumers)."""

from __future__ import annotations

from paygate.domain.payment import EventType
from paygate.domain.webhooks import subscribes
from paygate.schemas.messages import Command, WebhookDelivery
from paygate.services.ports import EndpointRepository, OutboundMessage, Publisher, StoredEvent

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


def webhooks_for(stored: StoredEvent, endpoints: EndpointRepository) -> list[OutboundMessage]:
    messages = []
    for endpoint in endpoints.list(stored.merchant_id):
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


def relay_event(
    stored: StoredEvent,
    *,
    endpoints: EndpointRepository,
    publisher: Publisher,
    commands_queue_url: str,
    webhooks_queue_url: str,
) -> tuple[int, int]:
    """Publish what one event asks for; answers (commands, webhooks) sent."""
    commands = commands_for(stored)
    hooks = webhooks_for(stored, endpoints)
    if commands:
        publisher.publish(commands_queue_url, commands)
    if hooks:
        publisher.publish(webhooks_queue_url, hooks)
    return len(commands), len(hooks)
