"""``python -m sandbox_provider``: the sandbox provider alone, in the foreground, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from sandbox_provider.callbacks import DEFAULT_CALLBACK_SECRET
from sandbox_provider.server import SandboxProvider


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox_provider",
        description="Run the paygate sandbox payment provider on 127.0.0.1 in the foreground (Ctrl-C stops).",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 inside a container)")
    parser.add_argument("--port", type=int, default=4010, help="port (0: any free port; default 4010)")
    parser.add_argument("--callback-url", default=None,
                        help="where tok_async results are POSTed, e.g. http://127.0.0.1:3000/callbacks/sandbox")
    parser.add_argument("--callback-secret", default=DEFAULT_CALLBACK_SECRET,
                        help="HMAC secret for the Sandbox-Signature header")
    parser.add_argument("--timeout-delay", type=float, default=12.0,
                        help="seconds tok_timeout_after_success holds its first answer (default 12)")
    parser.add_argument("--async-delay", type=float, default=1.0,
                        help="seconds before a tok_async charge settles and calls back (default 1)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    provider = SandboxProvider(
        host=args.host,
        port=args.port,
        callback_url=args.callback_url,
        callback_secret=args.callback_secret,
        timeout_delay=args.timeout_delay,
        async_delay=args.async_delay,
    )
    try:
        provider.start()
    except OSError as err:
        print(f"sandbox: cannot listen on {args.host}:{args.port}: {err.strerror or err}", file=sys.stderr)
        return 1

    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        done.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    print(f"sandbox provider listening on {provider.url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        provider.stop()
    return 0
