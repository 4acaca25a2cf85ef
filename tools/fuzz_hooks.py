"""Schemathesis hooks for `make fuzz` (SCHEMATHESIS_HOOKS=tools.fuzz_hooks).

A webhook endpoint the fuzzer creates must never point at a real host: the gateway would deliver
webhooks there. Its `url`, whatever was generated, is replaced by a loopback address nothing listens
on (the deliveries fail and are retried, on this machine only).
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

LOOPBACK_URL = "http://127.0.0.1:9/fuzz-hooks"


def _loopback(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("url"), str):
        body["url"] = LOOPBACK_URL
    return body


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.method.upper() != "POST" or not case.path.startswith("/v1/webhook_endpoints"):
        return
    _loopback(case.body)
    _loopback(kwargs.get("json"))
    data = kwargs.get("data")
    if isinstance(data, (bytes, str)):
        try:
            parsed = json.loads(data)
        except ValueError:
            return
        if isinstance(parsed, dict) and isinstance(parsed.get("url"), str):
            kwargs["data"] = json.dumps(_loopback(parsed))
