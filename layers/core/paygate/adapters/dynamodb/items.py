"""What every item mapping shares: DynamoDB JSON in and out, the key of a state item, the indexes,
and an aggregate's event log as its item stores it. Each aggregate's own keys and attributes are in
its module (payments.py, refunds.py ...): nothing else knows an attribute name.

An aggregate (a payment, a refund, an order) is ONE item: what never changes, its current state (for
queries and for the version condition) and its event log. The log holds what each event adds (its
payload, None values left out); the first event's payload is the item's unchanging fields, so it is
not written twice.
"""

from __future__ import annotations

import time
from dataclasses import asdict, fields, is_dataclass
from decimal import Decimal
from typing import Any, Callable, Sequence

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from paygate.domain.payment import Failure

STATE_SK = "STATE"
LISTING_INDEX = "gsi1"  # keys only: a merchant's payments, a payment's refunds, a customer's orders, balances
IN_PROGRESS_INDEX = "gsi2"  # sparse, keys only: payments left PROCESSING, for reconciliation

_ser = TypeSerializer()
_de = TypeDeserializer()


def dump(item: dict[str, Any]) -> dict[str, Any]:
    """Plain values -> DynamoDB JSON; None means "not stored"."""
    return {k: _ser.serialize(v) for k, v in item.items() if v is not None}


def load(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB JSON -> plain values (numbers as int: every number stored here is one)."""
    return plain({k: _de.deserialize(v) for k, v in item.items()})


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _typed(value: Any) -> Any:
    """A stream image's attribute value with every bare ``{}`` read as the empty map it was: LocalStack's
    DynamoDB-Local-backed streams write ``{"M": {}}`` as ``{}`` (no valid attribute value is ``{}``)."""
    if not value:
        return {"M": {}}
    (kind, inner), = value.items()
    if kind == "M":
        return {"M": {k: _typed(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_typed(v) for v in inner]}
    return value


def stream_image(image: dict[str, Any]) -> dict[str, Any]:
    return load({name: _typed(value) for name, value in image.items()})


def state_key(object_id: str) -> dict[str, str]:
    return {"pk": object_id, "sk": STATE_SK}


# ------------------------------------------------------------------------------ the event log


def payload_data(payload: Any) -> dict[str, Any]:
    """An event's payload as stored: its fields but those that are None (a failure as {code, message})."""
    return {f.name: asdict(v) if is_dataclass(v) else v for f in fields(payload)
            if (v := getattr(payload, f.name)) is not None}


def payload_of(kind: type[Any], data: dict[str, Any]) -> Any:
    """The payload of type `kind` an event's stored data gives back."""
    return kind(**{k: Failure(**v) if k == "failure" else v for k, v in data.items()})


def log_entries(events: Sequence[Any], traces: Sequence[str | None]) -> list[dict[str, Any]]:
    """Each event as the log stores it: id, type, time, what it adds (`data`; the first event's is the
    item's own fields), the trace context of the span that wrote it (`tp`)."""
    entries = []
    for event, traceparent in zip(events, traces, strict=True):
        entry: dict[str, Any] = {"id": event.event_id, "type": str(event.type), "at": event.occurred_at}
        data = payload_data(event.payload) if event.sequence > 1 else None
        if data:
            entry["data"] = data
        if traceparent:
            entry["tp"] = traceparent
        entries.append(entry)
    return entries


def versioned_put(table: str, item: dict[str, Any], previous: int) -> dict[str, Any]:
    """A transaction's Put of a whole aggregate item, conditioned on the version it was read at."""
    return {"Put": {"TableName": table, "Item": dump(item), "ConditionExpression": "#version = :previous",
                    "ExpressionAttributeNames": {"#version": "version"},
                    "ExpressionAttributeValues": dump({":previous": previous})}}


def new_put(table: str, item: dict[str, Any]) -> dict[str, Any]:
    """A transaction's Put of an item that must not exist yet."""
    return {"Put": {"TableName": table, "Item": dump(item), "ConditionExpression": "attribute_not_exists(pk)"}}


def batch_get(client: Any, table: str, keys: list[dict[str, str]], read: Callable[[dict[str, Any]], Any]) -> list[Any]:
    """BatchGetItem of `keys`, each item read by `read`, in the order of `keys`; the unprocessed keys
    asked for again."""
    by_pk: dict[str, Any] = {}
    for start in range(0, len(keys), 100):
        pending: dict[str, Any] = {table: {"Keys": [dump(k) for k in keys[start:start + 100]]}}
        for attempt in range(8):
            response = client.batch_get_item(RequestItems=pending)
            for item in response.get("Responses", {}).get(table, []):
                plain_item = load(item)
                by_pk[plain_item["pk"]] = read(plain_item)
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            time.sleep(min(0.05 * 2 ** attempt, 1.0))
    return [by_pk[k["pk"]] for k in keys if k["pk"] in by_pk]
