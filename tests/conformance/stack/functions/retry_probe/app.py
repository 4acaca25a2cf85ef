"""The same stream's second consumer: no bisecting, MaximumRetryAttempts 1, BatchSize 1. Items of tests
"retry-..." with "poison" fail every time."""

from probe import record


def handler(event, context):
    for r in event["Records"]:
        image = r["dynamodb"].get("NewImage") or {}
        pk = image.get("pk", {}).get("S", "")
        if pk.startswith("retry-"):
            record(pk.split("#", 1)[0], "invocation", pk=pk, poison=bool(image.get("poison", {}).get("BOOL")))
            if image.get("poison", {}).get("BOOL"):
                raise ValueError("a poison record")
    return {}
