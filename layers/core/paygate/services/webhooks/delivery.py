"""Webhook delivery: sign and POST events to merchant endpoints; retry each failure on its own schedule.

A batch of deliveries is delivered concurrently, each POST bounded by the timeout, so one slow or
failing endpoint holds up only itself: every other endpoint's POSTs in the batch run beside it, and
the queue is a standard one, so no message waits behind another (order across deliveries is given
up; each event's `data.object.version` tells a receiver which is newer).

A delivery whose `endpoint_id` is None is an event's first attempt, to every endpoint of the merchant
that subscribes to it. Each (event, endpoint) that fails becomes a delivery of its own carrying the
number of the attempt it will make, published with the schedule's delay: attempts live with the
delivery, so a failure never uses up another delivery's attempts. When the attempts run out the
delivery goes to the dead-letter queue, whose consumer keeps it for the merchant to see.

The same `webhook-id` (the event id) goes with every attempt, so merchants can deduplicate; the
timestamp and signature are made fresh per attempt, as Standard Webhooks asks.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain.accounts import WebhookEndpoint
from paygate.domain.webhooks import DeliveryAttempt, FailedDelivery, retry_delay, sign_with, subscribes
from paygate.ids import iso_of, new_sorted_id
from paygate.observability import count_error, logger, metrics
from paygate.observability.tracing import span
from paygate.schemas.messages import WebhookDelivery
from paygate.services.ports.merchants import EndpointRepository
from paygate.services.ports.webhooks import DeliveryError, DeliveryQueue, EventLog, UrlGuard, WebhookTransport

USER_AGENT = "paygate-webhooks/1"
SQS_MAX_DELAY = 900  # a longer wait is held on the queue by pushing the message's visibility back
MARGIN_SECONDS = 2.0  # time kept in hand at the end of an invocation


@dataclass(frozen=True)
class DeliveryPolicy:
    schedule: tuple[int, ...]  # seconds to wait after failed attempt 1, 2, ...
    max_attempts: int
    timeout: float  # seconds one POST may take
    concurrency: int = 16  # POSTs at once in one invocation


@dataclass(frozen=True)
class Received:
    """A delivery as its queue handed it over."""

    message_id: str
    receipt_handle: str
    delivery: WebhookDelivery


@dataclass(frozen=True)
class _Outcome:
    """What one POST got: the endpoint's status code, or why there was none."""

    status_code: int | None
    error: str | None
    at: str

    @property
    def reason(self) -> str | None:
        """None when delivered, else why not."""
        if self.status_code is not None and 200 <= self.status_code < 300:
            return None
        return self.error or f"HTTP {self.status_code}"


@dataclass
class _Job:
    """The events of one received delivery for one endpoint, POSTed in sequence."""

    received: Received
    endpoint: WebhookEndpoint
    events: list[dict[str, Any]]
    results: list[_Outcome] = field(default_factory=list)  # per event tried, in order
    deferred: list[dict[str, Any]] = field(default_factory=list)  # not tried: no time left


def deliver_batch(
    batch: Sequence[Received],
    *,
    endpoints: EndpointRepository,
    transport: WebhookTransport,
    guard: UrlGuard,
    queue: DeliveryQueue,
    log: EventLog,
    policy: DeliveryPolicy,
    now: Callable[[], int],
    time_left: Callable[[], float],
) -> list[str]:
    """Deliver what is due in `batch`; answers the message ids that must stay on the queue (held for
    later, or whose follow-up deliveries could not be published: SQS brings them back).

    Events reaching their first attempt are kept in the event log before anything is POSTed (a
    merchant may fetch an event by its id as soon as it arrives; if they cannot be kept, the batch
    fails and comes back whole), and every attempt after the POSTs."""
    stay: list[str] = []
    due: list[Received] = []
    for received in batch:
        wait = (received.delivery.not_before or 0) - now()
        if wait > 0:
            queue.hold(received.receipt_handle, wait)
            stay.append(received.message_id)
        else:
            due.append(received)
    _keep_events(due, log)
    jobs = _plan(due, endpoints)
    if jobs:
        with ThreadPoolExecutor(max_workers=min(policy.concurrency, len(jobs)),
                                thread_name_prefix="webhook") as pool:
            list(pool.map(lambda job: _run(job, transport, guard, policy, now, time_left), jobs))
    failed, attempts = _follow_up(jobs, queue, policy, now)
    _keep_attempts(attempts, log)
    return stay + failed


def _keep_events(due: Sequence[Received], log: EventLog) -> None:
    """The events of first deliveries (the relay's: every event once, whether anyone subscribes)."""
    by_merchant: dict[str, list[dict[str, Any]]] = {}
    for received in due:
        d = received.delivery
        if d.endpoint_id is None:
            by_merchant.setdefault(d.merchant_id, []).extend(d.events)
    for merchant_id, events in by_merchant.items():
        log.record_events(merchant_id, events)


def _keep_attempts(attempts: Sequence[tuple[str, DeliveryAttempt]], log: EventLog) -> None:
    """A record that cannot be written is logged, not retried: the POSTs it describes are done, and
    retrying them would only send the merchant the same events again."""
    by_merchant: dict[str, list[DeliveryAttempt]] = {}
    for merchant_id, attempt in attempts:
        by_merchant.setdefault(merchant_id, []).append(attempt)
    for merchant_id, found in by_merchant.items():
        try:
            log.record_attempts(merchant_id, found)
        except Exception:
            logger.exception("could not record delivery attempts", extra={"attempts": len(found)})
            count_error("delivery_attempts_not_recorded")


def _plan(due: Sequence[Received], endpoints: EndpointRepository) -> list[_Job]:
    """Which endpoint gets which events: the named endpoint, or every endpoint that subscribes.
    Endpoints are read once per merchant (or endpoint) in the batch, when it is delivered."""
    by_merchant: dict[str, list[WebhookEndpoint]] = {}
    by_id: dict[tuple[str, str], WebhookEndpoint | None] = {}
    jobs: list[_Job] = []
    for received in due:
        d = received.delivery
        if d.endpoint_id is not None:
            key = (d.merchant_id, d.endpoint_id)
            if key not in by_id:
                by_id[key] = endpoints.get(d.merchant_id, d.endpoint_id)
            targets = [by_id[key]] if by_id[key] is not None else []
            if not targets:
                logger.info("endpoint deleted; delivery dropped", extra={"endpoint_id": d.endpoint_id})
        else:
            if d.merchant_id not in by_merchant:
                by_merchant[d.merchant_id] = endpoints.list(d.merchant_id)
            targets = by_merchant[d.merchant_id]
        for endpoint in targets:
            events = [e for e in d.events if subscribes(endpoint.enabled_events, e["type"])]
            if events:
                jobs.append(_Job(received, endpoint, events))
    return jobs


def _run(job: _Job, transport: WebhookTransport, guard: UrlGuard, policy: DeliveryPolicy,
         now: Callable[[], int], time_left: Callable[[], float]) -> None:
    delivery = job.received.delivery
    payment_id = next((e["data"]["object"].get("payment_id") or e["data"]["object"].get("id")
                       for e in job.events if isinstance(e.get("data", {}).get("object"), dict)), None)
    # In the payment's trace (this runs on a thread of the batch's pool: the parent is explicit).
    with span("webhook.deliver", delivery.traceparent, {"payment.id": payment_id, "endpoint.id": job.endpoint.id,
                                                        "events": len(job.events), "attempt": delivery.attempt}):
        for position, event in enumerate(job.events):
            if time_left() < policy.timeout + MARGIN_SECONDS:
                job.deferred = job.events[position:]  # come back at once rather than be cut off
                return
            job.results.append(_post(job.endpoint, event, transport, guard, policy.timeout, now()))


def _post(endpoint: WebhookEndpoint, event: dict[str, Any], transport: WebhookTransport, guard: UrlGuard,
          timeout: float, timestamp: int) -> _Outcome:
    """One attempt, and what it got (2xx: acknowledged)."""
    at = iso_of(timestamp)
    refused = guard.check(endpoint.url)
    if refused:
        # A failed attempt like any other, so that it ends dead-lettered where the merchant sees it.
        return _Outcome(None, f"url refused: {refused}", at)
    body = json.dumps(event, separators=(",", ":"))
    headers = {**sign_with(endpoint.signing_secrets(timestamp), event["id"], timestamp, body),
               "content-type": "application/json", "user-agent": USER_AGENT}
    try:
        status = transport.post(endpoint.url, body, headers, timeout)
    except DeliveryError as exc:
        return _Outcome(None, str(exc), at)
    return _Outcome(status, None, at)


def _follow_up(jobs: Sequence[_Job], queue: DeliveryQueue, policy: DeliveryPolicy,
               now: Callable[[], int]) -> tuple[list[str], list[tuple[str, DeliveryAttempt]]]:
    """Retries and dead letters for what failed, a fresh delivery for what had no time; answers the
    message ids whose follow-ups could not be published, and each attempt made (with its merchant)."""
    retries: list[tuple[str, WebhookDelivery, int]] = []
    dead: list[tuple[str, WebhookDelivery]] = []
    attempts: list[tuple[str, DeliveryAttempt]] = []
    for job in jobs:
        d = job.received.delivery
        for event, outcome in zip(job.events, job.results, strict=False):  # deferred events have no result
            attempt_log = {"endpoint_id": job.endpoint.id, "event_id": event["id"], "event_type": event["type"],
                           "attempt": d.attempt}
            reason = outcome.reason
            delay = None
            if reason is not None and d.attempt < policy.max_attempts:
                delay = retry_delay(policy.schedule, d.attempt)
            attempts.append((d.merchant_id, DeliveryAttempt(
                endpoint_id=job.endpoint.id, event_id=event["id"], event_type=event["type"], attempt=d.attempt,
                at=outcome.at, status_code=outcome.status_code, error=outcome.error,
                next_attempt_at=iso_of(now() + delay) if delay is not None else None, id=new_sorted_id("att"))))
            if reason is None:
                metrics.add_metric(name="WebhooksDelivered", unit=MetricUnit.Count, value=1)
                logger.info("webhook delivered", extra=attempt_log)
                continue
            metrics.add_metric(name="WebhookFailures", unit=MetricUnit.Count, value=1)
            single = replace(d, endpoint_id=job.endpoint.id, events=(event,), not_before=None)
            if delay is None:
                logger.error("webhook attempts exhausted; dead-lettering", extra={**attempt_log, "reason": reason})
                dead.append((job.received.message_id, single))
                continue
            logger.warning("webhook attempt failed", extra={**attempt_log, "reason": reason, "retry_in": delay})
            later = replace(single, attempt=d.attempt + 1,
                            not_before=now() + delay if delay > SQS_MAX_DELAY else None)
            retries.append((job.received.message_id, later, min(delay, SQS_MAX_DELAY)))
        for event in job.deferred:
            retries.append((job.received.message_id,
                            replace(d, endpoint_id=job.endpoint.id, events=(event,), not_before=None), 0))
    failed: set[str] = set()
    for message_ids, publish in (
        ([m for m, _, _ in retries], lambda: queue.schedule([(d, delay) for _, d, delay in retries])),
        ([m for m, _ in dead], lambda: queue.dead_letter([d for _, d in dead])),
    ):
        if not message_ids:
            continue
        try:
            publish()
        except Exception:
            # SQS brings these messages back: their endpoints that did receive get the event again
            # (same webhook-id), the others get their attempt again.
            logger.exception("could not publish webhook retries; their messages stay on the queue")
            failed.update(message_ids)
    return sorted(failed), attempts


def record_dead_letter(delivery: WebhookDelivery, *, endpoints: EndpointRepository, now: str) -> None:
    """A delivery whose attempts ran out: keep it where the merchant can see it, with the attempts made.

    A delivery still addressed to every endpoint got here through the queue's own redrive (the
    webhooks function failed on it again and again): it is kept for each endpoint that subscribes."""
    targets = ([endpoints.get(delivery.merchant_id, delivery.endpoint_id)] if delivery.endpoint_id
               else endpoints.list(delivery.merchant_id))
    for endpoint in targets:
        if endpoint is None:
            logger.info("endpoint deleted; dead letter dropped", extra={"endpoint_id": delivery.endpoint_id})
            continue
        for event in delivery.events:
            if not subscribes(endpoint.enabled_events, event["type"]):
                continue
            endpoints.record_failure(delivery.merchant_id, FailedDelivery(
                endpoint_id=endpoint.id, event_id=event["id"], event_type=event["type"],
                created_at=event.get("created_at", ""), failed_at=now, attempts=delivery.attempt,
                object=(event.get("data") or {}).get("object") or {},
            ))
            metrics.add_metric(name="WebhooksDeadLettered", unit=MetricUnit.Count, value=1)
            logger.error("webhook dead-lettered; visible to the merchant",
                         extra={"endpoint_id": endpoint.id, "event_type": event["type"], "attempts": delivery.attempt})
