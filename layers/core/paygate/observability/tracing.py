"""OpenTelemetry traces: one trace per payment, exported where the environment says.

The API starts a trace when a payment (an order, a refund) is created; every event stores the
`traceparent` of the span that wrote it, every message carries it, and every consumer continues it as
a child span. Inside those spans the AWS calls (botocore, which pynamodb uses too) and the provider and
webhook HTTP calls (httpx) are child spans, made by the maintained OpenTelemetry instrumentations.

Where spans go, decided once per process from the environment:
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``): OTLP over HTTP, batched
  and flushed at the end of each invocation (Jaeger in `docker compose`, an ADOT collector on AWS);
- ``PAYGATE_TRACES_FILE``: one JSON line per span appended to that file (`paygate dev` sets it under
  its state directory; `paygate trace` reads it), which is kept to a bounded size (``SpansFile``);
- neither: spans are made for the context they carry, exported nowhere, and no instrumentation is
  loaded.
An AWS or HTTP call made outside any payment's trace (a merchant lookup, a relay's batch send) would
be a trace of its own: those are not recorded (``_payment_traces_only``).

OpenTelemetry is imported on the first span, not with this module: a function pays for it when it
traces, not at cold start.
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, TypeVar

TRACES_FILE_ENV = "PAYGATE_TRACES_FILE"
TRACES_MAX_BYTES_ENV = "PAYGATE_TRACES_MAX_BYTES"
TRACES_MAX_BYTES = 64 * 1024 * 1024  # ~9,000 card payments at ~7 KB of spans each
OTLP_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _Tracing:
    trace: Any
    tracer: Any
    propagator: Any
    provider: Any
    exporting: bool


def exporting_configured(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool(env.get(TRACES_FILE_ENV) or any(env.get(name) for name in OTLP_ENVS))


def span_line(span: Any) -> str:
    """A finished span as one compact JSON line (the SDK's own JSON shape)."""
    return span.to_json(indent=None) + "\n"


@functools.lru_cache(maxsize=1)
def _tracing() -> _Tracing:
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    if not exporting_configured():
        return _Tracing(trace, TracerProvider().get_tracer("paygate"), propagator, None, False)

    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    resource = Resource.create({
        "service.name": os.environ.get("POWERTOOLS_SERVICE_NAME") or "paygate",
        "faas.name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
        "cloud.provider": "aws",
    })
    provider = TracerProvider(resource=resource, sampler=_payment_traces_only())
    traces_file = os.environ.get(TRACES_FILE_ENV)
    if traces_file:
        out = SpansFile(traces_file)
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=span_line)))
    if any(os.environ.get(name) for name in OTLP_ENVS):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _instrument(provider)
    return _Tracing(trace, provider.get_tracer("paygate"), propagator, provider, True)


class SpansFile:
    """The spans file, shared by every worker of every function and the sandbox, kept bounded.

    Each span is one ``write`` on an ``O_APPEND`` descriptor (whole lines: writers do not interleave).
    When the file passes ``max_bytes`` the writer that notices renames it to ``<path>.1`` (replacing
    the one before) under an ``flock``, so at most about twice ``max_bytes`` stay on disk and
    `paygate trace` reads both. A writer whose file was renamed by another one reopens the path on its
    next write; a span written in between lands in ``<path>.1``, where it is still read.
    """

    def __init__(self, path: str | os.PathLike[str], max_bytes: int | None = None) -> None:
        self.path = os.path.abspath(path)
        self.rotated = self.path + ".1"
        self.max_bytes = max_bytes or int(os.environ.get(TRACES_MAX_BYTES_ENV) or TRACES_MAX_BYTES)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._fd = -1
        self._open()

    def _open(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._inode = os.fstat(self._fd).st_ino

    def _renamed(self) -> bool:
        try:
            return os.stat(self.path).st_ino != self._inode
        except FileNotFoundError:
            return True

    def write(self, text: str) -> int:
        if self._renamed():
            self._open()
        os.write(self._fd, text.encode("utf-8"))
        if os.fstat(self._fd).st_size > self.max_bytes:
            self._rotate()
        return len(text)

    def _rotate(self) -> None:
        import fcntl

        with open(self.path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self._renamed():  # nobody rotated it while this one waited for the lock
                os.replace(self.path, self.rotated)
            self._open()

    def flush(self) -> None:
        """Every write is already in the file."""

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _instrument(provider: Any) -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    BotocoreInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)


def _payment_traces_only() -> Any:
    """A sampler recording the spans of payment traces: every span with a parent, and roots that are
    not client calls (a client call with no parent is an AWS or HTTP call outside any payment)."""
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
    from opentelemetry.trace import SpanKind, get_current_span

    class PaymentTracesOnly(Sampler):
        def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                          attributes: Any = None, links: Any = None, trace_state: Any = None) -> Any:
            parent = get_current_span(parent_context).get_span_context()
            sampled = parent.trace_flags.sampled if parent.is_valid else kind != SpanKind.CLIENT
            return SamplingResult(Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP, attributes)

        def get_description(self) -> str:
            return "PaymentTracesOnly"

    return PaymentTracesOnly()


@contextmanager
def span(name: str, parent: str | None = None, attributes: Mapping[str, Any] | None = None) -> Iterator[str]:
    """Run a span, as a child of `parent` (a traceparent) when given; yields the span's traceparent.
    `attributes` (e.g. ``{"payment.id": ...}``) let `paygate trace` find a payment's trace."""
    t = _tracing()
    context = t.propagator.extract({"traceparent": parent}) if parent else None
    with t.tracer.start_as_current_span(name, context=context,
                                        attributes={k: v for k, v in (attributes or {}).items() if v is not None}
                                        ) as current:
        carrier: dict[str, str] = {}
        t.propagator.inject(carrier, context=t.trace.set_span_in_context(current))
        yield carrier["traceparent"]


def flush_spans(handler: F) -> F:
    """Around a Lambda handler: what it traced is exported before it returns (the process may then be
    frozen, or never thawed). Nothing to do when nothing was traced or nothing exports."""

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        finally:
            if _tracing.cache_info().currsize and _tracing().exporting:
                _tracing().provider.force_flush(timeout_millis=5000)

    return run  # type: ignore[return-value]


def trace_id(traceparent: str | None) -> str | None:
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 else None


if exporting_configured():
    # Set up at init (Lambda's init phase; before a local worker is forked from its template), so the
    # first invocation does not pay for it.
    _tracing()


@contextmanager
def marker_span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[None]:
    """A child of the current span that is not made current: it marks a stretch of work (a provider
    attempt, for `paygate trace`) without changing the parent of the spans made inside it."""
    t = _tracing()
    current = t.tracer.start_span(name, attributes={k: v for k, v in (attributes or {}).items() if v is not None})
    try:
        yield
    finally:
        current.end()
