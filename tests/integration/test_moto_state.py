"""moto_state: a checkpoint of the embedded backend, restored into a fresh one (as after a restart)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import boto3
import pytest
from moto import mock_aws

from paygate_local.backends.moto import patches as moto_patches
from paygate_local.backends.moto.state import MotoCheckpointer
from paygate_local.statefile import StateFile

ACCOUNT, REGION = "123456789012", "us-east-1"
TABLE, FIFO, PLAIN = "items", "work.fifo", "plain"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")  # describe_stream in process


def provision() -> tuple[object, object, dict[str, str]]:
    ddb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    urls = {FIFO: sqs.create_queue(QueueName=FIFO, Attributes={"FifoQueue": "true"})["QueueUrl"],
            PLAIN: sqs.create_queue(QueueName=PLAIN)["QueueUrl"]}
    return ddb, sqs, urls


@pytest.fixture
def backends(tmp_path: Path) -> Iterator[object]:
    """Runs a test's two lives: each `life()` is a fresh moto with the template's resources."""
    state = StateFile(tmp_path / "state.db")

    class Lives:
        def __init__(self) -> None:
            self.state = state

        def life(self):  # type: ignore[no-untyped-def]
            return _life(state)

    with moto_patches.patched():
        yield Lives()
    state.close()


class _life:
    def __init__(self, state: StateFile) -> None:
        self.state = state

    def __enter__(self) -> "_life":
        self.mock = mock_aws()
        self.mock.start()
        self.ddb, self.sqs, self.urls = provision()
        self.checkpointer = MotoCheckpointer(self.state, account_id=ACCOUNT, region=REGION, tables=[TABLE],
                                             queues=[FIFO, PLAIN])
        self.restored = self.checkpointer.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.checkpointer.close()
        self.mock.stop()

    def stream_sequence_numbers(self) -> list[int]:
        streams = boto3.client("dynamodbstreams")
        arn = self.ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return [int(r["dynamodb"]["SequenceNumber"]) for r in streams.get_records(ShardIterator=iterator)["Records"]]


def test_items_written_and_deleted_come_back_as_they_were(backends) -> None:
    with backends.life() as first:
        for n in range(3):
            first.ddb.put_item(TableName=TABLE, Item={"pk": {"S": f"k{n}"}, "n": {"N": str(n)},
                                                      "m": {"M": {"l": {"L": [{"S": "x"}, {"BOOL": True}]}}}})
        first.ddb.update_item(TableName=TABLE, Key={"pk": {"S": "k1"}}, UpdateExpression="SET n = :n",
                              ExpressionAttributeValues={":n": {"N": "10"}})
        first.ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "k2"}})
        assert first.checkpointer.checkpoint() is True
        assert first.checkpointer.checkpoint() is False  # nothing changed since: nothing written
        before = sorted(first.ddb.scan(TableName=TABLE)["Items"], key=lambda i: i["pk"]["S"])
    with backends.life() as second:
        assert second.restored.items == 2
        assert sorted(second.ddb.scan(TableName=TABLE)["Items"], key=lambda i: i["pk"]["S"]) == before


def test_the_stream_keeps_what_its_mappings_have_not_finished_under_the_same_numbers(backends) -> None:
    with backends.life() as first:
        for n in range(5):
            first.ddb.put_item(TableName=TABLE, Item={"pk": {"S": f"k{n}"}})
        numbers = first.stream_sequence_numbers()
        first.checkpointer.checkpoint({TABLE: numbers[1]})  # the mapping is done with the first two
    with backends.life() as second:
        assert second.restored.stream_records == 3
        assert second.stream_sequence_numbers() == numbers[2:]
        second.ddb.put_item(TableName=TABLE, Item={"pk": {"S": "k5"}})  # new records follow on
        assert second.stream_sequence_numbers() == numbers[2:] + [numbers[-1] + 1]


def test_a_received_message_comes_back_at_once_and_a_backoff_keeps_its_moment(backends) -> None:
    with backends.life() as first:
        for body, group in (("held", "g1"), ("behind", "g1"), ("received", "g2")):
            first.sqs.send_message(QueueUrl=first.urls[FIFO], MessageBody=body, MessageGroupId=group,
                                   MessageDeduplicationId=body)
        got = first.sqs.receive_message(QueueUrl=first.urls[FIFO], MaxNumberOfMessages=10,
                                        VisibilityTimeout=300)["Messages"]
        held = next(m for m in got if m["Body"] == "held")
        first.sqs.change_message_visibility(QueueUrl=first.urls[FIFO], ReceiptHandle=held["ReceiptHandle"],
                                            VisibilityTimeout=600)  # the consumer's own backoff
        first.sqs.send_message(QueueUrl=first.urls[PLAIN], MessageBody="later", DelaySeconds=600)
        first.checkpointer.checkpoint()
    with backends.life() as second:
        assert second.restored.messages == 4
        again = second.sqs.receive_message(QueueUrl=second.urls[FIFO], MaxNumberOfMessages=10,
                                           AttributeNames=["All"])["Messages"]
        # "received" was in its dead consumer's hands: back at once, its receive counted. "held" waits
        # out its backoff, and "behind" (same group) stays behind it, as FIFO order wants.
        assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in again] == [("received", "2")]
        assert second.sqs.receive_message(QueueUrl=second.urls[PLAIN]).get("Messages") is None  # still delayed
