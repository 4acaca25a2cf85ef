"""The moto patches: one context manager, a version guard, DynamoDB's all-or-nothing transactions,
and the hooks the in-process pollers wait on."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from paygate_local.backends.moto import patches as moto_patches


@pytest.fixture
def table(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    with moto_patches.patched(), mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        yield ddb


def put(sk, condition="attribute_not_exists(pk)", **extra):
    item = {"pk": {"S": "p"}, "sk": {"S": sk}, **{k: {"N": str(v)} for k, v in extra.items()}}
    return {"Put": {"TableName": "t", "Item": item, "ConditionExpression": condition}}


def stream_length(ddb):
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return len(streams.get_records(ShardIterator=it)["Records"])


def items(ddb):
    return sorted(i["sk"]["S"] for i in ddb.scan(TableName="t")["Items"])


def test_all_writes_land_together(table):
    table.transact_write_items(TransactItems=[put("STATE", v=1), put("EVENT#1")])
    assert items(table) == ["EVENT#1", "STATE"] and stream_length(table) == 2


def test_one_failed_condition_writes_nothing_and_names_the_item(table):
    table.transact_write_items(TransactItems=[put("EVENT#1")])
    with pytest.raises(ClientError) as caught:
        table.transact_write_items(TransactItems=[put("STATE", v=1), put("EVENT#1")])
    error = caught.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in error["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert items(table) == ["EVENT#1"] and stream_length(table) == 1


def test_conditions_see_the_state_before_the_transaction_and_updates_apply(table):
    table.transact_write_items(TransactItems=[put("STATE", v=1)])
    table.transact_write_items(TransactItems=[
        {"Update": {"TableName": "t", "Key": {"pk": {"S": "p"}, "sk": {"S": "STATE"}},
                    "UpdateExpression": "SET v = :two", "ConditionExpression": "v = :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":two": {"N": "2"}}}},
        put("EVENT#2"),
    ])
    state = table.get_item(TableName="t", Key={"pk": {"S": "p"}, "sk": {"S": "STATE"}})["Item"]
    assert state["v"] == {"N": "2"} and stream_length(table) == 3


def test_the_same_item_twice_is_refused(table):
    with pytest.raises(ClientError) as caught:
        table.transact_write_items(TransactItems=[put("STATE"), put("STATE")])
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert items(table) == []


def test_a_failure_while_writing_is_undone(table, monkeypatch):
    from moto.dynamodb.models import DynamoDBBackend

    table.transact_write_items(TransactItems=[put("STATE", v=1)])
    real_put = DynamoDBBackend.put_item
    calls = []

    def flaky_put(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_put(self, *args, **kwargs)
    monkeypatch.setattr(DynamoDBBackend, "put_item", flaky_put)
    with pytest.raises(ClientError):
        table.transact_write_items(TransactItems=[
            {"Put": {**put("STATE", v=9)["Put"], "ConditionExpression": "v = :one",
                     "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            put("EVENT#1"),
        ])
    monkeypatch.setattr(DynamoDBBackend, "put_item", real_put)
    state = table.get_item(TableName="t", Key={"pk": {"S": "p"}, "sk": {"S": "STATE"}})["Item"]
    assert state["v"] == {"N": "1"} and items(table) == ["STATE"] and stream_length(table) == 1


# ------------------------------------------------------------------------------ the context manager


def test_a_moto_version_the_patches_were_not_written_for_is_refused_by_name(monkeypatch):
    import moto
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    monkeypatch.setattr(moto, "__version__", "9.0.0")
    with pytest.raises(moto_patches.UnsupportedMotoVersion) as caught:
        with moto_patches.patched():
            pass
    assert "moto 9.0.0" in str(caught.value) and "5.2.5" in str(caught.value)
    assert DynamoDBBackend.transact_write_items is original  # nothing was patched
    moto_patches.check_moto_version("5.2.5")  # the pinned one passes


def test_patches_apply_inside_the_block_nest_and_are_undone_after():
    from moto.dynamodb.models import DynamoDBBackend
    from moto.sqs.models import Queue

    original_transact, original_add = DynamoDBBackend.transact_write_items, Queue.add_message
    with moto_patches.patched():
        assert moto_patches.active()
        patched_transact = DynamoDBBackend.transact_write_items
        assert patched_transact is not original_transact and Queue.add_message is not original_add
        with moto_patches.patched():  # a test's fixture inside paygate dev's, say: applied once
            assert DynamoDBBackend.transact_write_items is patched_transact
        assert DynamoDBBackend.transact_write_items is patched_transact
    assert not moto_patches.active()
    assert DynamoDBBackend.transact_write_items is original_transact and Queue.add_message is original_add


def test_hooks_signal_sends_deletes_visibility_changes_and_stream_records(table):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = moto_patches.changes.channel(("sqs", arn))

    def signalled(action) -> bool:
        before = queue.version
        action()
        return queue.wait(before, timeout=0) != before

    assert signalled(lambda: sqs.send_message(QueueUrl=url, MessageBody="x"))
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert signalled(lambda: sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                                           VisibilityTimeout=0))
    assert signalled(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]))

    table_arn = table.describe_table(TableName="t")["Table"]["TableArn"]
    stream = moto_patches.changes.channel(("stream", table_arn))
    before = stream.version
    table.put_item(TableName="t", Item={"pk": {"S": "p"}, "sk": {"S": "s"}})
    assert stream.wait(before, timeout=0) == before + 1


def test_a_waiter_wakes_on_the_change_not_on_its_timeout():
    import threading

    channel = moto_patches.Channel()
    woke = threading.Event()

    def waiter() -> None:
        channel.wait(0, timeout=60)
        woke.set()
    thread = threading.Thread(target=waiter)
    thread.start()
    channel.notify()
    assert woke.wait(10)  # far sooner than its 60 s timeout
    thread.join(10)
    assert channel.wait(0, timeout=0) == 1  # a change made before waiting is never missed
