"""`paygate dev`'s control server on 127.0.0.1 (dev.json's ``control_url``): the chaos API.

    PUT    {control_url}/faults   {"rules": [...]}: the rules in force from now on (all of them replaced)
    GET    {control_url}/faults   the rules, each with ``injected``: how many times a worker injected it
    DELETE {control_url}/faults   no rule any more

Answers are JSON; a bad rule is a 400 in the API's error shape, naming the key (``param``).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from paygate_local.controls.faults import Faults, RuleError, parse_rules
from paygate_local.httpserver import (
    BadLength,
    BodyTooLarge,
    IncompleteBody,
    KeepAliveHandler,
    TrackingHTTPServer,
    read_body,
)

MAX_BODY = 1024 * 1024


class ControlServer:
    def __init__(self, faults: Faults, functions: set[str], host: str = "127.0.0.1", port: int = 0) -> None:
        self.faults, self.functions = faults, functions
        self._server = TrackingHTTPServer((host, port), _Handler, self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ControlServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="paygate-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self._server.close_connections()


class _Handler(KeepAliveHandler):
    server: TrackingHTTPServer
    server_version = "paygate-dev-control"
    sys_version = ""

    def _serve(self) -> None:
        control: ControlServer = self.server.owner
        try:
            body = read_body(self, MAX_BODY)
        except (BadLength, BodyTooLarge, IncompleteBody):
            self.close_connection = True
            return self._answer(400, _error("invalid_body", "the body could not be read", None))
        path = self.path.split("?", 1)[0].rstrip("/")
        if path != "/faults":
            return self._answer(404, _error("route_not_found", f"no route {self.command} {self.path}; "
                                            "the control API has /faults", None))
        if self.command == "GET":
            return self._answer(200, control.faults.listing())
        if self.command == "DELETE":
            control.faults.clear()
            return self._answer(200, control.faults.listing())
        if self.command != "PUT":
            return self._answer(405, _error("method_not_allowed", f"{self.command} is not allowed on /faults; "
                                            "GET, PUT or DELETE", None), [("Allow", "GET, PUT, DELETE")])
        try:
            data = json.loads(body or b"null")
        except ValueError:
            return self._answer(400, _error("invalid_json", "the body is not JSON", None))
        try:
            rules = parse_rules(data, control.functions)
        except RuleError as exc:
            return self._answer(400, _error("invalid_fault_rule", exc.message, exc.param))
        control.faults.set(rules)
        return self._answer(200, control.faults.listing())

    def _answer(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in [("Content-Type", "application/json"), *(headers or [])]:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _error(code: str, message: str, param: str | None) -> dict[str, Any]:
    return {"error": {"type": "invalid_request_error", "code": code, "message": message, "param": param}}
