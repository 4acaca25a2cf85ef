"""``SandboxProvider``: one sandbox provider, its records, its routes and its HTTP server (werkzeug's
threaded server, in a thread of its own). Everything is on the instance: several providers can run in
one process, each on its own port with its own records.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox_provider.app import App
from sandbox_provider.billers import Billers
from sandbox_provider.callbacks import DEFAULT_CALLBACK_SECRET, Callbacks
from sandbox_provider.charges import Charges
from sandbox_provider.refunds import Refunds
from sandbox_provider.store import StateFile, Store

log = logging.getLogger("paygate.sandbox")


class SandboxProvider:
    """The sandbox provider as an HTTP server on ``host:port`` (port 0: any free port).

    ``start()`` serves in a background thread and returns ``self``; ``url`` is then
    ``http://127.0.0.1:<port>``; ``stop()`` shuts it down (also ends any held answer or pending callback
    at once). Usable as a context manager. ``callback_url`` and ``callback_secret`` may be changed while it
    runs (``set_callback``), e.g. once the gateway's API port is known. With a ``store`` (a state file),
    its records survive it: a new provider on the same store carries on where this one stopped.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        callback_url: str | None = None,
        callback_secret: str = DEFAULT_CALLBACK_SECRET,
        timeout_delay: float = 12.0,
        async_delay: float = 1.0,
        store: StateFile | None = None,
        traces_file: str | Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._store = Store(store)
        self._callbacks = Callbacks(self._store, self._stopping, url=callback_url, secret=callback_secret,
                                    async_delay=async_delay)
        self._charges = Charges(self._store, self._callbacks, self._stopping, timeout_delay=timeout_delay)
        self._app = App(self._store, self._callbacks,
                        [self._charges, Refunds(self._store), Billers(self._store)], traces_file=traces_file)

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SandboxProvider:
        if self._server is not None:
            raise RuntimeError("the sandbox provider is already started")
        self._stopping.clear()
        # Bind ourselves so that a busy port is an OSError here, not werkzeug's sys.exit(1).
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            server = make_server(self.host, sock.getsockname()[1], self._app, threaded=True,
                                 request_handler=_QuietRequestHandler, fd=sock.fileno())
        finally:
            sock.close()  # the server holds its own duplicate of the descriptor
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()
        log.info("sandbox provider listening on %s", self.url)
        self._callbacks.resume()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout)
        self._callbacks.join(timeout)
        self._server = None
        self._thread = None
        log.info("sandbox provider stopped")

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox provider is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> SandboxProvider:
        return self.start() if self._server is None else self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # ---- settings --------------------------------------------------------------------------------

    def set_callback(self, url: str | None, secret: str | None = None) -> None:
        """Where (and with which secret) asynchronous results are sent from now on."""
        self._callbacks.set_target(url, secret)

    @property
    def callback_url(self) -> str | None:
        return self._callbacks.url

    @property
    def callback_secret(self) -> str:
        return self._callbacks.secret

    @property
    def async_delay(self) -> float:
        """Seconds before a ``tok_async`` charge settles and calls back."""
        return self._callbacks.async_delay

    @property
    def timeout_delay(self) -> float:
        """Seconds ``tok_timeout_after_success`` holds its first answer."""
        return self._charges.timeout_delay

    def set_down(self, down: bool) -> None:
        """Switched down (every charge, lookup, void and refund answers 503) or up again, as
        ``POST /_control/down`` and ``POST /_control/up`` do."""
        self._app.down = down

    # ---- in-process views (the same data as the HTTP endpoints) ------------------------------------

    def charges_for(self, reference: str) -> list[dict[str, Any]]:
        return self._store.charges_for(reference)

    def charge_count(self, reference: str) -> int:
        """How many charges took money (status succeeded) for ``reference``."""
        return sum(1 for charge in self.charges_for(reference) if charge["status"] == "succeeded")

    def request_count(self, reference: str) -> int:
        return len(self._store.requests_for(reference))

    def refunds_for(self, reference: str) -> list[dict[str, Any]]:
        return self._store.refunds_for(reference)

    def bill_payments_for(self, reference: str) -> list[dict[str, Any]]:
        return self._store.bill_payments_for(reference)


class _QuietRequestHandler(WSGIRequestHandler):
    """Sends werkzeug's per-request lines to the sandbox's logger at DEBUG instead of stderr."""

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        level = logging.ERROR if type == "error" else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "%s %s", self.address_string(), message % args if args else message)
