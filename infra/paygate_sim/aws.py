"""AWS below the adapters: boto3-shaped clients whose calls are answered by moto's own response
handlers and backend models in this process, without HTTP, signing or botocore serialization.

The adapters call ``client.put_item(...)``, ``client.transact_write_items(...)``,
``client.send_message_batch(...)`` as on AWS; here each call goes to moto's ``DynamoHandler`` or
``SQSResponse`` method of that name with the same parameters (the shape moto's own parameter parsing
hands it), so moto's condition expressions, transactions, FIFO groups and deduplication run as they do
under ``mock_aws``. A refusal comes back as the ``ClientError`` botocore would raise.

Every call passes through ``hook(service, operation, phase)`` before ("before") and after ("after") it
lands: the fault injector raises a crash there (the unknown outcome of a write is a crash after).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

from botocore.exceptions import ClientError
from moto.core.exceptions import ServiceException, _RESTError

Hook = Callable[[str, str, str], None]
ACCOUNT = "123456789012"
REGION = "us-east-1"


def _no_hook(service: str, operation: str, phase: str) -> None:
    return None


class DirectClient:
    """A boto3-like client of one service answered by moto's response class in-process."""

    def __init__(self, service: str, handler_class: type, hook: Hook = _no_hook):
        self.service, self._handler_class, self.hook = service, handler_class, hook
        self.calls: dict[str, int] = {}

    def _handler(self, params: dict[str, Any]) -> Any:
        handler = self._handler_class()
        handler.current_account, handler.region = ACCOUNT, REGION
        handler.params = params
        handler.body = params
        handler.querystring, handler.headers, handler.uri_match = {}, {}, {}
        handler.path = str(params.get("QueueUrl", ""))  # SQS names the queue by its URL's path
        return handler

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls[operation] = self.calls.get(operation, 0) + 1
        self.hook(self.service, operation, "before")
        try:
            result = getattr(self._handler(params), operation)()
        except (_RESTError, ServiceException) as exc:
            raise _client_error(exc, operation) from None
        self.hook(self.service, operation, "after")
        body = getattr(result, "result", result)
        if isinstance(body, (str, bytes)):
            body = json.loads(body) if body else {}
        return body if body is not None else {}  # moto builds its answers afresh (to_json)

    def __getattr__(self, operation: str) -> Callable[..., dict[str, Any]]:
        if operation.startswith("_"):
            raise AttributeError(operation)
        return lambda **params: self.call(operation, params)

    def get_paginator(self, operation: str) -> Paginator:
        return Paginator(self, operation)


class Paginator:
    """``get_paginator("query"|"scan").paginate(...)``: pages by LastEvaluatedKey."""

    def __init__(self, client: DirectClient, operation: str):
        self.client, self.operation = client, operation

    def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
        config = params.pop("PaginationConfig", None) or {}
        if "PageSize" in config:
            params["Limit"] = config["PageSize"]
        while True:
            page = self.client.call(self.operation, params)
            yield page
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            params = {**params, "ExclusiveStartKey": last}


def _client_error(exc: Exception, operation: str) -> ClientError:
    if isinstance(exc, ServiceException):
        response = {"Error": {"Code": str(exc.code), "Message": str(exc.message)},
                    "ResponseMetadata": {"HTTPStatusCode": 400}}
        return ClientError(response, "".join(p.title() for p in operation.split("_")))
    try:
        body = json.loads(exc.get_body() or "{}")  # type: ignore[attr-defined]
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("__type") or getattr(exc, "error_type", "") or type(exc).__name__).split("#")[-1]
    message = body.get("message") or body.get("Message") or getattr(exc, "message", "") or str(exc)
    response: dict[str, Any] = {k: v for k, v in body.items() if k not in ("__type", "message", "Message")}
    response["Error"] = {"Code": code, "Message": message}
    response["ResponseMetadata"] = {"HTTPStatusCode": getattr(exc, "code", 400)}
    return ClientError(response, "".join(p.title() for p in operation.split("_")))


def dynamodb_client(hook: Hook = _no_hook) -> DirectClient:
    from moto.dynamodb.responses import DynamoHandler

    return DirectClient("dynamodb", DynamoHandler, hook)


def sqs_client(hook: Hook = _no_hook) -> DirectClient:
    from moto.sqs.responses import SQSResponse

    return DirectClient("sqs", SQSResponse, hook)
