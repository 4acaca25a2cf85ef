"""The capacity meter on moto's DynamoDB (in-process, `mock_aws`), through real boto3 requests."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.meters import capacity, moto_capacity  # noqa: E402

KB = 1024


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="agg", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gpk", "gsk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {"IndexName": "all", "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"},
                               {"AttributeName": "gsk", "KeyType": "RANGE"}]},
                {"IndexName": "keys", "Projection": {"ProjectionType": "KEYS_ONLY"},
                 "KeySchema": [{"AttributeName": "gsk", "KeyType": "HASH"}]},
            ])
        client.create_table(
            TableName="idem", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        yield client
    moto_capacity.uninstall()


def units(meter: capacity.CapacityMeter) -> dict[str, Any]:
    return meter.snapshot()["tables"]


def item(pk: str, sk: str, **attrs: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in attrs.items()}}


def test_writes_count_the_larger_image_and_each_index_entry_that_changes(ddb: Any) -> None:
    meter = moto_capacity.install()

    # Given a new item in both indexes: one WRU for the table and one per index
    ddb.put_item(TableName="agg", Item=item("p1", "STATE", gpk="m", gsk="1", status="NEW"))
    # When a non-key attribute changes: the ALL index is rewritten, the KEYS_ONLY one is not
    ddb.update_item(TableName="agg", Key={"pk": {"S": "p1"}, "sk": {"S": "STATE"}},
                    UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":s": {"S": "DONE"}})
    # When the index keys change: a delete and a put in each index
    ddb.update_item(TableName="agg", Key={"pk": {"S": "p1"}, "sk": {"S": "STATE"}},
                    UpdateExpression="SET gsk = :k", ExpressionAttributeValues={":k": {"S": "2"}})
    # When the item grows to 5 KB: 5 WRU (the larger image), and the ALL index entry is 5 KB too
    ddb.update_item(TableName="agg", Key={"pk": {"S": "p1"}, "sk": {"S": "STATE"}},
                    UpdateExpression="SET big = :b", ExpressionAttributeValues={":b": {"S": "x" * (5 * KB - 100)}})
    # When it is deleted: 5 WRU, and it leaves both indexes
    ddb.delete_item(TableName="agg", Key={"pk": {"S": "p1"}, "sk": {"S": "STATE"}})

    got = units(meter)["agg"]
    assert got[""]["PutItem"] == {"requests": 1, "failed": 0, "wru": 1, "rru": 0}
    assert got[""]["UpdateItem"] == {"requests": 3, "failed": 0, "wru": 1 + 1 + 5, "rru": 0}
    assert got[""]["DeleteItem"] == {"requests": 1, "failed": 0, "wru": 5, "rru": 0}
    assert got["all"] == {"PutItem": {"wru": 1, "rru": 0}, "UpdateItem": {"wru": 1 + 2 + 5, "rru": 0},
                          "DeleteItem": {"wru": 5, "rru": 0}}
    assert got["keys"] == {"PutItem": {"wru": 1, "rru": 0}, "UpdateItem": {"wru": 2, "rru": 0},
                           "DeleteItem": {"wru": 1, "rru": 0}}
    assert meter.snapshot()["errors"] == 0


def test_a_failed_conditional_write_costs_the_existing_item_and_no_index_write(ddb: Any) -> None:
    ddb.put_item(TableName="agg", Item=item("p1", "STATE", gpk="m", gsk="1", big="x" * (2 * KB)))
    meter = moto_capacity.install()

    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName="agg", Item=item("p1", "STATE"), ConditionExpression="attribute_not_exists(pk)")

    assert units(meter)["agg"] == {"": {"PutItem": {"requests": 1, "failed": 1, "wru": 3, "rru": 0}}}


def test_reads_count_item_sizes_consistency_and_misses(ddb: Any) -> None:
    for n in range(3):
        ddb.put_item(TableName="agg", Item=item("p1", f"E{n}", gpk="m", gsk=f"{n}", body="x" * (2 * KB - 40)))
    meter = moto_capacity.install()
    key = {"pk": {"S": "p1"}, "sk": {"S": "E0"}}

    ddb.get_item(TableName="agg", Key=key)  # eventually consistent: 0.5
    ddb.get_item(TableName="agg", Key=key, ConsistentRead=True)  # 1
    ddb.get_item(TableName="agg", Key={"pk": {"S": "none"}, "sk": {"S": "x"}})  # a miss: 0.5
    ddb.batch_get_item(RequestItems={"agg": {"Keys": [key, {"pk": {"S": "none"}, "sk": {"S": "x"}}]}})  # 0.5 + 0.5
    # Query: the three items evaluated (about 6 KB) round up once, and a filter does not reduce it
    ddb.query(TableName="agg", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p1"}},
              ConsistentRead=True)
    ddb.query(TableName="agg", KeyConditionExpression="pk = :p", FilterExpression="attribute_exists(nothing)",
              ExpressionAttributeValues={":p": {"S": "p1"}}, ConsistentRead=True)
    # A KEYS_ONLY index: its entries are small
    ddb.query(TableName="agg", IndexName="keys", KeyConditionExpression="gsk = :k",
              ExpressionAttributeValues={":k": {"S": "1"}})
    ddb.transact_get_items(TransactItems=[{"Get": {"TableName": "agg", "Key": key}}])  # 2

    got = units(meter)["agg"]
    assert got[""]["GetItem"] == {"requests": 3, "failed": 0, "wru": 0, "rru": 2.0}
    assert got[""]["BatchGetItem"] == {"requests": 1, "failed": 0, "wru": 0, "rru": 1.0}
    assert got[""]["Query"] == {"requests": 3, "failed": 0, "wru": 0, "rru": 4.0}
    assert got["keys"]["Query"] == {"wru": 0, "rru": 0.5}
    assert got[""]["TransactGetItems"] == {"requests": 1, "failed": 0, "wru": 0, "rru": 2.0}


def test_transactions_cost_twice_and_a_canceled_one_its_prepare_phase(ddb: Any) -> None:
    ddb.put_item(TableName="idem", Item={"pk": {"S": "key-1"}})
    meter = moto_capacity.install(lock=threading.RLock())

    # Given a transaction that creates an indexed item and checks another: 2 WRU each, 1 for the index
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "agg", "Item": item("p2", "STATE", gpk="m", gsk="1"),
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"ConditionCheck": {"TableName": "idem", "Key": {"pk": {"S": "key-1"}},
                            "ConditionExpression": "attribute_exists(pk)"}},
    ])
    # When a second one is canceled by its condition: nothing is written, each item costs 1 WRU
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "agg", "Item": item("p2", "STATE"),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": "idem", "Item": {"pk": {"S": "key-2"}}}},
        ])

    got = units(meter)
    assert got["agg"][""]["TransactWriteItems"] == {"requests": 2, "failed": 1, "wru": 2 + 1, "rru": 0}
    assert got["agg"]["all"]["TransactWriteItems"] == {"wru": 1, "rru": 0}
    assert got["idem"][""]["TransactWriteItems"] == {"requests": 2, "failed": 1, "wru": 2 + 1, "rru": 0}


def test_the_meter_writes_its_file_and_uninstall_stops_it(ddb: Any, tmp_path: Path) -> None:
    meter = moto_capacity.install(tmp_path)
    ddb.put_item(TableName="idem", Item={"pk": {"S": "a"}})
    meter.flush()

    written = json.loads((tmp_path / f"capacity-{meter.pid}.json").read_text())
    assert written["kind"] == "capacity" and written["version"] == 1
    assert written["tables"]["idem"][""]["PutItem"]["wru"] == 1

    moto_capacity.uninstall()
    ddb.put_item(TableName="idem", Item={"pk": {"S": "b"}})
    assert meter.totals() == {"wru": 1, "rru": 0}
