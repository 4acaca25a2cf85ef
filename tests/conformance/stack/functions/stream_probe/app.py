"""DynamoDB stream consumer, BisectBatchOnFunctionError and MaximumRetryAttempts 2. Items
{"pk": "<test>#<key>", "seq": n, "poison": bool}: a batch holding a poison record fails whole."""

from probe import record


def _item(r):
    image = r["dynamodb"].get("NewImage") or {}
    pk = image.get("pk", {}).get("S", "")
    return pk.split("#", 1)[0], pk, int(image.get("seq", {}).get("N", "0")), bool(image.get("poison", {}).get("BOOL"))


def handler(event, context):
    items = [_item(r) for r in event["Records"]]
    tests = {t for t, _, _, _ in items if t.startswith("stream-")}
    for test in tests:
        record(test, "invocation", keys=[[pk, seq] for t, pk, seq, _ in items if t == test], size=len(items),
               poison=any(p for _, _, _, p in items))
    if any(p for _, _, _, p in items):
        raise ValueError("a poison record")
    return {}
