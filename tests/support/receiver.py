"""A merchant's webhook endpoint for tests: a real HTTP server on 127.0.0.1 that answers from a
script of status codes (the last one repeats) and records every delivery. With `hold`, it keeps
each request open, unanswered, until that event is set: a slow or hung endpoint."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _hung_up(connection: socket.socket) -> bool:
    """True once the other side closed the connection (readable, and nothing to read)."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Receiver:
    def __init__(self, statuses: tuple[int, ...] = (200,), hold: threading.Event | None = None) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[str, dict[str, str], float]] = []
        self.held = 0  # requests being held open right now
        self.abandoned = 0  # held requests whose sender hung up (gave up waiting) before the release
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with receiver.lock:
                    receiver.received.append((body, {k.lower(): v for k, v in self.headers.items()}, time.time()))
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                if hold is not None:
                    with receiver.lock:
                        receiver.held += 1
                    gone = False
                    while not hold.wait(0.05) and not gone:
                        gone = _hung_up(self.connection)
                    with receiver.lock:
                        receiver.held -= 1
                        receiver.abandoned += gone
                    if gone:
                        return
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting (its timeout): what a hung endpoint does to it

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, event_type: str | None = None) -> list[tuple[dict, dict[str, str], str]]:
        """(parsed body, lower-cased headers, raw body) of each delivery, optionally of one type."""
        with self.lock:
            items = list(self.received)
        parsed = [(json.loads(body), headers, body) for body, headers, _ in items]
        return [p for p in parsed if event_type is None or p[0]["type"] == event_type]

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Until at least `count` deliveries arrived (a poll with a deadline)."""
        from polling import wait_for

        wait_for(lambda: len(self.received) >= count, timeout, f"{count} webhook deliveries at {self.url}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
