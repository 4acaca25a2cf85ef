"""Queues: publishing messages, and pushing a received one's next delivery back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence


@dataclass(frozen=True)
class OutboundMessage:
    body: str
    group_id: str | None = None  # FIFO queues only
    deduplication_id: str | None = None  # FIFO queues only
    attributes: dict[str, str] = field(default_factory=dict)
    delay_seconds: int = 0  # standard queues only


class Publisher(Protocol):
    def publish(self, queue_url: str, messages: Sequence[OutboundMessage]) -> None: ...


class QueueControl(Protocol):
    def retry_after(self, queue_url: str, receipt_handle: str, seconds: int) -> None: ...
