"""The REST API's (payload v1.0) Lambda proxy integration: an HTTP request as the event a function
gets, and the function's answer ``{statusCode, headers, multiValueHeaders, body, isBase64Encoded}``
back as HTTP (or why API Gateway would answer 502 instead); the JSON error bodies of the gateway.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any
from urllib.parse import parse_qsl, unquote

from paygate_local.template import ApiRoute


def build_proxy_event(*, method: str, raw_path: str, query: str, headers: list[tuple[str, str]],
                      body: bytes, route: ApiRoute, path_params: dict[str, str], source_ip: str,
                      stage: str, account_id: str, request_id: str) -> dict:
    """A REST API (payload v1.0) Lambda proxy event."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value  # the last value wins, as on API Gateway
        multi.setdefault(name, []).append(value)
    query_pairs = parse_qsl(query, keep_blank_values=True)
    qs_single: dict[str, str] = {}
    qs_multi: dict[str, list[str]] = {}
    for name, value in query_pairs:
        qs_single[name] = value
        qs_multi.setdefault(name, []).append(value)
    try:
        text, is_b64 = (body.decode("utf-8"), False) if body else (None, False)
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode("ascii"), True
    lower = {k.lower(): v for k, v in single.items()}
    now = time.time()
    path = unquote(raw_path)
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": qs_single or None,
        "multiValueQueryStringParameters": qs_multi or None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": account_id,
            "apiId": "local",
            "domainName": lower.get("host", "127.0.0.1"),
            "domainPrefix": lower.get("host", "127.0.0.1").split(".")[0].split(":")[0],
            "extendedRequestId": request_id,
            "httpMethod": method,
            "identity": {
                "accessKey": None, "accountId": None, "caller": None, "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None, "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None, "principalOrgId": None, "sourceIp": source_ip,
                "user": None, "userAgent": lower.get("user-agent"), "userArn": None,
            },
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "local",
            "resourcePath": route.path,
            "stage": stage,
        },
        "body": text,
        "isBase64Encoded": is_b64,
    }


class BadIntegrationResponse(ValueError):
    """The function answered something API Gateway cannot turn into HTTP."""


def parse_proxy_result(payload: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """The function's answer -> (status, headers, body). Raises BadIntegrationResponse like a 502."""
    if not isinstance(payload, dict):
        raise BadIntegrationResponse(f"the answer is a {type(payload).__name__}, not an object")
    try:
        status = int(payload.get("statusCode", 200))
    except (TypeError, ValueError):
        raise BadIntegrationResponse("statusCode is not an integer") from None
    if not 100 <= status <= 599:
        raise BadIntegrationResponse(f"statusCode {status} is out of range")
    headers: list[tuple[str, str]] = []
    multi = payload.get("multiValueHeaders") or {}
    single = payload.get("headers") or {}
    if not isinstance(multi, dict) or not isinstance(single, dict):
        raise BadIntegrationResponse("headers must be objects")
    # API Gateway merges both maps; for a name in both, multiValueHeaders wins.
    multi_names = {k.lower() for k in multi}
    for name, values in multi.items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(name), _header_str(value)))
    for name, value in single.items():
        if name.lower() not in multi_names:
            headers.append((str(name), _header_str(value)))
    body = payload.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise BadIntegrationResponse("body must be a string")
    elif payload.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadIntegrationResponse("body is not valid base64") from None
    else:
        data = body.encode("utf-8")
    return status, headers, data


def _header_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def error_body(code: str, message: str, type_: str = "invalid_request_error") -> bytes:
    return json.dumps({"error": {"type": type_, "code": code, "message": message,
                                 "param": None}}).encode()
