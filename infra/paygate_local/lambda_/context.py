"""The context object Lambda passes to a Python handler: the one definition, used by the workers
of the local Lambda service (``worker_main.py`` loads this file by its path) and by the tests that
call a handler in their own process.

Stdlib only: it runs in the function's own interpreter.
"""

from __future__ import annotations

import os
import time
from typing import Mapping


class LambdaContext:
    """What Lambda's Python runtime passes as ``context``: the function's facts come from the
    environment Lambda sets (``environ``, the process's own by default)."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str,
                 environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.aws_request_id = request_id
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = invoked_function_arn
        # A string, as in Lambda's own runtime (it comes from an environment variable there too).
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self) -> str:
        return (f"LambdaContext(function_name={self.function_name!r}, "
                f"aws_request_id={self.aws_request_id!r})")
