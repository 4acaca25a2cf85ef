"""The inside of one Lambda worker process (what Lambda's Python runtime does, in small).

Started by the Lambda service (``worker.py``) as ``python -u -s worker_main.py <fd>``, on the
function's own interpreter: ``<fd>`` is this side of a socket pair, which carries the invocation
protocol (``protocol.py``). The worker imports the handler once (Lambda's init phase), then runs
one invocation per message with a ``LambdaContext`` (``context.py``), until the socket closes.

A template (``"template": true``, Linux only) is a worker that never runs an invocation: once its
handler is imported it only forks. The parent sends one byte with a socket (SCM_RIGHTS); the
template forks a child that takes that socket, says ``ready`` on it and serves invocations like
any worker, already initialised; the template answers ``{"type": "forked", "pid": ...}``. A new
worker so costs a fork instead of an interpreter start and the handler's imports (half a second
of CPU or more), much as Lambda SnapStart resumes from a snapshot taken after init.

Stdlib only, and nothing from ``paygate_local`` by import: the function's interpreter has no such
package, and nothing may come onto ``sys.path`` before the function's own code paths. The few
modules of the runtime it needs (all stdlib-only) are loaded from their files (``_load``).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from types import ModuleType
from typing import Any

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # paygate_local/


def _load(relative_path: str) -> ModuleType:
    """A stdlib-only module of ``paygate_local``, loaded from its file under a private name."""
    name = "paygate_worker_" + os.path.splitext(os.path.basename(relative_path))[0]
    spec = importlib.util.spec_from_file_location(name, os.path.join(_PACKAGE, relative_path))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


protocol = _load("lambda_/protocol.py")
jsonlog = _load("observability/jsonlog.py")
injection = _load("lambda_/injection.py")
LambdaContext = _load("lambda_/context.py").LambdaContext
recv_message = protocol.recv_message
_send_lock = threading.Lock()  # the invocation's reply and the notes of other threads (faults, debugger)


def send_message(sock: socket.socket, message: dict) -> None:
    with _send_lock:
        protocol.send_message(sock, message)


def error_payload(exc: BaseException, error_type: str | None = None) -> dict:
    """Lambda's shape for an unhandled error."""
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _log_error(request_id: str | None, error: dict) -> None:
    """Unhandled errors go to the function's log as a JSON line, like Lambda's [ERROR] line."""
    line = jsonlog.line("ERROR", f"{error['errorType']}: {error['errorMessage']}", requestId=request_id,
                        errorType=error["errorType"], stackTrace=error["stackTrace"])
    print(jsonlog.dumps(line), file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- main loop


def _load_handler(spec: str, paths: list[str]):
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name, _, function_name = spec.rpartition(".")
    module = importlib.import_module(module_name.replace("/", "."))
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def serve(sock: socket.socket) -> int:
    init = recv_message(sock)
    if init is None:
        return 0
    injection.install(init.get("providers"))  # before the handler's import: the SDKs it imports are hooked
    if init.get("debug"):
        _start_debugger(sock, init["debug"])
    try:
        handler = _load_handler(init["handler"], init.get("paths") or [])
    except Exception as exc:
        error = _import_error(exc, init["handler"])
        _log_error(None, error)
        send_message(sock, {"type": "init_error", "error": error})
        return 1
    send_message(sock, {"type": "ready"})
    if init.get("template"):
        return _fork_on_request(sock, handler, init)
    return _serve_invocations(sock, handler)


def _serve_invocations(sock: socket.socket, handler: Any) -> int:
    while True:
        message = recv_message(sock)
        if message is None or message.get("type") == "shutdown":
            return 0
        request_id = message["request_id"]
        context = LambdaContext(request_id, message["deadline_ms"], message["invoked_function_arn"])
        faults = message.get("faults")
        if faults:
            injection.begin(faults, lambda rule: send_message(sock, {"type": "injected", "rule": rule["id"]}))
        try:
            reply = _invoke(handler, message["event"], context)
        finally:
            if faults:
                injection.end()
        sys.stdout.flush()
        sys.stderr.flush()
        send_message(sock, reply)


def _fork_on_request(control: socket.socket, handler: Any, init: dict) -> int:
    """The template's loop: one forked worker per request, until the parent hangs up. ``R`` (hot reload):
    a child of the template imports the function's own modules anew and takes its place."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children: no zombies
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, 1, 1)
        except OSError:
            return 0
        if not data:
            return 0
        if data == b"R":
            handler = _reload(control, init)
            if handler is None:
                return 1
            continue
        if not fds:
            continue
        if threading.active_count() > 1:
            # The handler's import started a thread: a fork would copy the locks it holds but not
            # the thread, and could deadlock. The parent then starts fresh workers instead.
            os.close(fds[0])
            send_message(control, {"type": "refused", "reason": "the handler started threads at import"})
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the new worker
            control.close()
            os.setsid()  # its own process group, killed as a whole on a timeout, as a spawned one
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            sock = socket.socket(fileno=fds[0])
            try:
                send_message(sock, {"type": "ready"})
                return _serve_invocations(sock, handler)  # and exits as a spawned worker does
            finally:
                sock.close()
        os.close(fds[0])
        send_message(control, {"type": "forked", "pid": pid})


def _reload(control: socket.socket, init: dict) -> Any:
    """In a fork of the template (the template itself goes): the modules under the function's code and
    layers forgotten and the handler imported again, the other modules (the SDKs) kept as imported."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork():
        os._exit(0)
    roots = tuple(os.path.join(os.path.abspath(p), "") for p in init.get("paths") or [])
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and os.path.abspath(file).startswith(roots):
            del sys.modules[name]
    importlib.invalidate_caches()
    try:
        handler = _load_handler(init["handler"], init.get("paths") or [])
    except Exception as exc:
        error = _import_error(exc, init["handler"])
        _log_error(None, error)
        send_message(control, {"type": "init_error", "error": error})
        return None
    send_message(control, {"type": "reloaded", "pid": os.getpid()})
    return handler


def _import_error(exc: BaseException, handler: str) -> dict:
    """What Lambda calls Runtime.ImportModuleError (or HandlerNotFound), with the whole traceback."""
    error = error_payload(exc, "Runtime.ImportModuleError")
    error["errorMessage"] = f"Unable to import module '{handler}': {exc}"
    # The exception's own lines too: a SyntaxError's file, line and caret.
    error["stackTrace"] = traceback.format_exception(exc)
    return error


def _start_debugger(sock: socket.socket, debug: dict) -> None:
    """debugpy listening on 127.0.0.1:<port> before the handler's import (``--debug-wait``: until a client
    attaches); a thread tells the Lambda service when a client attaches or leaves (its timeout is
    suspended meanwhile). debugpy comes from a directory of its own (development only: not on the
    function's sys.path otherwise)."""
    if debug.get("path") and debug["path"] not in sys.path:
        sys.path.append(debug["path"])
    import debugpy

    deadline = time.monotonic() + 10
    while True:  # the adapter of the worker before this one may still hold the port a moment
        try:
            debugpy.listen(("127.0.0.1", int(debug["port"])))
            break
        except Exception:  # noqa: BLE001 - debugpy wraps the OSError in a RuntimeError
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    send_message(sock, {"type": "debugger", "listening": int(debug["port"])})

    def watch() -> None:
        attached = False
        while True:
            now = debugpy.is_client_connected()
            if now != attached:
                attached = now
                try:
                    send_message(sock, {"type": "debugger", "attached": attached})
                except OSError:
                    return
            time.sleep(0.1)

    threading.Thread(target=watch, name="paygate-debugger", daemon=True).start()
    if debug.get("wait"):
        debugpy.wait_for_client()


def _invoke(handler: Any, event: Any, context: LambdaContext) -> dict:
    try:
        result = handler(event, context)
    except Exception as exc:
        error = error_payload(exc)
    else:
        try:
            # Check here, not in send_message, so that a bad result is an error, not a dead worker.
            json.dumps(result, default=protocol.json_default)
            return {"type": "result", "payload": result}
        except (TypeError, ValueError) as exc:
            error = error_payload(exc, "Runtime.MarshalError")
    _log_error(context.aws_request_id, error)
    return {"type": "error", "error": error}


def main(argv: list[str]) -> int:
    # This file's directory is sys.path[0]; drop it so the package's modules (template.py,
    # runtime.py...) cannot shadow the function's own modules.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sock = socket.socket(fileno=int(argv[1]))
    try:
        return serve(sock)
    except (BrokenPipeError, ConnectionResetError):
        return 0
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
