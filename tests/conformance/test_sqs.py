"""SQS event source mappings, as Lambda documents them (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html)."""

from __future__ import annotations

import itertools
import json
import time
import uuid

from harness import Deployed, differs
from polling import wait_for


def send(stack: Deployed, queue: str, bodies: list[dict], **extra: str) -> float:
    """All of ``bodies`` in batches of 10; the moment the first was sent."""
    sqs, url = stack.aws("sqs"), stack.outputs[queue]
    sent = time.time()
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": json.dumps(body), **{k: v.format(**body) for k, v in extra.items()}}
                   for i, body in enumerate(bodies[start:start + 10])]
        assert not sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")
    return sent


def test_a_batch_holds_at_most_batch_size_records(stack: Deployed) -> None:
    """BatchSize: "The maximum number of records in each batch that Lambda pulls from your stream or queue
    and sends to your function" (services-sqs-parameters.html; here 5)."""
    test = f"batch-{uuid.uuid4().hex[:8]}"
    send(stack, "BatchQueueUrl", [{"test": test, "n": n} for n in range(12)])
    batches = wait_for(lambda: (b := stack.observations(test, "batch")) and
                       sorted(n for x in b for n in x["n"]) == list(range(12)) and b, timeout=60,
                       what="all 12 records delivered")
    assert all(1 <= x["size"] <= 5 for x in batches), [x["size"] for x in batches]
    assert len(batches) >= 3


@differs(ministack="MaximumBatchingWindowInSeconds is stored, not applied: one record is invoked at once")
def test_the_batching_window_gathers_records_before_invoking(stack: Deployed) -> None:
    """MaximumBatchingWindowInSeconds: "The maximum amount of time, in seconds, that Lambda spends gathering
    records before invoking the function" (services-sqs-parameters.html): one record, fewer than BatchSize,
    waits for the window (1 s here) before its invocation."""
    test = f"window-{uuid.uuid4().hex[:8]}"
    sent = send(stack, "BatchQueueUrl", [{"test": test, "n": 0}])
    batch = wait_for(lambda: stack.observations(test, "batch"), timeout=60, what="the batch")[0]
    assert batch["at"] - sent >= 0.9 * float(stack_window(stack)), batch["at"] - sent


def stack_window(stack: Deployed) -> str:
    from harness import PARAMETERS

    return PARAMETERS[stack.backend]["BatchWindow"]


def test_a_partial_batch_response_retries_only_the_failed_messages(stack: Deployed) -> None:
    """ReportBatchItemFailures: "Lambda retries only the failed messages ... successful messages in the batch
    are not returned to the queue" (with-sqs.html, partial batch responses)."""
    test = f"partial-{uuid.uuid4().hex[:8]}"
    send(stack, "PartialQueueUrl", [{"test": test, "n": n, "mode": "fail_once" if n == 2 else "ok"} for n in range(5)])
    deliveries = wait_for(lambda: (d := stack.observations(test, "delivery")) and
                          any(x["n"] == 2 and x["count"] == 2 for x in d) and d, timeout=60,
                          what="the failed message again")
    counts = {n: sorted(x["count"] for x in deliveries if x["n"] == n) for n in range(5)}
    assert counts[2] == [1, 2]
    assert all(counts[n] == [1] for n in (0, 1, 3, 4)), counts


@differs(ministack="an empty itemIdentifier is ignored: the batch counts as a success, its messages deleted")
def test_a_malformed_partial_batch_response_fails_the_whole_batch(stack: Deployed) -> None:
    """"Lambda treats a batch as a complete failure if your function returns ... An empty string
    itemIdentifier" (with-sqs.html, success and failure conditions): every message of that batch comes back."""
    test = f"malformed-{uuid.uuid4().hex[:8]}"
    send(stack, "PartialQueueUrl", [{"test": test, "n": n, "mode": "malformed_once" if n == 0 else "ok"}
                                    for n in range(4)])

    def first_batch_back() -> list[dict] | None:
        seen = stack.observations(test, "delivery")
        first = next((x for x in seen if x["n"] == 0 and x["count"] == 1), None)
        if first is None:
            return None
        again = {x["n"] for x in seen if x["count"] == 2}
        return seen if set(first["batch"]) <= again else None

    seen = wait_for(first_batch_back, timeout=60, what="the malformed batch's messages again")
    first = next(x for x in seen if x["n"] == 0 and x["count"] == 1)
    assert len(first["batch"]) >= 1 and all(
        any(x["n"] == n and x["count"] == 2 for x in seen) for n in first["batch"])


def test_a_message_that_keeps_failing_moves_to_the_dlq_after_max_receive_count(stack: Deployed) -> None:
    """"If a message fails processing multiple times, Amazon SQS can send it to a dead-letter queue ...
    after maxReceiveCount" (with-sqs.html, error handling; sqs-dead-letter-queues.html); between attempts it is
    invisible for the queue's visibility timeout."""
    test = f"dlq-{uuid.uuid4().hex[:8]}"
    send(stack, "PartialQueueUrl", [{"test": test, "n": 0, "mode": "always"}])
    sqs, dlq = stack.aws("sqs"), stack.outputs["PartialDLQUrl"]

    def in_dlq() -> dict | None:
        for message in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            if json.loads(message["Body"]).get("test") == test:
                return message
        return None

    wait_for(in_dlq, timeout=90, what="the message in the DLQ")
    deliveries = stack.observations(test, "delivery")
    assert [x["count"] for x in deliveries] == [1, 2]  # maxReceiveCount 2: two deliveries, then the DLQ
    assert deliveries[1]["at"] - deliveries[0]["at"] >= 1.5  # not before its visibility timeout (2 s here)


def test_fifo_one_batch_in_flight_per_group_and_order_kept_across_a_failure(stack: Deployed) -> None:
    """FIFO: "messages that belong to the same message group are processed one by one, in a strict order"
    (sqs FIFO delivery logic; with-sqs.html): a failed message holds its group back, and no two batches of one
    group run at once. Several groups run side by side."""
    test = f"fifo-{uuid.uuid4().hex[:8]}"
    groups = {g: list(range(6)) for g in ("A", "B", "C")}
    bodies = [{"test": test, "group": g, "n": n, "fail_once": g == "A" and n == 2}
              for row in itertools.zip_longest(*[[(g, n) for n in ns] for g, ns in groups.items()])
              for g, n in filter(None, row)]
    send(stack, "FifoQueueUrl", bodies, MessageGroupId="{group}")
    batches = wait_for(lambda: (b := stack.observations(test, "batch")) and
                       sum(len(x["done"]) for x in b) >= 18 and b, timeout=90, what="every message processed")
    for group in groups:
        done = [n for x in sorted(batches, key=lambda x: x["started"]) for g, n in x["done"] if g == group]
        assert done == list(range(6)), (group, done)
        spans = sorted((x["started"], x["ended"]) for x in batches if any(g == group for g, _ in x["done"]))
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), (group, spans)
