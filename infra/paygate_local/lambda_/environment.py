"""A function's complete environment, as the Lambda service gives it to the function's workers."""

from __future__ import annotations

import os
import time
from pathlib import Path

from paygate.observability.tracing import TRACES_FILE_ENV
from paygate_local.template import FunctionSpec


def function_env(spec: FunctionSpec, backend_url: str, region: str, traces_file: Path | None = None) -> dict[str, str]:
    """The template's variables, the backend in use, and what the Lambda service sets.

    Deliberately not inherited from this process (a developer's AWS_PROFILE, proxies or session
    tokens must not leak into the functions); only PATH and a few basics are kept.
    """
    env = {k: os.environ[k] for k in ("PATH", "TMPDIR", "SYSTEMROOT") if k in os.environ}
    env.setdefault("PATH", os.defpath)
    env["LANG"] = "C.UTF-8"
    env["TZ"] = ":UTC"
    env.update(spec.environment)
    env.update({
        "AWS_ENDPOINT_URL": backend_url,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]local", time.gmtime()),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python'}",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
    })
    if traces_file is not None and not env.get(TRACES_FILE_ENV):
        env[TRACES_FILE_ENV] = str(traces_file)  # every span, one JSON line each (paygate trace reads it)
    return env
