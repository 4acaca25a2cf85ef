"""A FIFO consumer as Powertools' SqsFifoPartialProcessor: the first failure stops the batch, it and every
later record are reported failed. Body {"test", "n", "fail_once"}; writes down when it held each group."""

import json
import time
import uuid

from probe import record


def handler(event, context):
    invocation, started = uuid.uuid4().hex, time.time()
    failures, processed = [], []
    for r in event["Records"]:
        body = json.loads(r["body"])
        count = int(r["attributes"]["ApproximateReceiveCount"])
        if failures or (body.get("fail_once") and count == 1):
            failures.append({"itemIdentifier": r["messageId"]})
            continue
        processed.append((body["test"], r["attributes"]["MessageGroupId"], body["n"]))
        time.sleep(0.05)  # each record takes a moment: overlapping batches would show
    ended = time.time()
    for test in {t for t, _, _ in processed}:
        record(test, "batch", invocation=invocation, started=started, ended=ended,
               done=[[g, n] for t, g, n in processed if t == test])
    return {"batchItemFailures": failures}
