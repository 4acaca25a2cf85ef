"""The local runtime's TransactWriteItems for moto keeps DynamoDB's all-or-nothing semantics."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from paygate_local import moto_patches


@pytest.fixture
def table(monkeypatch):
    from moto.dynamodb.models import DynamoDBBackend

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", moto_patches._transact_write_items)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    with mock_aws():
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
