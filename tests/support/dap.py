"""A Debug Adapter Protocol client, as small as the tests need: what VS Code sends first to debugpy."""

from __future__ import annotations

import json
import socket
import time
from typing import Any


class DapClient:
    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.seq = 0
        self.buffer = b""
        self.timeout = timeout

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        """Send a request and return its response (the events before it are read and dropped)."""
        self.seq += 1
        seq = self.seq
        body = json.dumps({"seq": seq, "type": "request", "command": command, "arguments": arguments}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            message = self.read()
            if message.get("type") == "response" and message.get("request_seq") == seq:
                return message
        raise TimeoutError(f"no response to {command}")

    def read(self) -> dict[str, Any]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        self.buffer = rest
        while len(self.buffer) < length:
            self._fill()
        message, self.buffer = self.buffer[:length], self.buffer[length:]
        return json.loads(message)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the debug adapter closed the connection")
        self.buffer += chunk

    def attach(self) -> None:
        """What VS Code's "attach" configuration does: initialize, attach, configurationDone."""
        assert self.request("initialize", clientID="paygate-tests", adapterID="python")["success"]
        self.seq += 1
        attach_seq = self.seq
        body = json.dumps({"seq": attach_seq, "type": "request", "command": "attach",
                           "arguments": {"justMyCode": False}}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        # debugpy answers attach only after configurationDone; it sends "initialized" first.
        while self.read().get("event") != "initialized":
            pass
        assert self.request("configurationDone")["success"]

    def close(self) -> None:
        try:
            self.request("disconnect", terminateDebuggee=False)
        except (OSError, TimeoutError, ConnectionError):
            pass
        self.sock.close()
