"""The local runtime end to end, on a tiny fixture stack (tests/fixtures/runtime/template.yaml).

One runtime (moto in-process, API on a free port) serves the module; the shutdown test starts its
own. Waiting is always a poll with a deadline, never a bare sleep.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from polling import wait_for

from paygate_local.backends.moto import patches as moto_patches
from paygate_local.backends.provision import provision
from paygate_local.lambda_ import interpreters as lambda_envs
from paygate_local.runtime import LocalRuntime

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "runtime" / "template.yaml"
MAX_RECEIVES = 2


def read_jsonl(path: Path) -> list[Any]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("records")


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory, record_dir: Path):
    state = tmp_path_factory.mktemp("state")
    runtime = LocalRuntime(FIXTURE, state, api_port=0, stack_name="rt",
                           parameter_overrides={"RecordDir": str(record_dir), "Mode": "dev",
                                                "JobMaxReceives": str(MAX_RECEIVES)})
    began = time.monotonic()
    with runtime:
        runtime.startup_seconds = time.monotonic() - began
        yield runtime


def aws(rt: LocalRuntime, service: str):
    return boto3.client(service, endpoint_url=rt.aws_endpoint_url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def http(rt: LocalRuntime, method: str, path: str, body: bytes | None = None,
         headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(rt.api_url + path, data=body, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


# ------------------------------------------------------------------------------ startup, provisioning


def test_starts_fast_on_free_ports(rt: LocalRuntime) -> None:
    assert rt.startup_seconds < 10
    assert rt.api_url.startswith("http://127.0.0.1:") and not rt.api_url.endswith(":0")
    assert rt.aws_endpoint_url.startswith("http://127.0.0.1:")
    assert rt.api_function_ids() == ["EchoFunction", "SlowFunction"]


def test_resources_and_provisioning(rt: LocalRuntime) -> None:
    res = rt.resources
    assert res["ItemsTable"]["name"] == "rt-ItemsTable"
    assert res["JobsQueue"]["name"] == "rt-jobs.fifo"
    assert res["JobsDLQ"]["name"] == "rt-JobsDLQ.fifo"
    assert res["JobsQueue"]["url"].startswith(rt.aws_endpoint_url)
    assert res["ItemsTable"]["stream_arn"].startswith(res["ItemsTable"]["arn"] + "/stream/")

    ddb = aws(rt, "dynamodb")
    items = ddb.describe_table(TableName="rt-ItemsTable")["Table"]
    assert items["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert [i["IndexName"] for i in items["GlobalSecondaryIndexes"]] == ["gsi1"]
    assert {k["AttributeName"]: k["KeyType"] for k in items["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    ttl = ddb.describe_time_to_live(TableName="rt-ItemsTable")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert ddb.describe_table(TableName="rt-NotesTable")["Table"]["TableStatus"] == "ACTIVE"

    sqs = aws(rt, "sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=res["JobsQueue"]["url"], AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["VisibilityTimeout"] == "1"
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": res["JobsDLQ"]["arn"],
                                                  "maxReceiveCount": MAX_RECEIVES}

    # Provisioning again against the same backend is harmless.
    before = {lid: r.get("url") for lid, r in res.items()}
    provision(rt.stack, rt.backend)
    assert {lid: r.get("url") for lid, r in rt.resources.items()} == before


def test_env_for_is_the_full_function_environment(rt: LocalRuntime) -> None:
    env = rt.env_for("EchoFunction")
    assert env["NOTES_TABLE"] == "rt-NotesTable"
    assert env["JOBS_QUEUE_URL"] == rt.resources["JobsQueue"]["url"]
    assert env["AWS_ENDPOINT_URL"] == rt.aws_endpoint_url
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "rt-EchoFunction"
    assert env["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"
    assert env["AWS_ACCESS_KEY_ID"] == "test" and env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env


# ------------------------------------------------------------------------------ API Gateway


def test_get_builds_a_proxy_event_with_env_context_and_layer(rt: LocalRuntime) -> None:
    status, headers, body = http(rt, "GET", "/things/abc?x=1&x=2", headers={"X-Trace": "t1"})
    assert status == 200 and headers["X-Echo"] == "yes"
    data = json.loads(body)
    event = data["event"]
    assert event["resource"] == "/things/{id}" and event["path"] == "/things/abc"
    assert event["pathParameters"] == {"id": "abc"}
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["headers"]["X-Trace"] == "t1" and event["multiValueHeaders"]["X-Trace"] == ["t1"]
    assert event["requestContext"]["resourcePath"] == "/things/{id}"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["requestId"] == headers["x-amzn-RequestId"]
    assert event["body"] is None and event["isBase64Encoded"] is False

    env = data["env"]
    assert env["SHARED"] == "from-function" and env["GREETING"] == "hello"  # Globals merged
    assert env["MODE_LABEL"] == "development"  # Fn::If on a parameter override
    assert env["JOINED"] == "hello|rt-jobs.fifo" and env["STACK_INFO"] == "rt/us-east-1/123456789012"
    assert env["JOBS_QUEUE_URL"] == rt.resources["JobsQueue"]["url"]
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "384" and env["_HANDLER"] == "app.handler"
    assert data["layer"] == "from-the-layer"

    ctx = data["context"]
    assert ctx["function_name"] == "rt-EchoFunction" and ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:rt-EchoFunction"
    assert ctx["memory_limit_in_mb"] == "384"
    assert ctx["log_group_name"] == "/aws/lambda/rt-EchoFunction"
    assert 0 < ctx["remaining_ms"] <= 20_000


def test_most_specific_route_wins(rt: LocalRuntime) -> None:
    status, _, body = http(rt, "GET", "/things/latest")
    assert status == 200 and json.loads(body)["event"]["resource"] == "/things/latest"


def test_post_reaches_dynamodb_and_answers_with_headers(rt: LocalRuntime) -> None:
    status, headers, body = http(rt, "POST", "/things", body=json.dumps({"id": "n1", "text": "hi"}).encode(),
                                 headers={"Content-Type": "application/json"})
    assert status == 201, body
    assert headers["Location"] == "/things/n1"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert json.loads(body) == {"stored": {"pk": "n1", "text": "hi"}}
    item = aws(rt, "dynamodb").get_item(TableName="rt-NotesTable", Key={"pk": {"S": "n1"}})["Item"]
    assert item["text"] == {"S": "hi"}


def test_greedy_path_binary_request_and_base64_response(rt: LocalRuntime) -> None:
    status, _, body = http(rt, "PUT", "/files/a/b/c.bin", body=b"\xff\xfe\x00")
    event = json.loads(body)["event"]
    assert status == 200 and event["pathParameters"] == {"proxy": "a/b/c.bin"}
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\xfe\x00"
    status, headers, body = http(rt, "GET", "/files/x?raw=1")
    assert status == 200 and body == b"\x00\x01binary\xff"
    assert headers["Content-Type"] == "application/octet-stream"


def test_unknown_route_and_wrong_method(rt: LocalRuntime) -> None:
    status, _, body = http(rt, "GET", "/nope")
    assert status == 404
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "route_not_found"
    assert error["param"] is None and error["message"]
    status, headers, body = http(rt, "DELETE", "/things/abc")
    assert status == 405 and json.loads(body)["error"]["code"] == "method_not_allowed"
    assert headers["Allow"] == "GET"


def raw_request(rt: LocalRuntime, data: bytes, read_timeout: float = 10.0) -> bytes:
    host, port = rt.api_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")]
                if length and len(rest) >= length[0]:
                    break
        return b"".join(chunks)


def test_body_too_large_is_413_without_reading_it(rt: LocalRuntime) -> None:
    started = time.monotonic()
    answer = raw_request(rt, b"POST /things HTTP/1.1\r\nHost: x\r\nContent-Length: 11534336\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"body_too_large"' in answer
    assert time.monotonic() - started < 5


def test_bad_or_short_requests_do_not_hang_the_server(rt: LocalRuntime) -> None:
    answer = raw_request(rt, b"POST /things HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    # A client announcing more than it sends, then hanging up: the server carries on.
    host, port = rt.api_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /things HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort")
    answer = raw_request(rt, b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 404")
    # Chunked bodies are read too.
    body = b'{"id": "n2", "text": "chunked"}'
    answer = raw_request(rt, b"POST /things HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                             b"Connection: close\r\n\r\n" + f"{len(body):x}".encode() + b"\r\n"
                             + body + b"\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]


def test_a_body_shorter_than_its_content_length_is_a_prompt_400(rt: LocalRuntime) -> None:
    """The client announces 100 bytes, sends 5 and waits: a 400 in the error shape, not silence."""
    answer = raw_request(rt, b"POST /things HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort", read_timeout=15)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "incomplete_body"


@pytest.mark.parametrize("request_line, status, code", [
    (b"TRACE /things HTTP/1.1", 405, "method_not_allowed"),
    (b"BREW /things HTTP/1.1", 405, "method_not_allowed"),
    (b"GET /" + b"a" * 100_000 + b" HTTP/1.1", 414, "uri_too_long"),
    (b"GARBAGE", 400, "invalid_request"),
])
def test_what_the_http_server_refuses_itself_is_json_too(rt: LocalRuntime, request_line: bytes, status: int,
                                                         code: str) -> None:
    answer = raw_request(rt, request_line + b"\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == str(status).encode(), head[:200]
    assert b"content-type: application/json" in head.lower()
    error = json.loads(body)["error"]
    assert (error["code"], error["type"], error["param"]) == (code, "invalid_request_error", None)


def test_function_error_is_a_502(rt: LocalRuntime) -> None:
    status, _, body = http(rt, "GET", "/boom")
    assert status == 502 and json.loads(body) == {"message": "Internal server error"}
    result = rt.invoke("EchoFunction", {"resource": "/boom", "path": "/boom", "httpMethod": "GET"})
    assert result.error["errorType"] == "RuntimeError" and result.error["errorMessage"] == "boom"
    assert result.error["stackTrace"]
    # The worker survived the exception: the next request is served.
    assert http(rt, "GET", "/things/1")[0] == 200


def test_timeout_kills_the_worker_and_a_new_one_takes_over(rt: LocalRuntime) -> None:
    status, _, body = http(rt, "GET", "/slow?sleep=0")
    assert status == 200
    first_pid = json.loads(body)["pid"]
    assert rt.lambda_service.pids()["SlowFunction"] == [first_pid]

    started = time.monotonic()
    status, _, body = http(rt, "GET", "/slow?sleep=30")
    assert status == 502 and json.loads(body) == {"message": "Internal server error"}
    assert time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(first_pid, 0)

    status, _, body = http(rt, "GET", "/slow?sleep=0")
    assert status == 200 and json.loads(body)["pid"] != first_pid
    log = (rt.log_dir / "SlowFunction.log").read_text()
    assert "Task timed out after 1.00 seconds" in log

    direct = rt.invoke("SlowFunction", {"queryStringParameters": {"sleep": "5"}})
    assert direct.timed_out and direct.error["errorType"] == "Sandbox.Timedout"


def test_concurrent_requests_use_several_workers(rt: LocalRuntime) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: http(rt, "GET", "/slow?sleep=0.5"), range(4)))
    assert all(status == 200 for status, _, _ in results)
    pids = {json.loads(body)["pid"] for _, _, body in results}
    assert len(pids) >= 2
    assert len(rt.lambda_service.pids()["SlowFunction"]) <= rt.max_workers_per_function


# ------------------------------------------------------------------------------ SQS


def test_sqs_fifo_partial_failures_keep_group_order_and_redrive(rt: LocalRuntime, record_dir: Path) -> None:
    sqs = aws(rt, "sqs")
    url = rt.resources["JobsQueue"]["url"]
    groups = {
        "A": [("a1", None), ("a2", "once"), ("a3", None), ("a4", None), ("a5", None)],
        "B": [("b1", None), ("b2", None), ("b3", None)],
        "C": [("c1", None), ("x", "always")],
    }
    # Interleaved (a1, b1, c1, a2, b2, x, ...) so that one batch holds several groups.
    order = [{"Id": ident, "MessageBody": json.dumps({"id": ident, "fail": fail}),
              "MessageGroupId": group, "MessageDeduplicationId": ident,
              "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "job"}}}
             for row in itertools.zip_longest(*([(g, m) for m in ms] for g, ms in groups.items()))
             for group, (ident, fail) in filter(None, row)]
    for start in range(0, len(order), 10):
        assert not sqs.send_message_batch(QueueUrl=url, Entries=order[start:start + 10]).get("Failed")

    log_path = record_dir / "jobs.jsonl"
    expected_ok = {ident for ms in groups.values() for ident, fail in ms if fail != "always"}

    def done() -> bool:
        return {r["id"] for r in read_jsonl(log_path) if r["outcome"] == "ok"} >= expected_ok
    wait_for(done, timeout=60, what="every good job processed")

    dlq = rt.resources["JobsDLQ"]["url"]
    dead = wait_for(lambda: sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=1).get("Messages"),
                    timeout=30, what="the poison message in the DLQ")
    assert [json.loads(m["Body"])["id"] for m in dead] == ["x"]

    lines = read_jsonl(log_path)
    successes = [r for r in lines if r["outcome"] == "ok"]
    assert sorted(r["id"] for r in successes) == sorted(expected_ok)  # each exactly once
    for group, messages in groups.items():
        in_order = [r["id"] for r in successes if r["group"] == group]
        assert in_order == [m for m, fail in messages if fail != "always"], group
    assert [r["count"] for r in lines if r["id"] == "a2" and r["outcome"] != "skipped"] == [1, 2]
    # The poison message was delivered maxReceiveCount times (the first may have been a "skipped"
    # behind a2's failure in the same batch: receive counts add up for skipped messages too).
    x_outcomes = [r["outcome"] for r in lines if r["id"] == "x"]
    assert len(x_outcomes) == MAX_RECEIVES and "ok" not in x_outcomes and x_outcomes[-1] == "failed"
    first = next(r for r in lines if r["outcome"] == "ok")
    assert first["source"] == "aws:sqs"
    assert first["attrs"]["kind"] == {"stringValue": "job", "stringListValues": [],
                                      "binaryListValues": [], "dataType": "String"}

    def queue_empty() -> bool:
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"
    wait_for(queue_empty, timeout=10, what="the jobs queue to drain")


def tasks(record_dir: Path, event: str | None = None) -> list[dict]:
    return [r for r in read_jsonl(record_dir / "tasks.jsonl") if event is None or r["event"] == event]


def send_task(rt: LocalRuntime, ident: str, **fields: Any) -> float:
    """Send a task to the standard queue; returns when it was sent (time.time())."""
    delay = fields.pop("delay", 0)
    sent = time.time()
    aws(rt, "sqs").send_message(QueueUrl=rt.resources["TasksQueue"]["url"], DelaySeconds=delay,
                                MessageBody=json.dumps({"id": ident, **fields}))
    return sent


def test_a_message_sent_is_delivered_at_once_not_at_the_next_poll(rt: LocalRuntime, record_dir: Path) -> None:
    # Given an idle queue whose pollers are all waiting (a long poll lasts 20 s)
    wait_for(lambda: rt.lambda_service.pids()["TasksFunction"], timeout=60, what="a warm TasksFunction")
    before = sqs_operations(rt.counters(), "ReceiveMessage")
    # When a message is sent, then it is delivered well within one long poll: the send woke a poller.
    send_task(rt, "prompt")
    wait_for(lambda: [r for r in tasks(record_dir, "done") if r["id"] == "prompt"], timeout=10,
             what="the task delivered before any long poll could have ended")
    # Waiting cost no requests: one per long poll, not one per check.
    assert sqs_operations(rt.counters(), "ReceiveMessage") - before < 20


def test_a_delayed_message_is_delivered_when_due_and_not_before(rt: LocalRuntime, record_dir: Path) -> None:
    sent = send_task(rt, "delayed", delay=2)
    (done,) = wait_for(lambda: [r for r in tasks(record_dir, "done") if r["id"] == "delayed"], timeout=15,
                       what="the delayed task")
    assert done["at"] >= sent + 2 - 0.05  # SQS hides it for DelaySeconds; the poller woke when it was due


def test_a_message_made_invisible_comes_back_when_its_visibility_ends(rt: LocalRuntime, record_dir: Path) -> None:
    # The first delivery pushes its own visibility back by 1 s (a retry backoff) and fails; the
    # queue's own timeout is 60 s, so seeing it again within 15 s means the poller woke at its moment.
    send_task(rt, "backoff", retry_after=1)
    (again,) = wait_for(lambda: [r for r in tasks(record_dir, "done") if r["id"] == "backoff"], timeout=15,
                        what="the retried task")
    (retry,) = [r for r in tasks(record_dir, "retry") if r["id"] == "backoff"]
    assert again["count"] == 2 and again["at"] >= retry["at"] + 1 - 0.05


def test_a_slow_invocation_on_a_standard_queue_does_not_hold_back_other_messages(
        rt: LocalRuntime, record_dir: Path) -> None:
    # Given one delivery that runs until the test opens its gate
    send_task(rt, "slow", gate="open-slow")
    wait_for(lambda: [r for r in tasks(record_dir, "start") if r["id"] == "slow"], timeout=15,
             what="the slow task to start")
    # When more messages arrive, then they are all delivered while it still runs
    fast = [f"fast-{i}" for i in range(6)]
    for ident in fast:
        send_task(rt, ident)
    wait_for(lambda: {r["id"] for r in tasks(record_dir, "done")} >= set(fast), timeout=15,
             what="the fast tasks, past the slow one")
    assert "slow" not in {r["id"] for r in tasks(record_dir, "done")}
    (source,) = [p for p in rt.pollers if p.name == "sqs-TasksFunction-Tasks"]
    assert source.peak_pollers >= 2
    (record_dir / "open-slow").touch()
    wait_for(lambda: "slow" in {r["id"] for r in tasks(record_dir, "done")}, timeout=15, what="the slow task")


def sqs_operations(counts: dict, operation: str) -> int:
    """Requests of one SQS operation the event source mappings made, over every queue."""
    return sum(q["operations"].get(operation, 0) for q in counts["event_sources"]["sqs"].values())


def invocations(counts: dict, logical_id: str) -> int:
    return counts["lambda"].get(logical_id, {}).get("invocations", 0)


def test_counters_say_what_the_runtime_did(rt: LocalRuntime) -> None:
    before = rt.counters()
    assert http(rt, "GET", "/things/counted")[0] == 200
    after = rt.counters()
    assert after["api"]["requests"] == before["api"]["requests"] + 1
    assert invocations(after, "EchoFunction") == invocations(before, "EchoFunction") + 1
    assert after["lambda"]["EchoFunction"]["name"] == rt.stack.physical_name("EchoFunction")
    assert set(after["event_sources"]) >= {"sqs", "streams"}


# ------------------------------------------------------------------------------ DynamoDB Streams


def test_stream_retries_reported_failures_bisects_errors_and_sends_exhausted_batches_on(
        rt: LocalRuntime, record_dir: Path) -> None:
    ddb = aws(rt, "dynamodb")
    for pk, mode in [("s1", "ok"), ("s2", "once"), ("s3", "ok"), ("s4", "raise"), ("s5", "ok")]:
        ddb.put_item(TableName="rt-ItemsTable",
                     Item={"pk": {"S": pk}, "sk": {"S": "0"}, "mode": {"S": mode}})
    sqs = aws(rt, "sqs")
    failures_url = rt.resources["StreamFailures"]["url"]
    received = wait_for(lambda: sqs.receive_message(QueueUrl=failures_url, WaitTimeSeconds=1,
                                                    MaxNumberOfMessages=10).get("Messages"),
                        timeout=60, what="the on-failure record")
    wait_for(lambda: "s5" in {r["pk"] for r in read_jsonl(record_dir / "stream.jsonl")}, timeout=30,
             what="the record after the poison one")

    processed = read_jsonl(record_dir / "stream.jsonl")
    assert [r["pk"] for r in processed] == ["s1", "s2", "s3", "s5"]  # in order, each once, s4 never
    seqs = [int(r["seq"]) for r in processed]
    assert seqs == sorted(seqs)
    assert {r["event"] for r in processed} == {"INSERT"}
    assert processed[0]["source"] == "aws:dynamodb"
    assert processed[0]["arn"] == rt.resources["ItemsTable"]["stream_arn"]
    assert processed[0]["view"] == "NEW_AND_OLD_IMAGES"
    invocations = read_jsonl(record_dir / "stream-invocations.jsonl")
    assert sum("s2" in batch for batch in invocations) >= 2  # reported failure -> retried
    # Bisected down to the poison record alone, which then got 1 try + MaximumRetryAttempts (2).
    assert sum(batch == ["s4"] for batch in invocations) == 3
    assert ["s5"] in invocations or any(b[0] == "s5" for b in invocations)  # s5 was not given up

    (message,) = received
    failure = json.loads(message["Body"])
    info = failure["DDBStreamBatchInfo"]
    assert info["streamArn"] == rt.resources["ItemsTable"]["stream_arn"]
    assert info["shardId"] and info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in failure["records"]] == ["s4"]
    assert failure["records"][0]["dynamodb"]["SequenceNumber"] == info["startSequenceNumber"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["error"]["errorType"] == "ValueError"

    # The poller moved on: later changes (a MODIFY) still flow, and the checkpoint is past them.
    ddb.update_item(TableName="rt-ItemsTable", Key={"pk": {"S": "s1"}, "sk": {"S": "0"}},
                    UpdateExpression="SET #m = :m", ExpressionAttributeNames={"#m": "note"},
                    ExpressionAttributeValues={":m": {"S": "again"}})
    modify = wait_for(lambda: [r for r in read_jsonl(record_dir / "stream.jsonl") if r["event"] == "MODIFY"],
                      timeout=30, what="the MODIFY record")
    (poller,) = [p for p in rt.pollers if p.name.startswith("stream-StreamFunction")]
    wait_for(lambda: list(poller.checkpoints.values()) == [modify[0]["seq"]], timeout=10,
             what="the checkpoint to reach the MODIFY record")


# ------------------------------------------------------------------------------ interpreters


def test_functions_run_on_the_interpreter_their_runtime_names(rt: LocalRuntime) -> None:
    chosen = rt.interpreters["EchoFunction"]
    status, _, body = http(rt, "GET", "/things/python")
    python = json.loads(body)["python"]
    assert status == 200 and python["executable"] == chosen.python
    if lambda_envs.find_interpreter("python3.12"):
        # make setup made .venv/lambda/python3.12: the function sees Python 3.12 with its layer's
        # dependencies and boto3, and none of the dev venv's tools.
        assert chosen.note is None, chosen.note
        assert python["version"] == "3.12"
        assert not python["moto"] and not python["pytest"]
    else:
        assert chosen.python == sys.executable and "python3.12" in chosen.note


# ------------------------------------------------------------------------------ any other backend


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory):
    """The same stack against a backend given by URL: a moto server this test starts on 127.0.0.1,
    read through boto3 (long polls, streams four times a second) as LocalStack would be."""
    from moto.server import ThreadedMotoServer

    records = tmp_path_factory.mktemp("remote-records")
    with moto_patches.patched():  # as paygate dev would run this server itself
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            runtime = LocalRuntime(FIXTURE, tmp_path_factory.mktemp("remote-state"), api_port=0,
                                   stack_name="remote", backend=f"http://{host}:{port}",
                                   parameter_overrides={"RecordDir": str(records)}, long_poll_seconds=2)
            with runtime:
                runtime.records = records
                yield runtime
        finally:
            server.stop()


def test_the_boto3_transport_delivers_queues_and_streams(remote: LocalRuntime) -> None:
    assert not remote.backend.in_process
    send_task(remote, "over-http")
    wait_for(lambda: [r for r in tasks(remote.records, "done") if r["id"] == "over-http"], timeout=30,
             what="the task, received with a long poll")
    aws(remote, "dynamodb").put_item(TableName="remote-ItemsTable",
                                     Item={"pk": {"S": "r1"}, "sk": {"S": "0"}, "mode": {"S": "ok"}})
    wait_for(lambda: [r for r in read_jsonl(remote.records / "stream.jsonl") if r["pk"] == "r1"], timeout=30,
             what="the stream record, read with GetRecords")
    counts = remote.counters()
    assert sqs_operations(counts, "ReceiveMessage") >= 1 and sqs_operations(counts, "DeleteMessageBatch") >= 1
    streams = counts["event_sources"]["streams"]
    assert streams["GetRecords"] >= 1 and streams["DescribeStream"] >= 1
    assert invocations(counts, "TasksFunction") >= 1 and invocations(counts, "StreamFunction") >= 1


def test_the_boto3_transport_keeps_fifo_redrive_and_visibility_backoff(remote: LocalRuntime) -> None:
    send_task(remote, "remote-backoff", retry_after=1)
    wait_for(lambda: [r for r in tasks(remote.records, "done") if r["id"] == "remote-backoff"], timeout=30,
             what="the task after its own visibility backoff")
    sqs = aws(remote, "sqs")
    url = remote.resources["JobsQueue"]["url"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "remote-x", "fail": "always"}),
                     MessageGroupId="g", MessageDeduplicationId="remote-x")
    dlq = remote.resources["JobsDLQ"]["url"]
    dead = wait_for(lambda: sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"), timeout=60,
                    what="the poison job in the DLQ (the fixture's maxReceiveCount is 5)")
    assert json.loads(dead[0]["Body"])["id"] == "remote-x"


# ------------------------------------------------------------------------------ logs, shutdown


def test_logs_land_in_the_state_dir(rt: LocalRuntime) -> None:
    http(rt, "GET", "/things/logged")
    echo_log = rt.log_dir / "EchoFunction.log"
    wait_for(lambda: echo_log.exists() and "/things/logged" in echo_log.read_text(), timeout=10,
             what="the echo function's own log line")
    lines = [json.loads(line) for line in echo_log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("message") == "echo invoked" for line in lines)
    assert (rt.log_dir / "runtime.log").read_text().strip()
    # The access line is written once the answer is out, so it may trail the response a little.
    wait_for(lambda: any(entry["path"] == "/things/logged" and entry["status"] == 200
                         for entry in read_jsonl(rt.log_dir / "api.log")),
             timeout=10, what="the access log line")


def test_stop_ends_every_thread_and_worker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    threads_before = set(threading.enumerate())
    # No environments for the functions' runtime here: they fall back to this interpreter, said once.
    runtime = LocalRuntime(FIXTURE, tmp_path / "state", api_port=0, stack_name="stop",
                           parameter_overrides={"RecordDir": str(tmp_path)},
                           lambda_envs_dir=tmp_path / "no-lambda-envs")
    with runtime:
        result = runtime.invoke("EchoFunction", {"resource": "/x", "path": "/x", "httpMethod": "GET",
                                                 "queryStringParameters": None})
        assert result.ok
        assert json.loads(result.payload["body"])["python"]["executable"] == sys.executable
        notes = [line for line in capsys.readouterr().err.splitlines() if "Runtime python3.12" in line]
        assert len(notes) == 1 and sys.executable in notes[0]
        wait_for(lambda: all(runtime.lambda_service.pids().values()), timeout=60,
                 what="every function's prewarmed worker")
        pids = [pid for pids in runtime.lambda_service.pids().values() for pid in pids]
        api_port = int(runtime.api_url.rsplit(":", 1)[1])
        started = set(threading.enumerate()) - threads_before
        assert any(t.name.startswith("sqs-") for t in started)
        assert any(t.name.startswith("stream-") for t in started)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # Threads of this runtime (pollers, API server, moto server) are gone; a request thread of the
    # module's other runtime may have been caught in `started`, and it ends on its own.
    wait_for(lambda: not [t for t in started if t.is_alive()], timeout=10,
             what="the runtime's threads to end")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", api_port), timeout=1).close()


# ------------------------------------------------------------------------------ worker pools


def toy_pool(tmp_path: Path, code: str, *, fork: bool, handler: str = "app.handler"):
    """A pool of one function written here, outside any template (no backend needed)."""
    from paygate_local.lambda_.pool import FunctionPool
    from paygate_local.template import FunctionSpec

    code_dir = tmp_path / "toy"
    code_dir.mkdir(parents=True, exist_ok=True)
    (code_dir / "app.py").write_text(code)
    spec = FunctionSpec(logical_id="Toy", name="toy", arn="arn:aws:lambda:us-east-1:1:function:toy",
                        code_dir=code_dir, handler=handler, runtime=None, timeout=5.0, memory_size=128,
                        layer_dirs=[], environment={})
    pool = FunctionPool(spec, {"PATH": os.environ.get("PATH", "")},
                        tmp_path / "toy.log", max_workers=2)
    pool._use_template = fork
    return pool


TOY = """
import os
IMPORTED_IN = os.getpid()


def handler(event, context):
    if event.get("crash"):
        os._exit(3)
    return {"pid": os.getpid(), "imported_in": IMPORTED_IN}
"""


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "fresh"])
def test_a_worker_that_dies_is_replaced_and_a_bad_handler_is_an_init_error(tmp_path: Path, fork: bool) -> None:
    pool = toy_pool(tmp_path, TOY, fork=fork)
    try:
        first = pool.invoke({}).payload
        # Forked workers were initialised once, in the template: the handler module was imported
        # in another process than the one that runs it.
        assert (first["imported_in"] != first["pid"]) is fork
        crashed = pool.invoke({"crash": True})
        assert crashed.error["errorType"] == "Runtime.ExitError"
        wait_for(lambda: first["pid"] not in pool.pids, timeout=10, what="the dead worker to be gone")
        assert pool.invoke({}).payload["pid"] != first["pid"]
    finally:
        pool.close()
    with pytest.raises(ProcessLookupError):
        os.kill(first["pid"], 0)

    broken = toy_pool(tmp_path / "broken", TOY, fork=fork, handler="app.missing")
    try:
        error = broken.invoke({}).error
        assert error["errorType"] == "Runtime.ImportModuleError" and "missing" in error["errorMessage"]
    finally:
        broken.close()


def test_a_handler_that_starts_a_thread_at_import_gets_fresh_workers_not_forks(tmp_path: Path) -> None:
    # Forking a process with a thread could deadlock the child: the template refuses, the pool
    # falls back to starting each worker fresh, and the function works all the same.
    pool = toy_pool(tmp_path, "import threading, time\n"
                              "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n" + TOY,
                    fork=True)
    try:
        first = pool.invoke({}).payload
        assert first["imported_in"] == first["pid"]
        assert not pool._use_template
    finally:
        pool.close()
