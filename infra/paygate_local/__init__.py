"""paygate_local: run the SAM template on one machine, no Docker, no network.

The heavy modules (boto3, moto) load on first use, so importing a light sibling such as the
sandbox provider does not pay for them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LocalRuntime", "Stack", "TemplateError", "load_template", "InvocationResult"]


def __getattr__(name: str) -> Any:
    if name == "LocalRuntime":
        from paygate_local.runtime import LocalRuntime

        return LocalRuntime
    if name in ("Stack", "TemplateError", "load_template"):
        from paygate_local import template

        return getattr(template, name)
    if name == "InvocationResult":
        from paygate_local.lambda_.worker import InvocationResult

        return InvocationResult
    raise AttributeError(f"module 'paygate_local' has no attribute {name!r}")
