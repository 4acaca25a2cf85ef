"""What the runtime's two HTTP servers share (the API Gateway front, and the keep-alive server in
front of moto): a threaded server that can end its idle keep-alive connections when it stops, and
reading a request body (Content-Length or chunked) with a size limit.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade",
              "proxy-connection", "te", "trailer"}


class TrackingHTTPServer(ThreadingHTTPServer):
    """Keeps track of open connections so that stopping also ends idle keep-alive connections
    (and with them their handler threads) instead of waiting for the socket timeout."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: Any):
        self.owner = owner  # what the handlers serve: the API gateway, moto's application
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; every method goes to ``_serve``."""

    protocol_version = "HTTP/1.1"
    # An answer may go out in two writes; with Nagle on, the second waits for a delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        raise NotImplementedError

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)


class BodyTooLarge(Exception):
    """The body is over the limit: answer 413 and close (the rest is still on the socket)."""


class IncompleteBody(Exception):
    """The request body is shorter than announced or malformed: drop the connection."""


class BadLength(Exception):
    """Content-Length is not a non-negative integer: a 400, then close."""


def read_body(handler: BaseHTTPRequestHandler, max_body: int) -> bytes:
    """The request body, by Content-Length or chunked transfer encoding."""
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        return _read_chunked(handler, max_body)
    length_header = handler.headers.get("Content-Length")
    if length_header is None:
        return b""
    try:
        length = int(length_header)
        if length < 0:
            raise ValueError
    except ValueError:
        raise BadLength from None
    if length > max_body:
        raise BodyTooLarge
    data = handler.rfile.read(length)
    if len(data) != length:
        raise IncompleteBody
    return data


def _read_chunked(handler: BaseHTTPRequestHandler, max_body: int) -> bytes:
    rfile = handler.rfile
    chunks = []
    total = 0
    while True:
        line = rfile.readline(1024)
        if not line.endswith(b"\n"):
            raise IncompleteBody
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise IncompleteBody from None
        if size == 0:
            while rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        total += size
        if total > max_body:
            raise BodyTooLarge
        data = rfile.read(size)
        if len(data) != size:
            raise IncompleteBody
        chunks.append(data)
        rfile.readline(8)  # the CRLF after the chunk
