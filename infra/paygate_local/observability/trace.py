"""`paygate trace <payment id> [--json]`: one payment's trace, from the spans `paygate dev` keeps.

Every function of `paygate dev` (and its sandbox provider) appends its finished spans to
``<state-dir>/traces/spans.jsonl``, one JSON line each in the OpenTelemetry SDK's own shape
(layers/core/paygate/observability/tracing.py); past 64 MB it is rotated to ``spans.jsonl.1``, and both
are read. A payment's spans carry ``payment.id``; its trace is
the trace of the first of them, and every span of that trace is shown: the API's, the relay's, the
processor's with its AWS and provider calls, the provider's own, the webhook deliveries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator


class TraceError(Exception):
    """One line for the user, non-zero exit."""


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    kind: str
    start: str
    end: str
    attributes: dict[str, Any]
    status: str = "UNSET"
    children: list[Span] = field(default_factory=list, repr=False)

    @property
    def start_at(self) -> datetime:
        return _when(self.start)

    @property
    def duration_ms(self) -> float:
        return (_when(self.end) - _when(self.start)).total_seconds() * 1000

    def as_json(self) -> dict[str, Any]:
        return {"trace_id": self.trace_id, "span_id": self.span_id, "parent_span_id": self.parent_span_id,
                "name": self.name, "service": self.service, "kind": self.kind, "start": self.start, "end": self.end,
                "duration_ms": round(self.duration_ms, 3), "status": self.status, "attributes": self.attributes}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _hex(value: str | None) -> str | None:
    return value[2:] if isinstance(value, str) and value.startswith("0x") else value


def parse(line: str) -> Span | None:
    """A span line of the SDK's JSON, or None for anything else (a torn or foreign line)."""
    try:
        raw = json.loads(line)
        context = raw["context"]
        return Span(
            trace_id=_hex(context["trace_id"]), span_id=_hex(context["span_id"]),
            parent_span_id=_hex(raw.get("parent_id")), name=raw["name"],
            service=(raw.get("resource") or {}).get("attributes", {}).get("service.name", "?"),
            kind=str(raw.get("kind", "")).removeprefix("SpanKind."), start=raw["start_time"], end=raw["end_time"],
            attributes=raw.get("attributes") or {}, status=(raw.get("status") or {}).get("status_code", "UNSET"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def span_files(path: Path) -> list[Path]:
    """The spans file and the one it was rotated into (tracing.SpansFile), older first."""
    return [p for p in (path.with_name(path.name + ".1"), path) if p.exists()]


def read_spans(path: Path, containing: str | None = None) -> Iterator[Span]:
    """Every span of the spans file (and its rotated part); with `containing`, only the lines that
    contain that text are parsed (a payment's id, a trace id): the files may hold thousands of traces."""
    for part in span_files(path):
        with part.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if containing is not None and containing not in line:
                    continue
                found = parse(line)
                if found is not None:
                    yield found


def payment_trace(path: Path, payment_id: str) -> list[Span]:
    """The spans of the payment's trace, by start time: the trace of the first span marked with the
    payment's id, then every span of that trace."""
    marked = min((s for s in read_spans(path, json.dumps(payment_id)) if s.attributes.get("payment.id") == payment_id),
                 key=lambda s: s.start_at, default=None)
    if marked is None:
        raise TraceError(f"no trace for payment {payment_id!r} (an unknown payment, or one made without "
                         f"paygate dev's traces)")
    return sorted((s for s in read_spans(path, marked.trace_id) if s.trace_id == marked.trace_id),
                  key=lambda s: s.start_at)


def tree(spans: list[Span]) -> list[Span]:
    """The roots (spans whose parent is not in the trace), each with its children, by start time."""
    by_id = {s.span_id: s for s in spans}
    for s in spans:
        s.children = []
    roots = []
    for s in spans:
        parent = by_id.get(s.parent_span_id or "")
        (parent.children if parent is not None else roots).append(s)
    return roots


def walk(roots: list[Span], depth: int = 0) -> Iterator[tuple[int, Span]]:
    for s in roots:
        yield depth, s
        yield from walk(s.children, depth + 1)


def render(spans: list[Span], width: int = 24) -> Any:
    """The waterfall as a rich table: offset from the trace's start, duration, service, name, a bar."""
    from rich.table import Table
    from rich.text import Text

    begin = min(s.start_at for s in spans)
    total = max(max((_when(s.end) - begin).total_seconds() * 1000 for s in spans), 0.001)
    table = Table(title=f"trace {spans[0].trace_id}: {len(spans)} spans, {total:.1f} ms", title_justify="left")
    for column, justify, least in (("start ms", "right", 8), ("took ms", "right", 7), ("service", "left", 9),
                                   ("span", "left", 30), ("", "left", width)):
        table.add_column(column, justify=justify, no_wrap=True, min_width=least)
    for depth, s in walk(tree(spans)):
        offset = (s.start_at - begin).total_seconds() * 1000
        lead = int(offset / total * width)
        bar = Text(" " * lead + "█" * max(1, int(s.duration_ms / total * width)),
                   style="red" if s.status == "ERROR" else "cyan")
        label = "  " * depth + s.name + _detail(s)
        table.add_row(f"{offset:.1f}", f"{s.duration_ms:.1f}", s.service, label, bar)
    return table


def _detail(s: Span) -> str:
    a = s.attributes
    status = a.get("http.response.status_code") or a.get("http.status_code")
    url = a.get("url.full") or a.get("http.url")
    if url:
        return f"  {url}" + (f" -> {status}" if status else "")
    return f"  -> {status}" if status else ""
