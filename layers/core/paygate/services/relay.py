"""The outbox relay: each write of a payment, as its table's stream reports it, becomes the commands
its new events ask for (the workflow table) and one webhook delivery per payment carrying those
events, in sequence. Publishing twice is harmless (FIFO deduplication ids for commands, webhook-id
for merchants, idempotent consumers), so a batch that failed half-way is simply sent again.

The relay reads nothing: which endpoints receive an event is decided when it is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from paygate.domain import order as orders
from paygate.domain import refund as refunds
from paygate.domain.order import Order, OrderEvent
from paygate.domain.payment import Payment, PaymentEvent, snapshots
from paygate.domain.refund import Refund, RefundEvent
from paygate.domain.workflow import ORDER_COMMANDS, next_step
from paygate.observability import count_error, logger
from paygate.observability.tracing import span
from paygate.schemas.events import OrderWebhook, PaymentWebhook, RefundWebhook, to_json
from paygate.schemas.messages import Command, WebhookDelivery
from paygate.services.ports.messaging import OutboundMessage, Publisher
from paygate.services.ports.records import Change, ChangeDecoder, EventMeta, Record

SQS_BATCH = 10


@dataclass
class _Outbound:
    """Messages for one queue, each with the index of the earliest change it carries."""

    queue_url: str
    messages: list[tuple[int, OutboundMessage]] = field(default_factory=list)


def command_message(event: PaymentEvent | RefundEvent | OrderEvent, meta: EventMeta,
                    order_id: str | None = None) -> OutboundMessage | None:
    """The command an event asks for. `order_id`: the order a payment's event is of (its outcome moves
    that order on)."""
    step = next_step(event.type, pays_order=order_id is not None)
    if step is None:
        return None
    # A refund's command runs in its payment's group: a payment's refunds are settled one at a time.
    refund_id = event.refund_id if isinstance(event, RefundEvent) else None
    if isinstance(event, OrderEvent):  # the order's payment task: the payment it is to make
        order_id, payment_id = event.order_id, str(event.payload.payment_id)
    else:
        payment_id = event.payment_id
    command = Command(type=str(step.command), payment_id=payment_id, expected_version=event.sequence,
                      event_id=event.event_id, traceparent=meta.traceparent, correlation_id=meta.correlation_id,
                      refund_id=refund_id, order_id=order_id if step.command in ORDER_COMMANDS else None)
    # One group per aggregate (a payment; an order for an order's commands): its commands run one at a
    # time, in order. The event id deduplicates.
    group = order_id if step.command in ORDER_COMMANDS else payment_id
    return OutboundMessage(command.to_json(), group_id=group,
                           deduplication_id=f"{event.event_id}:{step.command}", attributes=command.attributes())


def _published(record: Record[Any, Any]) -> tuple[str, str, Callable[[Any], dict[str, Any]]]:
    """The aggregate's id, its merchant, and the webhook body of each of its events."""
    state = record.state
    if isinstance(state, Order):
        order_states = orders.snapshots(record.events)
        return state.id, state.merchant_id, lambda e: to_json(OrderWebhook.of(e, order_states[e.sequence - 1]))
    if isinstance(state, Refund):
        refund_states = refunds.snapshots(record.events)
        return state.id, state.merchant_id, lambda e: to_json(RefundWebhook.of(e, refund_states[e.sequence - 1]))
    states = snapshots(record.events)
    return state.id, state.merchant_id, lambda e: to_json(PaymentWebhook.of(e, states[e.sequence - 1]))


def _payment_of(state: Payment | Refund | Order) -> str | None:
    """The payment an aggregate is (or is of): the trace it belongs to."""
    if isinstance(state, Order):
        return state.task_payment_id
    if isinstance(state, Refund):
        return state.payment_id
    return state.id


def plan(changes: Sequence[Change], commands_queue_url: str,
         webhooks_queue_url: str) -> list[_Outbound]:
    """What a batch of changes asks to publish, in stream order."""
    commands = _Outbound(commands_queue_url)
    deliveries: dict[str, tuple[int, WebhookDelivery]] = {}  # aggregate id -> (first change, delivery)
    for index, change in enumerate(changes):
        record = change.record
        aggregate_id, merchant_id, webhook_body = _published(record)
        pays_order = record.state.order_id if isinstance(record.state, Payment) else None
        for event in change.new_events:
            meta = EventMeta(record.trace_of(event.sequence), record.correlation_id)
            # The relay's hop in the payment's trace; the messages carry the event's own context.
            with span("relay.publish", meta.traceparent, {"payment.id": _payment_of(record.state), "event.type": event.type}):
                message = command_message(event, meta, pays_order)
                envelope = webhook_body(event)
            if message is not None:
                commands.messages.append((index, message))
            if aggregate_id in deliveries:
                first, delivery = deliveries[aggregate_id]
                deliveries[aggregate_id] = (first, replace(delivery, events=(*delivery.events, envelope)))
            else:
                deliveries[aggregate_id] = (index, WebhookDelivery(
                    merchant_id=merchant_id, events=(envelope,),
                    traceparent=meta.traceparent, correlation_id=meta.correlation_id))
    hooks = _Outbound(webhooks_queue_url, [
        (first, OutboundMessage(d.to_json(), attributes=d.attributes()))
        for first, d in sorted(deliveries.values(), key=lambda item: item[0])
    ])
    return [commands, hooks]


def relay(records: Sequence[dict[str, Any]], *, decoder: ChangeDecoder, publisher: Publisher,
          commands_queue_url: str, webhooks_queue_url: str) -> str | None:
    """Publish what a batch of stream records asks for. Answers the position (stream sequence number)
    of the first change whose messages were not all sent, from where Lambda retries the batch
    (ReportBatchItemFailures), or None when everything went out."""
    changes = decoder.changes(records)
    first_unsent: int | None = None
    for outbound in plan(changes, commands_queue_url, webhooks_queue_url):
        for start in range(0, len(outbound.messages), SQS_BATCH):
            chunk = outbound.messages[start:start + SQS_BATCH]
            if first_unsent is not None and chunk[0][0] >= first_unsent:
                break  # everything from there on is sent again anyway
            try:
                publisher.publish(outbound.queue_url, [m for _, m in chunk])
            except Exception:
                logger.exception("publishing failed; the batch is retried from its first unsent change")
                first_unsent = min(i for i, _ in chunk) if first_unsent is None else min(
                    first_unsent, *(i for i, _ in chunk))
                break
    for index, change in enumerate(changes):
        for event in change.new_events:
            sent = first_unsent is None or index < first_unsent
            logger.info("event relayed" if sent else "event not relayed; the batch is retried from it",
                        extra={"payment_id": getattr(event, "payment_id", None),
                               "order_id": getattr(event, "order_id", None), "event_type": str(event.type),
                               "sequence": event.sequence, "correlation_id": change.record.correlation_id})
    if first_unsent is None:
        return None
    count_error("relay_publish_failed")
    return changes[first_unsent].position
