"""LocalStack on this machine without Docker (``paygate_local.backends.localstack``), for real.

Starts LocalStack from localstack/.state/venv on a free port of 127.0.0.1 (the first run on a
machine installs it: about two minutes), provisions template.yaml's tables and queues into it with
the runtime's own provisioner, and checks the behaviour the local runtime relies on: transactions
with conditions, the stream (the outbox), FIFO queues with group order, visibility and DLQ redrive.
Where LocalStack differs from moto the assertions say so.

Slow (LocalStack takes seconds to start), so it runs only with PAYGATE_LOCALSTACK=1, as
`make test-localstack` sets it.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("PAYGATE_LOCALSTACK") != "1":  # one line in `pytest -ra`, not one per test
    pytest.skip("LocalStack host-mode tests: run `make test-localstack`, or PAYGATE_LOCALSTACK=1 "
                "python -m pytest tests/integration/test_localstack_host.py (the first run installs "
                "LocalStack into localstack/.state: needs Python 3.13, a JDK 17+, node/npm; ~2 minutes)",
                allow_module_level=True)

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from proc_info import alive, listening_sockets  # noqa: E402

from paygate_local.backends.backend import Backend  # noqa: E402
from paygate_local.backends.localstack import ACCOUNT_ID, SERVICES, LocalStackHost, health  # noqa: E402
from paygate_local.backends.processes import descendants  # noqa: E402
from paygate_local.backends.provision import provision, wait_table_stream_ready  # noqa: E402
from paygate_local.template import Stack, TableSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"

pytestmark = [pytest.mark.localstack, pytest.mark.timeout(900)]  # the first run includes setup-host.sh


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def localstack(tmp_path_factory: pytest.TempPathFactory):
    # A port of its own, so that the test always starts (and owns) the instance it checks, even
    # when a developer's LocalStack runs on 4566.
    host = LocalStackHost(tmp_path_factory.mktemp("localstack"), port=free_port())
    host.ensure()
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture(scope="module")
def backend(localstack: LocalStackHost) -> Backend:
    backend = Backend(localstack.url, region=REGION)
    backend.start()
    return backend


@pytest.fixture(scope="module")
def stack(backend: Backend) -> Stack:
    """template.yaml provisioned into LocalStack by the runtime's provisioner, under a fresh stack name."""
    stack = Stack.from_file(ROOT / "template.yaml", stack_name=f"ls{uuid.uuid4().hex[:6]}", region=REGION,
                            account_id=ACCOUNT_ID,
                            parameter_overrides={"Mode": "dev", "CommandMaxAttempts": "2"})
    provision(stack, backend)
    for table in stack.tables():
        wait_table_stream_ready(backend.client("dynamodb"), backend.client("dynamodbstreams"), table.name)
    return stack


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


# ------------------------------------------------------------------------------------ the host


def test_starts_with_the_wanted_services_and_listens_on_loopback_only(localstack: LocalStackHost, stack: Stack,
                                                                      backend: Backend):
    assert localstack.owned
    document = health(localstack.url)
    assert {name: document["services"][name] for name in SERVICES} == {name: "running" for name in SERVICES}
    backend.client("dynamodb").list_tables()  # DynamoDB Local (Java) is up
    pids = [localstack.process.pid, *descendants(localstack.process.pid)]
    sockets = listening_sockets(pids)
    assert ("127.0.0.1", localstack.port) in sockets
    assert len(sockets) >= 2, f"DynamoDB Local should listen too: {sockets}"
    assert all(address in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for address, _ in sockets), sockets


def test_an_existing_localstack_is_used_and_not_stopped(localstack: LocalStackHost, tmp_path: Path):
    other = LocalStackHost(tmp_path / "other", port=localstack.port)
    assert other.ensure() == localstack.url
    assert not other.owned
    other.stop()
    assert health(localstack.url) is not None


def test_stop_ends_localstack_and_everything_it_started(tmp_path: Path):
    host = LocalStackHost(tmp_path / "own", port=free_port())
    host.ensure()
    backend = Backend(host.url, region=REGION)
    backend.start()
    backend.client("dynamodb").list_tables()
    root = host.process.pid
    tree = {root: None, **descendants(root)}
    assert len(tree) >= 2, "DynamoDB Local runs as a child process"
    host.stop()
    assert host.process is None and not host.owned
    assert [pid for pid in tree if alive(pid)] == []
    assert health(host.url) is None


# ------------------------------------------------------------------------------------ DynamoDB


def streamed_table(stack: Stack) -> TableSpec:
    """The template's table with a stream (the outbox)."""
    (table,) = [t for t in stack.tables() if "StreamSpecification" in t.properties]
    return table


def test_the_template_tables_are_provisioned_with_stream_gsi_and_ttl(stack: Stack, backend: Backend):
    # What the template declares, whatever it declares: a stream of its view type, each index with
    # its projection, TTL on its attribute, on-demand billing.
    dynamodb = backend.client("dynamodb")
    seen = set()
    for table in stack.tables():
        props, described = table.properties, dynamodb.describe_table(TableName=table.name)["Table"]
        assert described["BillingModeSummary"]["BillingMode"] == props.get("BillingMode", "PROVISIONED")
        if "StreamSpecification" in props:
            seen.add("stream")
            assert described["StreamSpecification"] == {
                "StreamEnabled": True, "StreamViewType": props["StreamSpecification"]["StreamViewType"]}
            assert described["LatestStreamArn"].startswith(f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/")
        declared = {i["IndexName"]: i["Projection"]["ProjectionType"] for i in props.get("GlobalSecondaryIndexes", [])}
        seen |= {"index"} if declared else set()
        assert {i["IndexName"]: (i["Projection"]["ProjectionType"], i["IndexStatus"])
                for i in described.get("GlobalSecondaryIndexes", [])} == {
            name: (projection, "ACTIVE") for name, projection in declared.items()}
        if (props.get("TimeToLiveSpecification") or {}).get("Enabled"):
            seen.add("ttl")
            ttl = dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
            assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": props["TimeToLiveSpecification"]["AttributeName"]}
    assert seen == {"stream", "index", "ttl"}, f"the template no longer declares all of these: {seen}"
    # Provisioning again (a restart against a running LocalStack) keeps everything.
    provision(stack, backend)


def _payment_items(table: str, idempotency_table: str, pk: str) -> list[dict[str, Any]]:
    return [
        {"Put": {"TableName": table, "ConditionExpression": "attribute_not_exists(pk)",
                 "Item": {"pk": {"S": pk}, "sk": {"S": "STATE"}, "version": {"N": "1"},
                          "gsi1pk": {"S": "MERCHANT#m1"}, "gsi1sk": {"S": f"2026#{pk}"}}}},
        {"Put": {"TableName": table, "ConditionExpression": "attribute_not_exists(pk)",
                 "Item": {"pk": {"S": pk}, "sk": {"S": "EVENT#000001"}, "sequence": {"N": "1"}}}},
        {"Put": {"TableName": idempotency_table, "ConditionExpression": "attribute_not_exists(pk)",
                 "Item": {"pk": {"S": f"IDEM#{pk}"}, "expires_at": {"N": str(int(time.time()) + 86400)}}}},
    ]


def test_transact_write_items_with_conditions(stack: Stack, backend: Backend):
    dynamodb = backend.client("dynamodb")
    aggregates, idempotency = streamed_table(stack).name, stack.ref("IdempotencyTable")
    pk = f"PAY#{uuid.uuid4().hex}"
    dynamodb.transact_write_items(TransactItems=_payment_items(aggregates, idempotency, pk))

    # A stale version: the whole transaction is cancelled, with one reason per item, in order, and
    # the old item for the one whose condition failed (as on AWS, and as moto answers too).
    with pytest.raises(ClientError) as failed:
        dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": aggregates, "Key": {"pk": {"S": pk}, "sk": {"S": "STATE"}},
                        "UpdateExpression": "SET version = :new", "ConditionExpression": "version = :expected",
                        "ExpressionAttributeValues": {":new": {"N": "3"}, ":expected": {"N": "2"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Put": {"TableName": aggregates, "ConditionExpression": "attribute_not_exists(pk)",
                     "Item": {"pk": {"S": pk}, "sk": {"S": "EVENT#000002"}, "sequence": {"N": "2"}}}},
        ])
    assert code_of(failed) == "TransactionCanceledException"
    reasons = failed.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed", "None"]
    assert reasons[0]["Item"]["version"] == {"N": "1"}
    assert "ConditionalCheckFailed" in failed.value.response["Error"]["Message"]
    assert "Item" not in dynamodb.get_item(TableName=aggregates, Key={"pk": {"S": pk}, "sk": {"S": "EVENT#000002"}})

    # The append-only event: the same sequence twice is refused.
    with pytest.raises(ClientError) as duplicate:
        dynamodb.transact_write_items(TransactItems=_payment_items(aggregates, idempotency, pk)[1:2])
    assert [r["Code"] for r in duplicate.value.response["CancellationReasons"]] == ["ConditionalCheckFailed"]

    # Two operations on one item: a ValidationException, as on AWS and moto.
    with pytest.raises(ClientError) as twice:
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": aggregates, "Item": {"pk": {"S": pk}, "sk": {"S": "X"}}}},
            {"Delete": {"TableName": aggregates, "Key": {"pk": {"S": pk}, "sk": {"S": "X"}}}},
        ])
    assert code_of(twice) == "ValidationException"

    listed = dynamodb.query(TableName=aggregates, IndexName="gsi1", KeyConditionExpression="gsi1pk = :m",
                            ExpressionAttributeValues={":m": {"S": "MERCHANT#m1"}})
    assert pk in [item["pk"]["S"] for item in listed["Items"]]


def _read_stream(streams: Any, arn: str, **iterator: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        **(iterator or {"ShardIteratorType": "TRIM_HORIZON"}))["ShardIterator"]
        while it:
            page = streams.get_records(ShardIterator=it, Limit=1000)
            records += page["Records"]
            it = page.get("NextShardIterator") if page["Records"] else None
    return records


def test_the_stream_carries_each_transaction_in_order(stack: Stack, backend: Backend):
    dynamodb, streams = backend.client("dynamodb"), backend.client("dynamodbstreams")
    aggregates = streamed_table(stack).name
    view = streamed_table(stack).properties["StreamSpecification"]["StreamViewType"]
    arn = dynamodb.describe_table(TableName=aggregates)["Table"]["LatestStreamArn"]
    pk = f"PAY#{uuid.uuid4().hex}"
    dynamodb.transact_write_items(TransactItems=_payment_items(aggregates, stack.ref("IdempotencyTable"), pk))
    dynamodb.update_item(TableName=aggregates, Key={"pk": {"S": pk}, "sk": {"S": "STATE"}},
                         UpdateExpression="SET version = :v", ExpressionAttributeValues={":v": {"N": "2"}})

    deadline = time.monotonic() + 10
    while True:
        mine = [r for r in _read_stream(streams, arn) if r["dynamodb"]["Keys"]["pk"]["S"] == pk]
        if len(mine) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["sk"]["S"]) for r in mine] == [
        ("INSERT", "STATE"), ("INSERT", "EVENT#000001"), ("MODIFY", "STATE")]
    first = mine[0]
    assert first["eventSource"] == "aws:dynamodb" and first["awsRegion"] == REGION
    assert first["dynamodb"]["StreamViewType"] == view
    if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        assert first["dynamodb"]["NewImage"]["gsi1pk"] == {"S": "MERCHANT#m1"}
        assert mine[2]["dynamodb"]["NewImage"]["version"] == {"N": "2"}
    assert "OldImage" not in first["dynamodb"]  # an insert has no old image
    if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        assert mine[2]["dynamodb"]["OldImage"]["version"] == {"N": "1"}
    else:
        assert "OldImage" not in mine[2]["dynamodb"]
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in mine]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3

    # Resuming after a checkpoint, as the stream poller does.
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][-1]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                    SequenceNumber=mine[0]["dynamodb"]["SequenceNumber"])["ShardIterator"]
    after = streams.get_records(ShardIterator=it, Limit=1000)["Records"]
    assert [r["dynamodb"]["SequenceNumber"] for r in after if r["dynamodb"]["Keys"]["pk"]["S"] == pk] == \
        [r["dynamodb"]["SequenceNumber"] for r in mine[1:]]


def test_writes_right_after_create_table_reach_the_stream(backend: Backend):
    dynamodb, streams = backend.client("dynamodb"), backend.client("dynamodbstreams")
    name = f"fresh-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    arn = wait_table_stream_ready(dynamodb, streams, name, timeout=30)
    for i in range(10):
        dynamodb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}})
    deadline = time.monotonic() + 10
    while True:
        keys = {r["dynamodb"]["Keys"]["pk"]["S"] for r in _read_stream(streams, arn)}
        if len(keys) == 10 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert keys == {f"k{i}" for i in range(10)}
    # A table without a stream: nothing to wait for.
    plain = f"plain-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(TableName=plain, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    assert wait_table_stream_ready(dynamodb, streams, plain, timeout=10) is None


def test_stream_images_read_back_as_the_items_were_written(stack: Stack, backend: Backend):
    # Host mode uses LocalStack's v2 streams (DynamoDB Local's own: kept in its database file, so they
    # survive a restart). They write an empty map {"M": {}} as {} (at any depth; lists are kept), which
    # no deserializer accepts; the relay's decoder (items.stream_image) reads {} as the empty map.
    from paygate.adapters.dynamodb.items import load, stream_image

    dynamodb, streams = backend.client("dynamodb"), backend.client("dynamodbstreams")
    aggregates = streamed_table(stack).name
    arn = dynamodb.describe_table(TableName=aggregates)["Table"]["LatestStreamArn"]
    pk = f"TYPES#{uuid.uuid4().hex}"
    item = {"pk": {"S": pk}, "sk": {"S": "EVENT#000001"}, "metadata": {"M": {}}, "failure": {"NULL": True},
            "live": {"BOOL": False}, "tags": {"L": []}, "amount": {"N": "1050"},
            "snapshot": {"M": {"metadata": {"M": {}}, "refunds": {"L": [{"M": {}}]}, "note": {"NULL": True}}}}
    dynamodb.put_item(TableName=aggregates, Item=item)
    deadline = time.monotonic() + 10
    while True:
        mine = [r for r in _read_stream(streams, arn) if r["dynamodb"]["Keys"]["pk"]["S"] == pk]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [stream_image(r["dynamodb"]["NewImage"]) for r in mine] == [load(item)]


def test_dynamodb_error_codes(backend: Backend):
    dynamodb = backend.client("dynamodb")
    with pytest.raises(ClientError) as missing:
        dynamodb.describe_table(TableName="no-such-table")
    assert code_of(missing) == "ResourceNotFoundException"
    # Unlike moto (ResourceNotFoundException), LocalStack validates names as AWS does.
    with pytest.raises(ClientError) as short:
        dynamodb.describe_table(TableName="ab")
    assert code_of(short) == "ValidationException"


# ------------------------------------------------------------------------------------ SQS


def _receive(sqs: Any, url: str, wait: int = 0) -> list[dict[str, Any]]:
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                               AttributeNames=["All"]).get("Messages", [])


def test_fifo_queue_order_visibility_and_redrive_to_the_dlq(stack: Stack, backend: Backend):
    # The template's FIFO queue with a dead-letter queue (the commands; CommandMaxAttempts=2 here).
    sqs = backend.client("sqs")
    queue = next(q for q in stack.queues() if q.fifo and "RedrivePolicy" in q.properties)
    redrive = queue.properties["RedrivePolicy"]
    (dead_letter,) = [q for q in stack.queues() if q.arn == redrive["deadLetterTargetArn"]]
    commands, dlq = stack.ref(queue.logical_id), stack.ref(dead_letter.logical_id)
    max_receives = int(redrive["maxReceiveCount"])
    assert commands == f"{backend.url}/queue/{REGION}/{ACCOUNT_ID}/{queue.name}"
    attributes = sqs.get_queue_attributes(QueueUrl=commands, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == queue.arn  # the template's account
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dead_letter.arn,
                                                       "maxReceiveCount": max_receives}
    assert attributes["FifoQueue"] == "true"
    assert attributes["VisibilityTimeout"] == str(queue.properties["VisibilityTimeout"])

    group_a, group_b = f"pay_{uuid.uuid4().hex}", f"pay_{uuid.uuid4().hex}"
    for body, group in (("a1", group_a), ("a2", group_a), ("b1", group_b)):
        sqs.send_message(QueueUrl=commands, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body + group)
    first = _receive(sqs, commands)
    assert [m["Body"] for m in first if m["Attributes"]["MessageGroupId"] == group_a] == ["a1", "a2"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in first} == {"1"}
    assert _receive(sqs, commands) == []  # every group has a message in flight

    # a1 fails: visible again at once, received a second time; a2 waits behind it in its group.
    by_body = {m["Body"]: m for m in first}
    sqs.change_message_visibility(QueueUrl=commands, ReceiptHandle=by_body["a1"]["ReceiptHandle"],
                                  VisibilityTimeout=0)
    sqs.change_message_visibility(QueueUrl=commands, ReceiptHandle=by_body["a2"]["ReceiptHandle"],
                                  VisibilityTimeout=0)
    sqs.delete_message(QueueUrl=commands, ReceiptHandle=by_body["b1"]["ReceiptHandle"])
    for count in range(2, max_receives + 1):
        again = _receive(sqs, commands)
        assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in again] == [
            ("a1", str(count)), ("a2", str(count))]
        for m in again:
            sqs.change_message_visibility(QueueUrl=commands, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)

    # The next receive is past maxReceiveCount: both move to the DLQ on it, in order, with their
    # group and their receive count.
    assert _receive(sqs, commands) == []
    dead = _receive(sqs, dlq, wait=2)
    assert [(m["Body"], m["Attributes"]["MessageGroupId"]) for m in dead] == [("a1", group_a), ("a2", group_a)]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in dead} == {str(max_receives + 1)}


def test_fifo_deduplication_holds_after_delete(backend: Backend):
    # AWS keeps a deduplication id for 5 minutes even after the message was deleted; LocalStack
    # does too; moto does not (the design's "known moto gaps").
    sqs = backend.client("sqs")
    url = sqs.create_queue(QueueName=f"dedup-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    try:
        dedup = uuid.uuid4().hex
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId=dedup)
        (message,) = _receive(sqs, url)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId=dedup)
        assert _receive(sqs, url) == []
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_sqs_error_codes(backend: Backend):
    sqs = backend.client("sqs")
    with pytest.raises(ClientError) as missing:
        sqs.get_queue_url(QueueName="no-such-queue")
    assert code_of(missing) == "AWS.SimpleQueueService.NonExistentQueue"


# ------------------------------------------------------------------------------------ CloudWatch, Logs


def test_cloudwatch_metrics_and_logs(backend: Backend):
    cloudwatch, logs = backend.client("cloudwatch"), backend.client("logs")
    namespace = f"Paygate{uuid.uuid4().hex[:6]}"
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "PaymentsCreated", "Value": 1,
                                                                  "Unit": "Count"}])
    assert [m["MetricName"] for m in cloudwatch.list_metrics(Namespace=namespace)["Metrics"]] == ["PaymentsCreated"]
    group = f"/aws/lambda/paygate-{uuid.uuid4().hex[:6]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": '{"level": "INFO"}'}])
    events = logs.get_log_events(logGroupName=group, logStreamName="s")["events"]
    assert [e["message"] for e in events] == ['{"level": "INFO"}']


def test_with_keep_state_a_restart_keeps_items_stream_records_and_messages(tmp_path: Path):
    """paygate dev's LocalStack (keep_state): DynamoDB Local keeps items and stream records in its file,
    paygate's plugin saves the SQS, DynamoDB and streams stores on shutdown; after the restart a
    message its consumer held is visible again at once, a consumer's backoff and a delay are kept."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                            aws_secret_access_key="test")

    first = LocalStackHost(tmp_path, port=port, keep_state=True)
    first.ensure()
    try:
        ddb, sqs = client("dynamodb"), client("sqs")
        ddb.create_table(TableName="kept", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        for n in range(3):
            ddb.put_item(TableName="kept", Item={"pk": {"S": f"k{n}"}})
        queue = sqs.create_queue(QueueName="kept.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        later = sqs.create_queue(QueueName="later")["QueueUrl"]
        for body, group in (("held", "g1"), ("behind", "g1"), ("received", "g2")):
            sqs.send_message(QueueUrl=queue, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body)
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=300)["Messages"]
        held = next(m for m in got if m["Body"] == "held")
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=held["ReceiptHandle"], VisibilityTimeout=600)
        sqs.send_message(QueueUrl=later, MessageBody="delayed", DelaySeconds=600)
    finally:
        first.stop()  # right after the writes: nothing waits for an interval to save them
    second = LocalStackHost(tmp_path, port=port, keep_state=True)
    second.ensure()
    try:
        ddb, sqs, streams = client("dynamodb"), client("sqs"), client("dynamodbstreams")
        assert sorted(i["pk"]["S"] for i in ddb.scan(TableName="kept")["Items"]) == ["k0", "k1", "k2"]
        arn = ddb.describe_table(TableName="kept")["Table"]["LatestStreamArn"]
        assert len(_read_stream(streams, arn)) == 3
        queue = sqs.get_queue_url(QueueName="kept.fifo")["QueueUrl"]
        again = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
        assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in again] == [("received", "2")]
        later = sqs.get_queue_url(QueueName="later")["QueueUrl"]
        assert sqs.receive_message(QueueUrl=later).get("Messages") is None
    finally:
        second.stop()
