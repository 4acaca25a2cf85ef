"""MaximumRecordAgeInSeconds, retries without end: a poison record fails until it is too old."""

from probe import record


def handler(event, context):
    for r in event["Records"]:
        image = r["dynamodb"].get("NewImage") or {}
        pk = image.get("pk", {}).get("S", "")
        record(pk.split("#", 1)[0], "invocation", pk=pk)
        if image.get("poison", {}).get("BOOL"):
            raise ValueError("a poison record")
    return {}
