"""Reconciliation, on a schedule: payments left PROCESSING are re-checked with the provider."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from paygate.container import get_container
from paygate.observability import logger, metrics
from paygate.observability.tracing import flush_spans
from paygate.services.triggered.reconciliation import reconcile


@flush_spans
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    c = get_container()
    run = reconcile(c.payments, c.publisher, commands_queue_url=c.settings.commands_queue_url,
                    now=datetime.now(timezone.utc), older_than_seconds=c.settings.reconcile_after_seconds)
    if run.checked:
        metrics.add_metric(name="PaymentsReconciled", unit="Count", value=len(run.checked))
    return {"checked": len(run.checked)}
