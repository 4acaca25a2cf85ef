"""Counters of what the local runtime does on the user's behalf, for the benchmark's cost figures.

Categories and names: ``invocations`` by function logical id, ``sqs_requests`` and
``streams_requests`` by AWS operation (what the pollers ask of the backend, counted as AWS bills
them: one long poll is one ReceiveMessage, a batch call is one request), ``api_requests`` under
``"total"``. ``LocalRuntime.counters()`` returns a snapshot.
"""

from __future__ import annotations

import threading
from collections import Counter


class Meter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}

    def count(self, category: str, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts.setdefault(category, Counter())[name] += n

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {category: dict(counts) for category, counts in self._counts.items()}
