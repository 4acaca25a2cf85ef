"""Acknowledged means durable: against paygate dev's moto server with a state file, every change a
client is answered for is in state.db when the answer arrives, with no checkpoint in between; and a
fresh backend restored from the file has it all, messages in their queue's order."""

from __future__ import annotations

import pickle
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from botocore.config import Config

from paygate_local.backends.backend import Backend
from paygate_local.backends.moto.state import MotoCheckpointer, item_key
from paygate_local.statefile import StateFile

ACCOUNT, REGION = "123456789012", "us-east-1"
TABLE, FIFO, PLAIN = "items", "work.fifo", "plain"


class Life:
    """One life of paygate dev's backend: moto's server in this process and the state file."""

    def __init__(self, state_path: Path) -> None:
        self.backend = Backend("moto", region=REGION)
        self.url = self.backend.start()
        self.ddb, self.sqs = self.client("dynamodb"), self.client("sqs")
        self.ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        self.urls = {FIFO: self.sqs.create_queue(QueueName=FIFO, Attributes={"FifoQueue": "true"})["QueueUrl"],
                     PLAIN: self.sqs.create_queue(QueueName=PLAIN)["QueueUrl"]}
        self.state = StateFile(state_path)
        self.checkpointer = MotoCheckpointer(self.state, account_id=ACCOUNT, region=REGION, tables=[TABLE],
                                             queues=[FIFO, PLAIN])
        self.restored = self.checkpointer.restore()
        self.checkpointer.install()

    def client(self, service: str):  # type: ignore[no-untyped-def]
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, aws_access_key_id="test",
                            aws_secret_access_key="test",
                            config=Config(account_id_endpoint_mode="disabled", retries={"max_attempts": 1}))

    def end(self) -> None:
        """As a SIGKILL would: no last checkpoint, nothing flushed, moto's memory gone."""
        from moto.dynamodb.models import dynamodb_backends
        from moto.sqs.models import sqs_backends

        self.checkpointer.close()
        self.backend.stop()
        self.state.close()
        dynamodb_backends[ACCOUNT][REGION].reset()
        sqs_backends[ACCOUNT][REGION].reset()


@pytest.fixture
def lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Life]]:
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    made: list[Life] = []
    yield made
    for life in made:
        if life.backend.started_here:
            life.end()


def on_disk(path: Path, sql: str, *args: object) -> list[tuple]:
    """What another process would read from the file now (its own connection, no lock of ours)."""
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


def test_every_answered_change_is_in_the_file_when_the_answer_arrives(tmp_path: Path, lives) -> None:
    life = Life(tmp_path / "state.db")
    lives.append(life)
    path = tmp_path / "state.db"
    life.ddb.put_item(TableName=TABLE, Item={"pk": {"S": "pay_1"}, "status": {"S": "NEW"}})
    key = item_key({"S": "pay_1"}, None)
    assert on_disk(path, "SELECT item FROM items WHERE tbl = ? AND key = ?", TABLE, key)
    assert len(on_disk(path, "SELECT seq FROM stream WHERE tbl = ?", TABLE)) == 1  # its stream record too
    life.ddb.update_item(TableName=TABLE, Key={"pk": {"S": "pay_1"}}, UpdateExpression="SET #s = :s",
                         ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "DONE"}})
    [(item,)] = on_disk(path, "SELECT item FROM items WHERE tbl = ? AND key = ?", TABLE, key)
    assert '"DONE"' in item
    sent = life.sqs.send_message(QueueUrl=life.urls[FIFO], MessageBody="m1", MessageGroupId="g",
                                 MessageDeduplicationId="d1")["MessageId"]
    assert on_disk(path, "SELECT id FROM messages WHERE queue = ?", FIFO) == [(sent,)]
    [received] = life.sqs.receive_message(QueueUrl=life.urls[FIFO])["Messages"]
    [(blob,)] = on_disk(path, "SELECT message FROM messages WHERE id = ?", sent)
    assert pickle.loads(blob)["approximate_receive_count"] == 1  # a receive count never starts again
    life.sqs.delete_message(QueueUrl=life.urls[FIFO], ReceiptHandle=received["ReceiptHandle"])
    assert on_disk(path, "SELECT id FROM messages WHERE queue = ?", FIFO) == []
    life.ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "pay_1"}})
    assert on_disk(path, "SELECT item FROM items WHERE tbl = ? AND key = ?", TABLE, key) == []


def test_concurrent_writers_share_commits_and_all_survive_a_kill(tmp_path: Path, lives) -> None:
    path = tmp_path / "state.db"
    first = Life(path)
    lives.append(first)

    def write(n: int) -> None:
        client = first.client("dynamodb")
        for m in range(10):
            client.put_item(TableName=TABLE, Item={"pk": {"S": f"k{n}-{m}"}})
        first.client("sqs").send_message(QueueUrl=first.urls[PLAIN], MessageBody=f"body-{n}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    assert first.checkpointer.commits <= 8 * 11  # never more commits than answered changes
    first.end()  # killed: no checkpoint after the last answer
    second = Life(path)
    lives.append(second)
    assert (second.restored.items, second.restored.messages) == (80, 8)
    assert second.restored.stream_records == 80
    bodies = [m["Body"] for m in second.sqs.receive_message(QueueUrl=second.urls[PLAIN],
                                                             MaxNumberOfMessages=10)["Messages"]]
    assert sorted(bodies) == sorted(f"body-{n}" for n in range(8))


def test_a_fifo_queue_comes_back_in_its_order_and_a_received_message_first_visible(tmp_path: Path, lives) -> None:
    path = tmp_path / "state.db"
    first = Life(path)
    lives.append(first)
    for n in range(5):
        first.sqs.send_message(QueueUrl=first.urls[FIFO], MessageBody=f"m{n}", MessageGroupId="g",
                               MessageDeduplicationId=f"d{n}")
    [head] = first.sqs.receive_message(QueueUrl=first.urls[FIFO], VisibilityTimeout=300)["Messages"]
    assert head["Body"] == "m0"
    first.end()  # its consumer dies with the process
    second = Life(path)
    lives.append(second)
    order = []
    for _ in range(5):
        [message] = second.sqs.receive_message(QueueUrl=second.urls[FIFO], AttributeNames=["All"])["Messages"]
        order.append((message["Body"], message["Attributes"]["ApproximateReceiveCount"]))
        second.sqs.delete_message(QueueUrl=second.urls[FIFO], ReceiptHandle=message["ReceiptHandle"])
    assert order == [("m0", "2"), ("m1", "1"), ("m2", "1"), ("m3", "1"), ("m4", "1")]


def test_a_format_1_file_is_migrated_with_its_messages(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        db.executescript("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
                         "CREATE TABLE queues (name TEXT PRIMARY KEY, messages BLOB NOT NULL);")
        db.execute("INSERT INTO meta VALUES ('format', '1')")
        db.execute("INSERT INTO queues VALUES (?, ?)",
                   (FIFO, pickle.dumps([{"id": "a", "body": "first"}, {"id": "b", "body": "second"}])))
    state = StateFile(path)
    assert state.get("format") == 2
    assert [pickle.loads(m)["body"] for m in state.messages()[FIFO]] == ["first", "second"]
    state.close()
    assert "queues" not in {name for (name,) in on_disk(path, "SELECT name FROM sqlite_master")}


def test_an_empty_receive_commits_nothing_and_a_redrive_is_saved(tmp_path: Path, lives) -> None:
    life = Life(tmp_path / "state.db")
    lives.append(life)
    life.checkpointer.changed.clear()  # set by every change heard (what a commit would save)
    for _ in range(5):  # the pollers' idle loop
        assert not life.sqs.receive_message(QueueUrl=life.urls[PLAIN]).get("Messages")
    assert not life.checkpointer.changed.is_set()
    # A receive that answers nothing but moves a message to its DLQ is a change (the source loses it).
    dlq = life.sqs.create_queue(QueueName="plain-dlq")["QueueUrl"]
    arn = life.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    life.sqs.set_queue_attributes(QueueUrl=life.urls[PLAIN], Attributes={
        "RedrivePolicy": f'{{"deadLetterTargetArn": "{arn}", "maxReceiveCount": "1"}}'})
    sent = life.sqs.send_message(QueueUrl=life.urls[PLAIN], MessageBody="poison")["MessageId"]
    [first] = life.sqs.receive_message(QueueUrl=life.urls[PLAIN], VisibilityTimeout=0)["Messages"]
    assert first["MessageId"] == sent
    assert not life.sqs.receive_message(QueueUrl=life.urls[PLAIN]).get("Messages")  # redriven, not answered
    assert on_disk(tmp_path / "state.db", "SELECT id FROM messages WHERE queue = ?", PLAIN) == []
