"""What every route shares: the JSON answer, the merchant behind the API key, the body, the key."""

from __future__ import annotations

import json
from typing import Any, Mapping

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from paygate import edge
from paygate.container import get_container
from paygate.domain.accounts import Merchant
from paygate.ids import epoch_seconds
from paygate.observability import logger
from paygate.schemas.requests import NoQuery
from paygate.services import merchants
from paygate.services.idempotency import IdempotentRequest, idempotent_request, require_key


def respond(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[dict]:
    return Response(status, "application/json", json.dumps(body, separators=(",", ":")), headers=dict(headers or {}))


def merchant_of(event: APIGatewayProxyEvent, query: type[BaseModel] = NoQuery) -> Merchant:
    """The merchant behind the API key. One rule for query parameters on every route: those the
    route declares (``query``), and nothing else: an unknown one is a 400, never silently ignored."""
    merchant = merchants.authenticate(get_container().merchants, event.headers.get("authorization"))
    logger.append_keys(merchant_id=merchant.id)
    edge.validate(query, event.query_string_parameters or {})
    return merchant


def body_of(event: APIGatewayProxyEvent, model: type[edge.M]) -> tuple[edge.M, dict[str, Any]]:
    """The request body validated into `model`, and as parsed (what the idempotency fingerprint covers)."""
    data = edge.raw_body(event.body, event.is_base64_encoded, get_container().settings.max_body_bytes)
    parsed = edge.parse_json_object(data)
    return edge.validate(model, parsed), parsed


def query_of(event: APIGatewayProxyEvent, model: type[BaseModel]) -> Any:
    return edge.validate(model, event.query_string_parameters or {})


def creating_request(event: APIGatewayProxyEvent, model: type[edge.M],
                     path: str) -> tuple[Merchant, edge.M, IdempotentRequest]:
    """A POST that creates something: its merchant, its validated body, and its Idempotency-Key."""
    merchant = merchant_of(event)
    key = require_key(event.headers.get("idempotency-key"))
    body, _ = body_of(event, model)
    # The fingerprint covers the request as understood ("usd" and "USD" are the same request), not as spelled.
    return merchant, body, idempotent_request(merchant_id=merchant.id, key=key, method="POST", path=path,
                                              body=body.model_dump(mode="json"), now=epoch_seconds())
