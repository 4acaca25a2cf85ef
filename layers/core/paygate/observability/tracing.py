"""W3C trace context for one trace per payment.

The API starts a trace when a payment is created; every event item stores the `traceparent` of the
span that wrote it, every message carries it, and every consumer continues it as a child span. An
exporter can be attached later without changing any caller.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


def _tracer() -> trace.Tracer:
    global _provider
    if _provider is None:
        _provider = TracerProvider()
    return _provider.get_tracer("paygate")


@contextmanager
def span(name: str, parent: str | None = None) -> Iterator[str]:
    """Run a span, as a child of `parent` (a traceparent) when given; yields the span's traceparent."""
    context = _propagator.extract({"traceparent": parent}) if parent else None
    with _tracer().start_as_current_span(name, context=context) as current:
        carrier: dict[str, str] = {}
        _propagator.inject(carrier, context=trace.set_span_in_context(current))
        yield carrier["traceparent"]


def trace_id(traceparent: str | None) -> str | None:
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 else None
