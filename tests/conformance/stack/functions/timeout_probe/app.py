"""Runs past its Timeout: says it started, and would say it finished."""

import time

from probe import record


def handler(event, context):
    test = (event.get("queryStringParameters") or {})["test"]
    record(test, "started", remaining_ms=context.get_remaining_time_in_millis())
    time.sleep(float((event.get("queryStringParameters") or {}).get("sleep", "5")))
    record(test, "finished")
    return {"statusCode": 200, "body": "finished"}
