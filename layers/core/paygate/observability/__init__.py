"""Logs, metrics and trace context shared by every function (Powertools + OpenTelemetry)."""

from paygate.observability.telemetry import count_error, count_provider, logger, metrics

__all__ = ["logger", "metrics", "count_error", "count_provider"]
