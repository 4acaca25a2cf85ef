"""A merchant's webhook endpoint for tests: a real HTTP server on 127.0.0.1 that answers from a
script of status codes (the last one repeats) and records every delivery."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, statuses: tuple[int, ...] = (200,)) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[str, dict[str, str], float]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with receiver.lock:
                    receiver.received.append((body, {k.lower(): v for k, v in self.headers.items()}, time.time()))
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

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

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
