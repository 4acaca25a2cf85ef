"""moto's server application behind an HTTP/1.1 keep-alive server.

moto ships a werkzeug development server (``ThreadedMotoServer``) that closes the connection after
every answer ("Connection: close"; werkzeug does so on purpose). Every AWS call a function makes
then pays a new TCP connection and a new server thread on both sides; under load that was about a
third of the backend's CPU. This server runs the very same WSGI application (moto's own dispatcher:
the service is found from the request's host, target and signature, as in moto's server) and keeps
each client's connection open, as AWS endpoints do, with one thread per connection.

Only the request and response plumbing is ours: requests are read whole (Content-Length or
chunked), answers are sent in one write with a Content-Length. Between the two, the barrier
(``moto_patches.barrier``): with a state file, no answer leaves before every change it could tell
of (its own, or one it read) is durable.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

from paygate_local.backends.moto import patches as moto_patches
from paygate_local.httpserver import (
    HOP_BY_HOP,
    BadLength,
    BodyTooLarge,
    IncompleteBody,
    KeepAliveHandler,
    TrackingHTTPServer,
    read_body,
)

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024  # far above any DynamoDB or SQS request
IDLE_CONNECTION_SECONDS = 60.0  # a client's idle keep-alive connection is closed after this


class _Handler(KeepAliveHandler):
    timeout = IDLE_CONNECTION_SECONDS
    server: TrackingHTTPServer  # .owner: the WSGI application

    def _serve(self) -> None:
        try:
            body = read_body(self, MAX_BODY)
        except (BadLength, BodyTooLarge, IncompleteBody):
            self._write(400, [("Content-Type", "text/plain")], b"bad request body")
            self.close_connection = True
            return
        status, headers, answer = self._call_app(body)
        moto_patches.barrier()
        if (self.headers.get("Connection") or "").lower() == "close":
            self.close_connection = True
        self._write(status, headers, answer)

    def _call_app(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        split = urlsplit(self.path)
        host, _, port = (self.headers.get("Host") or "").partition(":")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(split.path, "latin-1"),
            "QUERY_STRING": split.query,
            "RAW_URI": self.path,
            "REQUEST_URI": self.path,
            "SERVER_NAME": host or self.server.server_address[0],
            "SERVER_PORT": port or str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        started: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started["status"], started["headers"] = status, headers
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = self.server.owner(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        code = int(started["status"].split(None, 1)[0])
        return code, started["headers"], b"".join(chunks)

    def _write(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        if self.command == "HEAD" or status in (204, 304) or 100 <= status < 200:
            length, body = len(body), b""
        else:
            length = len(body)
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        lines += [f"{name}: {value}" for name, value in headers if name.lower() not in HOP_BY_HOP]
        lines.append(f"Content-Length: {length}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)  # one write: no small packet waiting behind another


class MotoServer:
    """moto's application on ``host:port`` (0 picks a free port), in threads of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._address = (host, port)
        self._server: TrackingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self._server = TrackingHTTPServer(self._address, _Handler, DomainDispatcherApplication(create_backend_app))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="moto-server", daemon=True)
        self._thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
