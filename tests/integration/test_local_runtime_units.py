"""The local runtime's pure pieces: routing, proxy events and answers, partial batch responses.

No sockets and no backend; the end-to-end behaviour is in test_local_runtime.py.
"""

from __future__ import annotations

import base64
import threading

import pytest

from paygate_local.apigateway.events import BadIntegrationResponse, build_proxy_event, parse_proxy_result
from paygate_local.apigateway.routing import Router
from paygate_local.event_sources.sqs import SqsEventSource, failed_message_ids, sqs_record
from paygate_local.event_sources.streams import stream_failure, stream_record
from paygate_local.lambda_.worker import InvocationResult
from paygate_local.template import ApiRoute, SqsMapping


def route(path: str, method: str = "GET", fn: str = "Fn") -> ApiRoute:
    return ApiRoute(fn, f"{method}{path}", path, method)


@pytest.fixture
def router() -> Router:
    return Router([
        route("/v1/payments"), route("/v1/payments", "POST"), route("/v1/payments/{id}"),
        route("/v1/payments/latest", fn="Latest"), route("/v1/payments/{id}/events"),
        route("/files/{proxy+}", "ANY", fn="Files"), route("/"),
    ])


def test_router_prefers_literal_then_param_then_greedy(router: Router) -> None:
    assert router.match("GET", "/v1/payments/latest")[0].function == "Latest"
    matched, params, _ = router.match("GET", "/v1/payments/pay_1")
    assert matched.path == "/v1/payments/{id}" and params == {"id": "pay_1"}
    matched, params, _ = router.match("GET", "/v1/payments/pay_1/events")
    assert matched.path == "/v1/payments/{id}/events" and params == {"id": "pay_1"}
    matched, params, _ = router.match("DELETE", "/files/a/b%20c/d.txt")
    assert matched.function == "Files" and params == {"proxy": "a/b c/d.txt"}
    assert router.match("GET", "/")[0].path == "/"
    assert router.match("GET", "/v1/payments/")[0].path == "/v1/payments"  # trailing slash


def test_router_404_and_405(router: Router) -> None:
    assert router.match("GET", "/nope") == (None, {}, [])
    assert router.match("GET", "/files") == (None, {}, [])  # {proxy+} needs one segment at least
    matched, _, allowed = router.match("PUT", "/v1/payments")
    assert matched is None and sorted(allowed) == ["GET", "POST"]


def test_router_rejects_two_functions_on_one_route() -> None:
    with pytest.raises(ValueError):
        Router([route("/a", fn="One"), route("/a", fn="Two")])


def test_proxy_event_shape() -> None:
    event = build_proxy_event(
        method="POST", raw_path="/v1/payments/pay%201", query="a=1&a=2&b=",
        headers=[("Host", "h"), ("X-Multi", "1"), ("X-Multi", "2")], body=b'{"x": 1}',
        route=route("/v1/payments/{id}", "POST"), path_params={"id": "pay 1"}, source_ip="127.0.0.1",
        stage="Prod", account_id="123456789012", request_id="req-1")
    assert event["resource"] == "/v1/payments/{id}"
    assert event["path"] == "/v1/payments/pay 1"
    assert event["httpMethod"] == "POST"
    assert event["headers"]["X-Multi"] == "2"
    assert event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["pathParameters"] == {"id": "pay 1"}
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["requestId"] == "req-1" and ctx["stage"] == "Prod"
    assert ctx["resourcePath"] == "/v1/payments/{id}" and ctx["httpMethod"] == "POST"
    assert ctx["identity"]["sourceIp"] == "127.0.0.1" and isinstance(ctx["requestTimeEpoch"], int)


def test_proxy_event_empty_parts_are_null_and_binary_is_base64() -> None:
    event = build_proxy_event(
        method="GET", raw_path="/x", query="", headers=[], body=b"\xff\x00",
        route=route("/x"), path_params={}, source_ip="127.0.0.1", stage="Prod",
        account_id="1", request_id="r")
    assert event["queryStringParameters"] is None and event["pathParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\x00"


def test_parse_proxy_result() -> None:
    status, headers, body = parse_proxy_result({
        "statusCode": "201", "headers": {"A": "1", "Set-Cookie": "ignored"},
        "multiValueHeaders": {"Set-Cookie": ["x=1", "y=2"]}, "body": "hi"})
    assert status == 201 and body == b"hi"
    assert sorted(headers) == [("A", "1"), ("Set-Cookie", "x=1"), ("Set-Cookie", "y=2")]
    assert parse_proxy_result({"statusCode": 200, "body": base64.b64encode(b"\x00").decode(),
                               "isBase64Encoded": True})[2] == b"\x00"
    assert parse_proxy_result({"statusCode": 204})[2] == b""
    for bad in (None, "text", {"statusCode": "x"}, {"statusCode": 200, "body": {"a": 1}},
                {"statusCode": 700}, {"statusCode": 200, "body": "!!", "isBase64Encoded": True}):
        with pytest.raises(BadIntegrationResponse):
            parse_proxy_result(bad)


def ok(payload=None) -> InvocationResult:
    return InvocationResult("r", payload=payload)


def error() -> InvocationResult:
    return InvocationResult("r", error={"errorType": "ValueError", "errorMessage": "x", "stackTrace": []})


MESSAGES = [{"MessageId": "m1", "ReceiptHandle": "h1", "Body": "a"},
            {"MessageId": "m2", "ReceiptHandle": "h2", "Body": "b"}]


def test_sqs_partial_batch_rules() -> None:
    everything = {"m1", "m2"}
    assert failed_message_ids(error(), MESSAGES, True) == everything
    assert failed_message_ids(ok({"batchItemFailures": [{"itemIdentifier": "m2"}]}), MESSAGES, True) == {"m2"}
    # Success: null or empty answers.
    for payload in (None, {}, {"batchItemFailures": None}, {"batchItemFailures": []}):
        assert failed_message_ids(ok(payload), MESSAGES, True) == set()
    # Whole batch failure: an invalid answer, an empty/null/unknown identifier.
    for payload in ("nonsense", {"batchItemFailures": [{"itemIdentifier": ""}]},
                    {"batchItemFailures": [{"itemIdentifier": None}]},
                    {"batchItemFailures": [{"id": "m1"}]},
                    {"batchItemFailures": [{"itemIdentifier": "m9"}]}):
        assert failed_message_ids(ok(payload), MESSAGES, True) == everything
    # Without ReportBatchItemFailures the answer is ignored.
    assert failed_message_ids(ok({"batchItemFailures": [{"itemIdentifier": "m2"}]}), MESSAGES, False) == set()


def test_sqs_record_shape() -> None:
    record = sqs_record({
        "MessageId": "m1", "ReceiptHandle": "h1", "Body": "hello", "MD5OfBody": "md5",
        "Attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": "g"},
        "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"},
                              "b": {"DataType": "Binary", "BinaryValue": b"\x01"}},
    }, "arn:aws:sqs:us-east-1:1:q.fifo", "us-east-1")
    assert record["messageAttributes"]["k"] == {"stringValue": "v", "stringListValues": [],
                                                "binaryListValues": [], "dataType": "String"}
    assert record["messageAttributes"]["b"]["binaryValue"] == "AQ=="
    assert record["attributes"]["MessageGroupId"] == "g"
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == \
        ("aws:sqs", "arn:aws:sqs:us-east-1:1:q.fifo", "us-east-1")


def records(*seqs: str) -> list[dict]:
    return [{"dynamodb": {"SequenceNumber": s}} for s in seqs]


def test_stream_partial_batch_rules() -> None:
    batch = records("10", "20", "30")
    assert stream_failure(ok(None), batch, True) == (None, {})
    assert stream_failure(ok({"batchItemFailures": []}), batch, True) == (None, {})
    at, err = stream_failure(ok({"batchItemFailures": [{"itemIdentifier": "30"},
                                                       {"itemIdentifier": "20"}]}), batch, True)
    assert at == 1 and err["errorType"] == "BatchItemFailure"  # retry from the lowest one
    assert stream_failure(ok({"batchItemFailures": [{"itemIdentifier": "99"}]}), batch, True)[0] == 0
    assert stream_failure(ok("junk"), batch, True)[0] == 0
    assert stream_failure(error(), batch, True)[0] == 0
    assert stream_failure(ok({"batchItemFailures": [{"itemIdentifier": "20"}]}), batch, False) == (None, {})


def test_stream_record_is_json_ready() -> None:
    import datetime as dt

    record = stream_record({
        "eventID": "e", "eventName": "INSERT", "dynamodb": {
            "ApproximateCreationDateTime": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
            "Keys": {"pk": {"S": "a"}}, "NewImage": {"blob": {"B": b"\x01"}},
            "SequenceNumber": "1", "SizeBytes": 3, "StreamViewType": "NEW_IMAGE"}},
        "arn:stream", "us-east-1")
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1704067200
    assert record["dynamodb"]["NewImage"]["blob"]["B"] == "AQ=="
    assert record["eventSource"] == "aws:dynamodb" and record["eventSourceARN"] == "arn:stream"
    assert record["awsRegion"] == "us-east-1" and record["eventVersion"] == "1.1"


# ------------------------------------------------------------------------------ interpreters


def test_a_runtime_runs_on_its_own_environment_when_there_is_one(tmp_path) -> None:
    import os
    import sys

    from paygate_local.lambda_ import interpreters as lambda_envs

    python = tmp_path / "python3.12" / "bin" / "python"
    python.parent.mkdir(parents=True)
    os.symlink(sys.executable, python)
    chosen = lambda_envs.select("python3.12", tmp_path)
    assert chosen.python == str(python) and chosen.note is None


def test_a_missing_interpreter_falls_back_to_this_one_and_says_why(tmp_path) -> None:
    import sys

    from paygate_local.lambda_ import interpreters as lambda_envs

    assert lambda_envs.find_interpreter("python3.99") is None
    chosen = lambda_envs.select("python3.99", tmp_path)
    assert chosen.python == sys.executable
    assert "python3.99" in chosen.note and "no python3.99 interpreter is installed" in chosen.note
    other = lambda_envs.select("nodejs22.x", tmp_path)
    assert other.python == sys.executable and "nodejs22.x" in other.note
    assert lambda_envs.select(None, tmp_path) == lambda_envs.Interpreter(None, sys.executable, None)


# ------------------------------------------------------------------------------ CPU of a process tree


def test_cpu_of_a_process_tree_counts_its_children_and_not_its_sleep() -> None:
    import subprocess
    import sys
    from pathlib import Path

    import psutil
    from polling import wait_for

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench is not an installed package
    from bench.meters.cpu import measure_cpu

    # A parent that sleeps, with a child that spins: the tree uses about one core.
    spin = "import time\nend = time.time() + 30\nwhile time.time() < end: pass\n"
    parent = subprocess.Popen([sys.executable, "-c",
                               f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {spin!r}]); "
                               "time.sleep(30)"])
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        wait_for(lambda: psutil.Process(parent.pid).children(), timeout=10, what="the spinning child")
        assert measure_cpu(parent.pid, 1.0) > 20  # a loaded 2-core machine still gives it a good share
        assert measure_cpu(sleeper.pid, 1.0) < 5
    finally:
        for process in psutil.Process(parent.pid).children(recursive=True):
            process.kill()
        parent.kill()
        sleeper.kill()
        parent.wait(10)
        sleeper.wait(10)


class _LongPolledQueue:
    """A queue read by long polls that, like SQS, hands a new message to one of the receives
    waiting and counts every receive; ChangeMessageVisibility 0 makes it receivable again."""

    queue_arn = "arn:aws:sqs:us-east-1:000000000000:q"
    fifo = False
    reorders_fifo_redelivery = False

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self.visible: list[dict] = []
        self.receives = 0
        self.visibility_changes: list[tuple[str, int]] = []
        self.waiting = 0

    def send(self, body: str) -> None:
        with self._ready:
            self.visible.append({"MessageId": body, "ReceiptHandle": body, "Body": body})
            self._ready.notify()

    def receive(self, count: int, wait_seconds: float, stop: threading.Event) -> list[dict]:
        with self._ready:  # a long poll in flight does not see the stop: it ends by itself
            self.waiting += 1
            self._ready.notify_all()
            got = self._ready.wait_for(lambda: self.visible, timeout=min(wait_seconds, 2.0))
            self.waiting -= 1
            if not got:
                return []
            self.receives += 1
            self._ready.notify_all()
            return [self.visible.pop(0)]

    def change_visibility(self, entries: list[tuple[str, int]]) -> list[dict]:
        with self._ready:
            self.visibility_changes += entries
            self.visible += [{"MessageId": h, "ReceiptHandle": h, "Body": h} for h, s in entries if s == 0]
            self._ready.notify()
        return []

    def delete(self, receipt_handles: list[str]) -> list[dict]:
        return []

    def wake(self) -> None:
        pass


def test_a_message_received_while_stopping_stays_in_flight_instead_of_bouncing_between_pollers() -> None:
    """Five pollers in long polls when the runtime stops; a message sent then is received once by
    one of them and left in flight (the next start makes it visible again). Handed back, it went
    from long poll to long poll, each receive counting towards maxReceiveCount, until SQS
    dead-lettered a webhook no function had seen (found by tests/e2e/test_restart.py on LocalStack)."""
    queue, stop, invoked = _LongPolledQueue(), threading.Event(), []
    mapping = SqsMapping("Fn", "Queue", queue.queue_arn, "Queue")
    source = SqsEventSource(mapping, queue, invoke=lambda fn, event: invoked.append(event), region="us-east-1",
                            stop=stop, initial=5, maximum=5)
    source.start()
    with queue._ready:
        assert queue._ready.wait_for(lambda: queue.waiting == 5, timeout=10)
    stop.set()
    queue.send("m1")
    with queue._ready:  # the other long polls run out by themselves
        queue._ready.wait_for(lambda: queue.receives >= 1, timeout=10)
    source.join(timeout=10)
    assert not source.is_alive()
    assert (queue.receives, queue.visibility_changes, invoked) == (1, [], [])
