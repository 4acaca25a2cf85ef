"""The invocation protocol between the Lambda service and a worker process: length-prefixed JSON
messages over a socket pair, so that the function is free to print whatever it likes to stdout and
stderr (those go to the function's log file).

Messages (service -> worker, worker -> service):
  init   {"type": "init", "handler": "app.handler", "paths": [...], "template": false}
                                                                 -> ready | init_error
  invoke {"type": "invoke", "event", "request_id", "deadline_ms", "invoked_function_arn"}
                                                                 -> result | error
A template worker (``"template": true``) instead answers one byte carrying a socket (SCM_RIGHTS)
with ``{"type": "forked", "pid": ...}`` (see ``worker_main.py``). The worker exits when the socket
closes, so a dead service never leaves workers behind.

Stdlib only: ``worker_main.py`` loads this file by its path inside the function's interpreter.
"""

from __future__ import annotations

import decimal
import json
import socket
import struct
import time
from typing import Any

_HEADER = struct.Struct(">I")
MAX_MESSAGE = 256 * 1024 * 1024


def send_message(sock: socket.socket, message: dict) -> None:
    data = json.dumps(message, separators=(",", ":"), default=json_default).encode("utf-8")
    sock.sendall(_HEADER.pack(len(data)) + data)


def recv_message(sock: socket.socket, deadline: float | None = None) -> dict | None:
    """The next message, or None on EOF. Raises TimeoutError past ``deadline`` (time.monotonic)."""
    header = _recv_exact(sock, _HEADER.size, deadline)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes is too large")
    body = _recv_exact(sock, size, deadline)
    if body is None:
        return None
    return json.loads(body)


def _recv_exact(sock: socket.socket, size: int, deadline: float | None) -> bytes | None:
    chunks = []
    remaining = size
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
        else:
            sock.settimeout(None)
        try:
            chunk = sock.recv(min(remaining, 1 << 20))
        except socket.timeout:
            raise TimeoutError from None
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def json_default(value: Any) -> Any:
    # Lambda's runtime serialises Decimal (what boto3's DynamoDB resource returns) as a number.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
