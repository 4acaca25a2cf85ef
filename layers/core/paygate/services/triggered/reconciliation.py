"""Reconciliation: payments left PROCESSING past a threshold are re-checked with the provider.

A charge pending at the provider normally ends with its callback; when the callback never comes (lost,
the callbacks function down), the payment would stay PROCESSING forever. Each run (a schedule) finds
the payments PROCESSING since before the threshold in the sparse in-progress index and puts a settle
command for each in its FIFO group; that command asks the provider and records what it holds, or leaves
the payment as it is when the provider cannot confirm an outcome: a later run asks again, nothing is
failed blind. At most one settle command per payment per window (FIFO deduplication).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from paygate.domain.workflow import TRIGGERED
from paygate.observability import logger
from paygate.schemas.messages import Command
from paygate.services.ports.messaging import OutboundMessage, Publisher
from paygate.services.ports.payments import InProgress

STEP = TRIGGERED["reconciliation"]
BATCH = 100
WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Run:
    checked: list[str]


def reconcile(payments: InProgress, publisher: Publisher, *, commands_queue_url: str, now: datetime,
              older_than_seconds: int, correlation_id: str | None = None) -> Run:
    cutoff = (now - timedelta(seconds=older_than_seconds)).astimezone(timezone.utc)
    before = cutoff.strftime("%Y-%m-%dT%H:%M:%S.") + f"{cutoff.microsecond // 1000:03d}Z"
    stuck = payments.in_progress_since(before, BATCH)
    window = int(now.timestamp()) // WINDOW_SECONDS
    messages = []
    for payment_id in stuck:
        command = Command(type=str(STEP.command), payment_id=payment_id, expected_version=1,
                          event_id=f"reconcile-{window}", correlation_id=correlation_id)
        messages.append(OutboundMessage(command.to_json(), group_id=payment_id,
                                        deduplication_id=f"reconcile:{payment_id}:{window}",
                                        attributes=command.attributes()))
    for start in range(0, len(messages), 10):
        publisher.publish(commands_queue_url, messages[start:start + 10])
    if stuck:
        logger.info("reconciliation: payments re-checked with the provider",
                    extra={"count": len(stuck), "payment_ids": stuck})
    return Run(stuck)
