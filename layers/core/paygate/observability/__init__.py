"""Logs, metrics and trace context shared by every function (Powertools + OpenTelemetry)."""

from paygate.observability.telemetry import logger, metrics, count_error

__all__ = ["logger", "metrics", "count_error"]
