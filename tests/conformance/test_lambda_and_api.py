"""Lambda's invocation (timeout, reserved concurrency, environment and context) and API Gateway's REST proxy
integration (the v1 event, binary bodies, the payload limit, the integration timeout), as documented."""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
from harness import Deployed, differs
from polling import wait_for


def probe(stack: Deployed, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(kwargs.pop("method", "GET"), f"{stack.api_url}{path}", timeout=90, **kwargs)


# ------------------------------------------------------------------------------------------------ Lambda


def test_the_timeout_ends_the_invocation(stack: Deployed) -> None:
    """Timeout: "the maximum amount of time in seconds that Lambda allows a function to run before stopping
    it" (configuration-timeout.html); behind API Gateway a function error is a 502 (services-apigateway-errors)."""
    test = f"timeout-{uuid.uuid4().hex[:8]}"
    answer = probe(stack, "/timeout", params={"test": test, "sleep": "4"})
    assert answer.status_code == 502
    started = wait_for(lambda: stack.observations(test, "started"), what="the start")[0]
    assert started["remaining_ms"] <= 2000
    with pytest.raises(AssertionError):  # it never finishes: stopped at 2 s, before its 4 s sleep ends
        wait_for(lambda: stack.observations(test, "finished"), timeout=4, what="a finish")


@differs(ministack="not throttled: a second invocation while the one reserved runs is served, 200")
def test_reserved_concurrency_throttles_what_exceeds_it(stack: Deployed) -> None:
    """ReservedConcurrentExecutions: "Reserved concurrency is the maximum number of concurrent instances you
    want to allocate to your function"; beyond it an invocation is throttled (429 TooManyRequestsException,
    configuration-concurrency.html), which API Gateway answers with a 500 (services-apigateway-errors.html)."""
    test = f"throttle-{uuid.uuid4().hex[:8]}"
    first: dict = {}
    holder = threading.Thread(target=lambda: first.update(r=probe(stack, "/throttle", params={"test": test, "n": "1"})))
    holder.start()
    wait_for(lambda: stack.observations(test, "started"), timeout=30, what="the first invocation")
    second = probe(stack, "/throttle", params={"test": test, "n": "2", "sleep": "0"})
    holder.join(60)
    assert first["r"].status_code == 200
    assert second.status_code == 500 and second.json() == {"message": "Internal server error"}
    assert [x["request"] for x in stack.observations(test, "started")] == ["1"]


@differs(ministack="_HANDLER is not in the function's environment")
def test_the_environment_and_the_context(stack: Deployed) -> None:
    """Environment: the template's variables and the runtime's own ("AWS_LAMBDA_FUNCTION_NAME – The name of the
    function", configuration-envvars.html#configuration-envvars-runtime); the context object: "function_name",
    "memory_limit_in_mb", "invoked_function_arn", "aws_request_id", "get_remaining_time_in_millis" (python-context)."""
    body = probe(stack, "/probe/env").json()
    env, context = body["env"], body["context"]
    assert env["PROBE_VAR"] == "from-template"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == context["function_name"] and context["function_name"]
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" and context["memory_limit_in_mb"] == "256"
    assert env["AWS_REGION"] == stack.region and env["_HANDLER"] == "app.handler"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{context['function_name']}"
    assert context["invoked_function_arn"].startswith(f"arn:aws:lambda:{stack.region}:")
    assert context["invoked_function_arn"].endswith(f":function:{context['function_name']}")
    assert 0 < context["remaining_ms"] <= 40_000 and context["aws_request_id"]


# ------------------------------------------------------------------------------------------------ API Gateway


@differs(ministack="a repeated header is one value joined by commas in multiValueHeaders: ['one, two']")
def test_the_v1_proxy_event_keeps_repeated_headers_and_query_parameters(stack: Deployed) -> None:
    """The REST proxy event: "headers", "multiValueHeaders", "queryStringParameters",
    "multiValueQueryStringParameters", "pathParameters", "requestContext", "body", "isBase64Encoded"
    (set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format)."""
    answer = probe(stack, "/probe/a/b?x=1&x=2&y=3", method="POST", content=b'{"k": "v"}',
                   headers=[("X-Multi", "one"), ("X-Multi", "two"), ("Content-Type", "application/json")])
    event = answer.json()["event"]
    assert event["httpMethod"] == "POST" and event["resource"] == "/probe/{proxy+}"
    assert event["path"].endswith("/probe/a/b") and event["pathParameters"] == {"proxy": "a/b"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["3"]}
    assert event["queryStringParameters"]["y"] == "3" and event["queryStringParameters"]["x"] in ("1", "2")
    multi = {k.lower(): v for k, v in event["multiValueHeaders"].items()}
    assert multi["x-multi"] == ["one", "two"]
    assert event["body"] == '{"k": "v"}' and event["isBase64Encoded"] is False
    assert event["requestContext"]["httpMethod"] == "POST" and event["requestContext"]["requestId"]


@differs(ministack="a binary request body (a binaryMediaTypes type) reaches the function as text, isBase64Encoded false")
def test_binary_bodies_are_base64_both_ways(stack: Deployed) -> None:
    """"To handle binary payloads for AWS Lambda proxy integrations, you must base64-encode your function's
    response. You must also configure the binaryMediaTypes for your API" (api-gateway-payload-encodings.html):
    with binaryMediaTypes, a binary request body reaches the function base64-encoded with "isBase64Encoded":
    true, and a response with isBase64Encoded true is sent as bytes."""
    raw = bytes(range(256))
    answer = probe(stack, "/probe/upload", method="POST", content=raw,
                   headers={"Content-Type": "application/octet-stream"})
    event = answer.json()["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw
    binary = probe(stack, "/probe/binary", headers={"Accept": "application/octet-stream"})
    assert binary.status_code == 200 and binary.content == b"\x00\xffbytes\x80"


@differs(ministack="a request body over 10 MB is passed to the function: 200")
def test_a_payload_over_10_mb_is_refused_with_a_413(stack: Deployed) -> None:
    """"Payload size ... 10 MB" (limits.html, API Gateway quotas for REST APIs): a larger request is refused
    before any function runs."""
    answer = probe(stack, "/probe/big", method="POST", content=b"x" * (10 * 1024 * 1024 + 1),
                   headers={"Content-Type": "text/plain"})
    assert answer.status_code == 413


@differs(ministack="the integration timeout is not applied: the client waits for the function (40 s)")
def test_the_integration_timeout_answers_504_while_the_function_runs_on(stack: Deployed) -> None:
    """"Integration timeout: 50 milliseconds - 29 seconds for all integration types" (limits.html): past it the
    client gets a 504 "Endpoint request timed out" (api-gateway-known-issues / troubleshooting-timeouts)."""
    answer = probe(stack, "/probe/slow", params={"sleep": str(stack.integration_timeout + 2)})
    assert answer.status_code == 504 and answer.json() == {"message": "Endpoint request timed out"}


@pytest.mark.parametrize("request_head", [
    b"TRACE /probe/x HTTP/1.1\r\nHost: x\r\n\r\n",
    pytest.param(b"POST /probe/x HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n", marks=differs(
        ministack="no early answer to a Content-Length over 10 MB: it waits for the 20 MB body (30 s, no answer)")),
    b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /probe/x HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
    b"POST /probe/x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
], ids=["405", "413", "414", "431", "400"])
def test_a_connection_the_server_closes_says_connection_close(stack: Deployed, request_head: bytes) -> None:
    """HTTP/1.1: "A server that ... will close the connection after the response ... SHOULD send a 'close'
    connection option" (RFC 9112 section 9.6), so that a client reusing connections does not send its next
    request on a closed one. A server that keeps the connection open must then answer on it."""
    split = urlsplit(stack.api_url)
    with socket.create_connection((split.hostname, split.port), timeout=30) as sock:
        sock.sendall(request_head.replace(b" /", b" " + split.path.encode() + b"/", 1) if split.path else request_head)
        response = http.client.HTTPResponse(sock)
        response.begin()
        if response.getheader("Connection", "").lower() == "close":
            assert response.will_close
            return
        response.read()  # kept open (not said to close): the next request on it is answered
        sock.sendall(f"GET {split.path}/probe/again HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        again = http.client.HTTPResponse(sock)
        again.begin()
        assert again.status == 200, (response.status, response.getheaders(), again.status)


def test_a_client_reusing_its_connection_is_not_broken_by_an_error(stack: Deployed) -> None:
    """The same rule seen from a client: after an answer that says "close" (RFC 9112 section 9.6), here to a
    body over the 10 MB limit ("Payload size ... 10 MB", limits.html: a 413 where it is applied), a pooled
    client's next request goes on a new connection and succeeds."""
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        assert client.post("/probe/big", content=b"x" * (10 * 1024 * 1024 + 1)).status_code in (200, 413)
        assert client.get("/probe/after").status_code == 200
