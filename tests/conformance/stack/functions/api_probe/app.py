"""API Gateway's proxy integration, seen from the function: the event, the environment, the context.

GET /probe/...?sleep=N sleeps N seconds first (the integration timeout); /probe/binary answers bytes
(isBase64Encoded)."""

import base64
import json
import os
import time

ENV = ["PROBE_VAR", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
       "AWS_REGION", "AWS_LAMBDA_LOG_GROUP_NAME", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_EXECUTION_ENV"]


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    if query.get("sleep"):
        time.sleep(float(query["sleep"]))
    if event["path"].endswith("/binary"):
        return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(b"\x00\xffbytes\x80").decode(), "isBase64Encoded": True}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({
                "event": event,
                "env": {k: os.environ.get(k) for k in ENV},
                "context": {"function_name": context.function_name, "function_version": context.function_version,
                            "invoked_function_arn": context.invoked_function_arn,
                            "memory_limit_in_mb": str(context.memory_limit_in_mb),
                            "aws_request_id": context.aws_request_id, "log_group_name": context.log_group_name,
                            "remaining_ms": context.get_remaining_time_in_millis()}})}
