"""The AWS API backend: moto's server in this process (``motoserver.py``), or an endpoint that already runs.

moto runs under ``moto_patches.patched()`` for as long as the server does: its fixes, and the
hooks the in-process pollers wait on (``in_process`` says those can be used).

Everything talks to the backend with fixed dummy credentials and no shared config files, so a
developer's real AWS profile can never be used by accident.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

LOCALSTACK_URL = "http://127.0.0.1:4566"

log = logging.getLogger(__name__)


def backend_url_for(spec: str) -> str | None:
    """``moto`` -> None (start one); ``localstack`` -> its default URL; a URL -> itself."""
    if spec in (None, "", "moto"):
        return None
    if spec == "localstack":
        return LOCALSTACK_URL
    parts = urlsplit(spec)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"backend must be 'moto', 'localstack' or an http(s) URL, got {spec!r}")
    return spec.rstrip("/")


class Backend:
    """Owns the moto server it started (if any) and hands out boto3 clients for the backend."""

    def __init__(self, spec: str = "moto", *, region: str, host: str = "127.0.0.1", port: int = 0,
                 state_dir: str | Path | None = None, keep_state: bool = False):
        self.spec = spec
        self.keep_state = keep_state  # a LocalStack started here keeps its state across restarts
        self._state_dir = Path(state_dir or ".paygate")
        self._localstack: Any = None  # the LocalStackHost, for spec "localstack"
        self.region = region
        self._host = host
        self._port = port
        self._server: Any = None
        self._patches = contextlib.ExitStack()
        self._lock = threading.Lock()  # boto3 sessions are not thread-safe when making clients
        self.url: str | None = backend_url_for(spec)
        self._session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=region
        )
        self._config = Config(
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            # describe_stream against a local endpoint breaks with account-id based endpoints.
            account_id_endpoint_mode="disabled",
        )

    @property
    def started_here(self) -> bool:
        return self._server is not None

    @property
    def in_process(self) -> bool:
        """moto's backend objects are in this process (with the patches' hooks) and may be read directly."""
        return self._server is not None

    @property
    def is_localstack(self) -> bool:
        return self.spec == "localstack"

    def start(self) -> str:
        if self.spec == "localstack" and self._localstack is None:
            # LocalStack on 127.0.0.1:4566: the one that runs already, or one started (and owned) here.
            from paygate_local.backends.localstack import LocalStackHost

            self._localstack = LocalStackHost(self._state_dir / "localstack", keep_state=self.keep_state)
            self.url = self._localstack.ensure()
            return self.url
        if self.url is None:
            # Imported here: moto is heavy and not needed when an endpoint is given.
            from paygate_local.backends.moto import patches as moto_patches
            from paygate_local.backends.moto.server import MotoServer

            self._patches.enter_context(moto_patches.patched())
            self._server = MotoServer(self._host, self._port)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self.url = f"http://{host}:{port}"
            log.info("moto server listening on %s", self.url)
        return self.url

    def stop(self) -> None:
        if self._localstack is not None:
            host, self._localstack = self._localstack, None
            host.stop()  # only stops a LocalStack it started
        if self._server is not None:
            server, self._server = self._server, None
            server.stop()
        self._patches.close()

    def client(self, service: str, **overrides: Any):
        if self.url is None:
            raise RuntimeError("backend not started")
        config = self._config.merge(Config(**overrides)) if overrides else self._config
        with self._lock:
            return self._session.client(service, endpoint_url=self.url, config=config)
