"""What a message consumer tells its handler: done (acknowledge) or retry after a delay."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Done:
    note: str = "done"


@dataclass(frozen=True)
class RetryLater:
    seconds: int
    reason: str


Outcome = Done | RetryLater


class RetryRequested(Exception):
    """Raised by a handler for one record so the batch reports it failed; SQS redelivers it later."""

    def __init__(self, outcome: RetryLater) -> None:
        super().__init__(f"retry in {outcome.seconds}s: {outcome.reason}")
        self.outcome = outcome
