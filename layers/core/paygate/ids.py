"""Identifiers and time: the randomness and the clock the pure domain is handed."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds: sorts as text in the order of time."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def epoch_seconds() -> int:
    return int(datetime.now(timezone.utc).timestamp())


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
