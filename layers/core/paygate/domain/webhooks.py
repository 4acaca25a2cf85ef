"""Webhook events as merchants receive them (Standard Webhooks), subscription and retry rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from standardwebhooks import Webhook

ALL_EVENTS = "*"

EVENT_TYPES = frozenset({
    "payment.created", "payment.processing", "payment.completed", "payment.failed",
    "payment.canceled", "refund.succeeded", "refund.failed", "order.created", "order.finished", "order.canceled",
    "payment.cancel_requested", "payment.refunded", "refund.created", "payment.attempt_failed",
})

# Production retry delays after each failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
PRODUCTION_SCHEDULE: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
# The same shape compressed to seconds, for `paygate dev`.
DEV_SCHEDULE: tuple[int, ...] = (1, 2, 4, 8, 15, 30, 60)


@dataclass(frozen=True)
class FailedDelivery:
    """A webhook that was never delivered: its attempts ran out and it was dead-lettered.
    Kept so that the merchant can see what it missed, and fetch it by hand."""

    endpoint_id: str
    event_id: str
    event_type: str
    created_at: str
    failed_at: str
    attempts: int
    object: dict[str, Any]


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST of one event to one endpoint, as the merchant sees it in the endpoint's deliveries:
    the status code the endpoint answered, or why there was none; when the next attempt is due (None:
    delivered, or no attempt left)."""

    endpoint_id: str
    event_id: str
    event_type: str
    attempt: int
    at: str
    status_code: int | None
    error: str | None
    next_attempt_at: str | None
    id: str = ""  # sorts in the order attempts were made (the list's cursor)

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


EVENT_RETENTION_SECONDS = 30 * 24 * 3600  # events and delivery attempts are kept at least this long


def subscribes(enabled_events: Iterable[str], event_type: str) -> bool:
    enabled = set(enabled_events)
    return ALL_EVENTS in enabled or event_type in enabled


def envelope(event_id: str, event_type: str, created_at: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "created_at": created_at, "data": {"object": obj}}


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers: HMAC-SHA256 over `id.timestamp.body` with the secret."""
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, tz=timezone.utc), body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def sign_with(secrets: Sequence[str], msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """As `sign`, with one `v1,` signature per secret, space-separated (a receiver accepts the
    webhook when any one of them verifies: the overlap after a secret rotation)."""
    headers = sign(secrets[0], msg_id, timestamp, body)
    headers["webhook-signature"] = " ".join(sign(s, msg_id, timestamp, body)["webhook-signature"] for s in secrets)
    return headers


ROTATION_OVERLAP_SECONDS = 24 * 3600


def retry_delay(schedule: Sequence[int], attempt: int) -> int | None:
    """Seconds to wait after failed attempt number `attempt` (1-based); None when none is left."""
    if attempt < 1 or attempt > len(schedule):
        return None
    return schedule[attempt - 1]
