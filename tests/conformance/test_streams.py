"""DynamoDB stream event source mappings, as Lambda documents them
(https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html, services-ddb-params.html)."""

from __future__ import annotations

import json
import uuid

from harness import Deployed, differs
from polling import wait_for


def put(stack: Deployed, table: str, pk: str, **attributes: object) -> None:
    item = {"pk": {"S": pk}}
    for name, value in attributes.items():
        item[name] = {"BOOL": value} if isinstance(value, bool) else {"N": str(value)}
    stack.aws("dynamodb").put_item(TableName=stack.outputs[table], Item=item)


def failure_records(stack: Deployed, queue: str, pk_prefix: str) -> list[dict]:
    """The on-failure destination's records whose batch held an item of ``pk_prefix``."""
    sqs, url = stack.aws("sqs"), stack.outputs[queue]
    found = []
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       VisibilityTimeout=0).get("Messages", []):
        body = json.loads(message["Body"])
        if pk_prefix in message["Body"] or _reads_back(stack, body, pk_prefix):
            found.append(body)
    return found


def _reads_back(stack: Deployed, body: dict, pk_prefix: str) -> bool:
    """An on-failure record names the batch's place in the stream, not its records (on AWS): read them back."""
    info = body.get("DDBStreamBatchInfo") or {}
    if not info.get("shardId"):
        return False
    streams = stack.aws("dynamodbstreams")
    iterator = streams.get_shard_iterator(StreamArn=info["streamArn"], ShardId=info["shardId"],
                                          ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          SequenceNumber=info["startSequenceNumber"])["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator, Limit=int(info.get("batchSize") or 1))["Records"]
    return any(r["dynamodb"]["Keys"]["pk"]["S"].startswith(pk_prefix) for r in records)


def test_records_of_one_item_are_processed_in_order(stack: Deployed) -> None:
    """"Lambda reads records from the stream ... in order" and "the stream records appear in the same sequence
    as the actual modifications to the item" (with-ddb.html; Streams.html)."""
    test = f"stream-order-{uuid.uuid4().hex[:8]}"
    for seq in range(1, 9):
        put(stack, "StreamTableName", f"{test}#k", seq=seq)
    seen = wait_for(lambda: (s := [seq for x in stack.observations(test, "invocation") for _, seq in x["keys"]])
                    and s[-1] == 8 and s, timeout=60, what="the eighth change")
    assert seen == sorted(seen) and set(seen) == set(range(1, 9)), seen


@differs(ministack="BisectBatchOnFunctionError is not applied: a failing batch is retried whole (docs/ministack.md)")
def test_bisect_on_error_isolates_the_bad_record_and_processes_the_rest(stack: Deployed) -> None:
    """BisectBatchOnFunctionError: "If the function returns an error, split the batch in two and retry"
    (services-ddb-params.html): the good records around a poison one get through; the poison one, alone,
    goes to the on-failure destination once its retries are spent."""
    test = f"stream-bisect-{uuid.uuid4().hex[:8]}"
    for n in range(8):
        put(stack, "StreamTableName", f"{test}#{n}", seq=n, poison=n == 5)
    good = {f"{test}#{n}" for n in range(8) if n != 5}

    def processed() -> set[str]:
        return {pk for x in stack.observations(test, "invocation") if not x["poison"] for pk, _ in x["keys"]}

    wait_for(lambda: processed() >= good, timeout=90, what="the seven good records")
    invocations = stack.observations(test, "invocation")
    assert any(x["poison"] and [pk for pk, _ in x["keys"]] == [f"{test}#5"] for x in invocations)
    wait_for(lambda: failure_records(stack, "StreamFailuresUrl", f"{test}#5"), timeout=60,
             what="the poison record at the on-failure destination")


@differs(ministack="MaximumRetryAttempts is not applied to stream mappings: the failing record is retried on and on")
def test_maximum_retry_attempts_then_the_on_failure_destination(stack: Deployed) -> None:
    """MaximumRetryAttempts: "Discard records after the specified number of retries"; DestinationConfig:
    "Send discarded records to an Amazon SQS queue" (services-ddb-params.html). Here 1 retry: two invocations
    with the record, then its batch's record at the destination, and the stream moves on."""
    test = f"retry-{uuid.uuid4().hex[:8]}"
    put(stack, "StreamTableName", f"{test}#bad", seq=1, poison=True)
    put(stack, "StreamTableName", f"{test}#next", seq=2)
    failures = wait_for(lambda: failure_records(stack, "RetryFailuresUrl", f"{test}#bad"), timeout=90,
                        what="the record at the on-failure destination")
    wait_for(lambda: any(x["pk"] == f"{test}#next" for x in stack.observations(test, "invocation")), timeout=60,
             what="the next record processed")
    tries = [x for x in stack.observations(test, "invocation") if x["pk"] == f"{test}#bad"]
    assert len(tries) == 2, tries
    info = failures[0]["DDBStreamBatchInfo"]
    assert failures[0]["requestContext"]["condition"] == "RetryAttemptsExhausted" and info["batchSize"] == 1


@differs(ministack="the destination record's condition is MaxRecordAgeExceeded and its shardId names no shard")
def test_a_record_older_than_maximum_record_age_is_discarded_to_the_destination(stack: Deployed) -> None:
    """MaximumRecordAgeInSeconds: "Discard records older than the specified age" (services-ddb-params.html);
    with MaximumRetryAttempts -1 a failing record is retried until then, and goes to the on-failure
    destination with the condition RecordAgeExceeded."""
    test = f"age-{uuid.uuid4().hex[:8]}"
    put(stack, "AgeTableName", f"{test}#old", poison=True)
    from harness import PARAMETERS

    age = float(PARAMETERS[stack.backend]["MaxRecordAge"])
    failures = wait_for(lambda: failure_records(stack, "AgeFailuresUrl", f"{test}#old"), timeout=age * 3 + 60,
                        what="the record discarded for its age")
    assert failures[0]["requestContext"]["condition"] == "RecordAgeExceeded"
    tries = stack.observations(test, "invocation")
    assert len(tries) >= 2 and tries[-1]["at"] - tries[0]["at"] <= age + 10
