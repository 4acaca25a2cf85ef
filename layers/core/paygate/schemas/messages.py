"""Queue message bodies: commands (commands.fifo) and webhook deliveries (webhooks.fifo)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


CommandType = Literal["payment.start_processing", "payment.charge"]


class Command(Message):
    """Asks the processor to move one payment on. `expected_version` makes stale copies harmless."""

    type: CommandType
    payment_id: str
    expected_version: int
    event_id: str
    traceparent: str | None = None
    correlation_id: str | None = None


class WebhookDelivery(Message):
    """One event for one endpoint. The endpoint's URL and secret are read at delivery time."""

    event_id: str
    event_type: str
    created_at: str
    merchant_id: str
    endpoint_id: str
    object: dict[str, Any]
    traceparent: str | None = None
    correlation_id: str | None = None
