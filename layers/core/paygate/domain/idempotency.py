"""The idempotency fingerprint: what makes two requests "the same request"."""

from __future__ import annotations

import hashlib
import json
from typing import Any

MAX_KEY_LENGTH = 255


def fingerprint(method: str, path: str, body: Any) -> str:
    """A stable hash of the request: the method, the path, and the body as parsed JSON.

    Key order and white space do not matter; any change of a value does.
    """
    canonical = json.dumps(
        {"method": method.upper(), "path": path, "body": body},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def valid_key(key: str | None) -> bool:
    return key is not None and 1 <= len(key) <= MAX_KEY_LENGTH and key.isprintable()
