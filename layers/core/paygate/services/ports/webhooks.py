"""Webhooks: the transport that POSTs them, the queue of deliveries, the log merchants read back,
and the guard on the URLs they go to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Sequence

from paygate.domain.webhooks import DeliveryAttempt

if TYPE_CHECKING:
    from paygate.schemas.messages import WebhookDelivery


class WebhookTransport(Protocol):
    def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> int:
        """POST and answer the status code; raise DeliveryError when there is no answer."""


class DeliveryError(Exception):
    pass


class DeliveryQueue(Protocol):
    def schedule(self, deliveries: Sequence[tuple[WebhookDelivery, int]]) -> None:
        """Publish deliveries to the webhooks queue, each after its delay (seconds, at most 900)."""
    def dead_letter(self, deliveries: Sequence[WebhookDelivery]) -> None:
        """Publish deliveries whose attempts ran out to the dead-letter queue."""
    def hold(self, receipt_handle: str, seconds: int) -> None:
        """Keep a received message out of sight for `seconds` more (its visibility)."""


class EventLog(Protocol):
    """Every event of a merchant as it was sent (the webhook body), and every delivery attempt,
    kept at least 30 days for the merchant to read back."""

    def record_events(self, merchant_id: str, events: Sequence[dict[str, Any]]) -> None:
        """Keep events (webhook envelopes); recording one twice keeps it once."""
    def record_attempts(self, merchant_id: str, attempts: Sequence[DeliveryAttempt]) -> None: ...
    def event(self, merchant_id: str, event_id: str) -> dict[str, Any] | None: ...
    def events(self, merchant_id: str, *, event_type: str | None, limit: int,
               starting_after: str | None) -> tuple[list[dict[str, Any]], bool]:
        """Newest first: up to `limit` events older than `starting_after`, and whether there are more."""
    def attempts(self, endpoint_id: str, *, limit: int,
                 starting_after: str | None) -> tuple[list[DeliveryAttempt], bool]:
        """An endpoint's attempts, newest first, as `events`."""


class UrlGuard(Protocol):
    def check(self, url: str) -> str | None:
        """None when the URL may receive webhooks, else why not."""
