"""W3C trace context for one trace per payment.

The API starts a trace when a payment is created; every event stores the `traceparent` of the span
that wrote it, every message carries it, and every consumer continues it as a child span. An
exporter can be attached later without changing any caller.

OpenTelemetry is imported on the first span, not with this module: a function pays for it when it
traces, not at cold start.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator


@lru_cache(maxsize=1)
def _otel() -> tuple[Any, Any, Any]:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return trace, TracerProvider().get_tracer("paygate"), TraceContextTextMapPropagator()


@contextmanager
def span(name: str, parent: str | None = None) -> Iterator[str]:
    """Run a span, as a child of `parent` (a traceparent) when given; yields the span's traceparent."""
    trace, tracer, propagator = _otel()
    context = propagator.extract({"traceparent": parent}) if parent else None
    with tracer.start_as_current_span(name, context=context) as current:
        carrier: dict[str, str] = {}
        propagator.inject(carrier, context=trace.set_span_in_context(current))
        yield carrier["traceparent"]


def trace_id(traceparent: str | None) -> str | None:
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 else None
