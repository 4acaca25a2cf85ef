"""Identifiers and time: the randomness and the clock the pure domain is handed."""

from __future__ import annotations

import secrets
import threading
from datetime import datetime, timezone

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


_SORTED = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # ASCII order


_last_sorted = (0, 0)  # (milliseconds, random part) of the last sorted id made in this process
_sorted_lock = threading.Lock()


def _base62(value: int, width: int) -> str:
    out = ""
    for _ in range(width):
        value, digit = divmod(value, 62)
        out = _SORTED[digit] + out
    return out


def new_sorted_id(prefix: str, now_ms: int | None = None) -> str:
    """An id that sorts as text in the order it was made (8 characters of milliseconds, then 16
    random ones, like a ULID): a list of them newest first is one range, and one is found by its id.
    Ids made in the same millisecond by one process still sort in the order they were made (the
    random part of the later one is the earlier one's plus one: ULID's monotonic mode), so the
    events of one write (processing, then completed) list in their order."""
    global _last_sorted
    ms = now_ms if now_ms is not None else int(datetime.now(timezone.utc).timestamp() * 1000)
    with _sorted_lock:
        last_ms, last_random = _last_sorted
        if ms <= last_ms and last_random + 1 < 62 ** 16:
            ms, random_part = last_ms, last_random + 1
        else:
            random_part = secrets.randbelow(62 ** 16 // 2)  # room to count up within one millisecond
        _last_sorted = (ms, random_part)
    return f"{prefix}_{_base62(ms, 8)}{_base62(random_part, 16)}"


def new_event_id() -> str:
    return new_sorted_id("evt")


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds: sorts as text in the order of time."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def iso_of(epoch: int) -> str:
    """Epoch seconds as `utc_now` writes times."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def epoch_seconds() -> int:
    return int(datetime.now(timezone.utc).timestamp())


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
