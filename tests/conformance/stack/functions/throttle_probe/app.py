"""Reserved concurrency 1: holds its one slot for a while."""

import time

from probe import record


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    record(query["test"], "started", request=query.get("n"))
    time.sleep(float(query.get("sleep", "1.5")))
    record(query["test"], "finished", request=query.get("n"))
    return {"statusCode": 200, "body": query.get("n", "")}
