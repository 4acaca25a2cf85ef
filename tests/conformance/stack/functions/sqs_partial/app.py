"""ReportBatchItemFailures on a standard queue. Body {"test", "n", "mode"}: "ok"; "fail_once" fails its
first delivery; "always" always fails (to the DLQ after maxReceiveCount); "malformed_once" makes the whole
response malformed on its first delivery (an empty itemIdentifier)."""

import json
import uuid

from probe import record


def handler(event, context):
    invocation = uuid.uuid4().hex
    failures, malformed = [], False
    for r in event["Records"]:
        body = json.loads(r["body"])
        count = int(r["attributes"]["ApproximateReceiveCount"])
        mode = body.get("mode", "ok")
        record(body["test"], "delivery", n=body["n"], count=count, invocation=invocation,
               batch=[json.loads(x["body"])["n"] for x in event["Records"]])
        if mode == "always" or (mode == "fail_once" and count == 1):
            failures.append({"itemIdentifier": r["messageId"]})
        if mode == "malformed_once" and count == 1:
            malformed = True
    if malformed:
        return {"batchItemFailures": [{"itemIdentifier": ""}]}
    return {"batchItemFailures": failures}
