"""`paygate sandbox`: only the sandbox payment provider, in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from paygate_local.cli.options import fail


def sandbox_command(port: Annotated[int, typer.Option(help="the port on 127.0.0.1")] = 4010) -> int:
    """Run only the sandbox payment provider."""
    import logging

    from paygate_local.foreground import wait_for_stop
    from sandbox_provider import SandboxProvider

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    provider = SandboxProvider(port=port)
    try:
        provider.start()
    except OSError as err:
        fail(f"cannot listen on 127.0.0.1:{port}: {err.strerror or err}", "paygate sandbox", 1)
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"sandbox provider listening on {provider.url}", flush=True)
    try:
        wait_for_stop(stopping)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        provider.stop()
    return 0
