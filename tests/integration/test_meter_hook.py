"""meter_hook in a process of its own, as in a function worker: real boto3 clients against moto's server.

The hook is loaded from its file (a worker's interpreter has no paygate_local package), installed
before or after boto3's default session exists, and the counts it leaves behind are exact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest
from moto.server import ThreadedMotoServer

HOOK = Path(__file__).resolve().parents[2] / "bench" / "meters" / "meter_hook.py"

SCRIPT = textwrap.dedent("""
    import importlib.util, os, sys
    directory, endpoint, order = sys.argv[1:4]
    if order == "session-first":
        import boto3
        boto3.setup_default_session()
    spec = importlib.util.spec_from_file_location("paygate_meter_hook", os.environ["HOOK"])
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    hook.install(directory)
    assert "paygate_local" not in sys.modules and "moto" not in sys.modules
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    ddb.create_table(TableName=order, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    ddb.put_item(TableName=order, Item={"pk": {"S": "a"}})
    ddb.get_item(TableName=order, Key={"pk": {"S": "a"}})
    ddb.get_item(TableName=order, Key={"pk": {"S": "b"}})
    try:
        ddb.put_item(TableName=order, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
    except ddb.exceptions.ConditionalCheckFailedException:
        pass

    sqs = boto3.client("sqs", endpoint_url=endpoint)
    url = sqs.create_queue(QueueName=order + ".fifo", Attributes={"FifoQueue": "true",
                                                           "ContentBasedDeduplication": "true"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x" * 70_000, MessageGroupId="g")
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": f"m{i}", "MessageGroupId": "g"} for i in range(3)])
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    assert len(first["Messages"]) == 4, first
    sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(first["Messages"])])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    print(os.getpid())
""")


@pytest.fixture
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def run_worker_like(tmp_path: Path, endpoint: str, order: str) -> tuple[int, dict]:
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOOK": str(HOOK), "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "AWS_LAMBDA_FUNCTION_NAME": "paygate-TestFunction"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), endpoint, order], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[-1])
    files = sorted(tmp_path.glob("calls-*.json"))
    assert [f.name for f in files] == [f"calls-paygate-TestFunction-{pid}.json"]
    return pid, json.loads(files[0].read_text())


@pytest.mark.parametrize("order", ["hook-first", "session-first"])
def test_counts_every_call_by_service_and_operation(tmp_path: Path, moto_server: str, order: str) -> None:
    # Given a worker-like process with the hook installed, when it makes DynamoDB and SQS calls
    # (moto's backends are shared by every server in this process: each case has its own names)
    pid, counts = run_worker_like(tmp_path, moto_server, order)

    # Then every call is counted once by (service, operation), failed ones included
    assert counts["version"] == 1 and counts["kind"] == "calls"
    assert counts["function"] == "paygate-TestFunction" and counts["pid"] == pid
    assert counts["calls"] == {
        "dynamodb": {"CreateTable": 1, "PutItem": 2, "GetItem": 2},
        "sqs": {"CreateQueue": 1, "SendMessage": 1, "SendMessageBatch": 1, "ReceiveMessage": 2,
                "DeleteMessageBatch": 1},
    }
    # And SQS is counted per queue: a 70 KB body is two billed requests, a batch of 3 is one request
    # (CreateQueue counts too: every SQS action is a billed request)
    assert counts["sqs"][f"{order}.fifo"] == {"requests": 6, "billed_requests": 7, "messages_sent": 4,
                                       "messages_received": 4, "empty_receives": 1}
    # And the worker's interpreter is recorded, for cold-import measurements on the same one
    assert counts["python"] == sys.executable
