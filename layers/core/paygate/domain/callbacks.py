"""Provider callbacks: is this one really from the provider? Pure: the secret, the body, the header
and the time are passed in.

The sandbox provider signs as many providers do: header ``Sandbox-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``. A signature older or newer than ``TOLERANCE`` seconds is
refused, so a captured callback cannot be replayed later. Several ``v1=`` entries may come (a secret
rotation): one match is enough.

This module is the scheme's only implementation: the callbacks function verifies with
``signature_valid``, and the sandbox provider (``infra/sandbox_provider``) signs with ``sign`` and
verifies with ``signature_valid`` too, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
import hmac

TOLERANCE = 300
SIGNATURE_HEADER = "sandbox-signature"


class MalformedSignature(ValueError):
    """The header is missing or not in the ``t=...,v1=...`` shape."""


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The ``Sandbox-Signature`` header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def parse_signature(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise MalformedSignature("the Sandbox-Signature header is missing")
    timestamp, signatures = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        # ASCII only: str.isdigit() takes "²" (int() does not) and compare_digest refuses non-ASCII text.
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and value and value.isascii():
            signatures.append(value)
    if timestamp is None or not signatures:
        raise MalformedSignature("the Sandbox-Signature header must be t=<unix seconds>,v1=<hex signature>")
    return timestamp, signatures


def signature_valid(secret: str | bytes, body: bytes, header: str | None, now: int | float,
                    tolerance: int = TOLERANCE) -> bool:
    """True for a header made with ``secret`` over this body within ``tolerance`` of ``now``;
    MalformedSignature when there is no header to check."""
    timestamp, signatures = parse_signature(header)
    if abs(now - timestamp) > tolerance:
        return False
    expected = _digest(secret, body, timestamp)
    return any(hmac.compare_digest(expected, s) for s in signatures)


def _digest(secret: str | bytes, body: bytes, timestamp: int) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
