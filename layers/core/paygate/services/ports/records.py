"""What every aggregate's repository shares: a stored record (the aggregate, its events, their trace
contexts), the metadata a write carries, a lost race, and a write as the outbox reports it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, Sequence, TypeVar

S = TypeVar("S")  # the aggregate's state: a Payment, a Refund, an Order
E = TypeVar("E")  # its events


class ConcurrencyConflict(Exception):
    """Another writer changed the aggregate first (its version moved on)."""


@dataclass(frozen=True)
class EventMeta:
    """Carried with every event and message, so one payment is one trace and one correlation id."""

    traceparent: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class Record(Generic[S, E]):
    """Everything stored of one aggregate: its events in sequence (their fold is `state`), the trace
    context of the span that wrote each event, and the correlation id of the request that created it."""

    state: S
    events: tuple[E, ...]
    traces: tuple[str | None, ...]
    correlation_id: str | None = None

    def trace_of(self, sequence: int) -> str | None:
        return self.traces[sequence - 1] if 0 < sequence <= len(self.traces) else None

    @property
    def last_trace(self) -> str | None:
        """The trace context of the span that wrote last: where a new span of the aggregate continues."""
        return self.trace_of(len(self.traces))

    def then(self, events: Sequence[E], after: S, traceparent: str | None) -> Record[S, E]:
        """This record with `events` added (which take the state to `after`), written by one span."""
        return Record(after, self.events + tuple(events), self.traces + (traceparent,) * len(events),
                      self.correlation_id)


@dataclass(frozen=True)
class Change:
    """One write of a payment, a refund or an order as the outbox (its table's stream) reports it: the
    events it added (sequence above `previous_version`) and the whole record after it."""

    position: str  # the stream record's sequence number: where a retry resumes
    previous_version: int
    record: Record[Any, Any]

    @property
    def new_events(self) -> tuple[Any, ...]:
        return tuple(e for e in self.record.events if e.sequence > self.previous_version)


class ChangeDecoder(Protocol):
    def changes(self, records: Sequence[dict[str, Any]]) -> list[Change]:
        """The aggregates' writes among raw stream records (others, such as removals, are left out)."""
