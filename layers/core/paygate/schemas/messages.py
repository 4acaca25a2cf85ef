"""Queue message bodies: commands (commands.fifo) and webhook deliveries (the webhooks queue).

Plain dataclasses with a strict JSON mapping rather than pydantic models: the relay, the processor and
the webhooks function read and write these on every invocation, and none of them should pay for
pydantic at cold start (only the API validates merchant input with it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, TypeVar

from paygate.domain.workflow import ORDER_COMMANDS, CommandType

M = TypeVar("M", bound="Message")


class MessageError(ValueError):
    """A message body that is not what the gateway writes: it can never succeed, however often tried."""


class Message:
    """JSON in and out, with the types of the fields checked (only the gateway writes these messages,
    so a wrong shape is a bug or a stale message from an older version, never merchant input)."""

    _types: Mapping[str, tuple[type, ...]] = {}

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))  # type: ignore[call-overload]

    @classmethod
    def from_json(cls: type[M], text: str | bytes) -> M:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise MessageError(f"{cls.__name__}: not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise MessageError(f"{cls.__name__}: not a JSON object")
        values: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name not in data:
                continue  # a default applies, or the constructor reports it missing
            value = data[f.name]
            if not _type_ok(value, cls._types.get(f.name, (object,))):
                raise MessageError(f"{cls.__name__}.{f.name}: unexpected {type(value).__name__}")
            values[f.name] = tuple(value) if isinstance(value, list) else value
        try:
            message = cls(**values)
        except TypeError as exc:
            raise MessageError(f"{cls.__name__}: {exc}") from None
        message.check()  # type: ignore[attr-defined]
        return message

    def check(self) -> None:
        """Rules beyond types; raises MessageError."""

    def attributes(self) -> dict[str, str]:
        """SQS message attributes: what a consumer's log lines carry before the body is parsed."""
        return {}


def _type_ok(value: Any, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # JSON true is not a number here
        return bool in allowed
    return isinstance(value, allowed)


@dataclass(frozen=True)
class Command(Message):
    """Asks the processor to move one payment on. `expected_version` is the version of the event
    that asked for it: a copy that finds the payment further on is stale and does nothing."""

    type: str
    payment_id: str
    expected_version: int
    event_id: str
    traceparent: str | None = None
    correlation_id: str | None = None
    # A refund's command: the refund it moves on (`expected_version` is then the refund's version);
    # `payment_id` is still its payment's, whose FIFO group it shares.
    refund_id: str | None = None
    # An order's command (order.pay, order.settle): the order, whose FIFO group it runs in;
    # `payment_id` is the order's payment (to be made, for order.pay) and `expected_version` the
    # version of the event that asked for it (the order's, or the payment's outcome).
    order_id: str | None = None

    _types = {"type": (str,), "payment_id": (str,), "expected_version": (int,), "event_id": (str,),
              "traceparent": (str, type(None)), "correlation_id": (str, type(None)),
              "refund_id": (str, type(None)), "order_id": (str, type(None))}

    def check(self) -> None:
        if self.type not in set(CommandType):
            raise MessageError(f"unknown command {self.type!r}")
        if self.type in ORDER_COMMANDS and not self.order_id:
            raise MessageError(f"{self.type} needs an order_id")

    def attributes(self) -> dict[str, str]:
        return _attributes(self.payment_id, self.traceparent)


@dataclass(frozen=True)
class WebhookDelivery(Message):
    """Events of one payment for the merchant's endpoints, as merchants receive them (envelopes).

    The relay sends one per payment per stream batch with `endpoint_id` None: the first attempt goes to
    every endpoint that subscribes. Each (event, endpoint) whose attempt fails becomes a delivery of its
    own, with `endpoint_id` set and the number of the attempt it makes: a delivery's attempts live in
    its body, never in a queue's receive count, so a failing one cannot use up another's."""

    merchant_id: str
    events: tuple[dict[str, Any], ...]
    endpoint_id: str | None = None
    attempt: int = 1
    not_before: int | None = None  # epoch seconds; a retry due later than SQS can delay a message
    traceparent: str | None = None
    correlation_id: str | None = None

    _types = {"merchant_id": (str,), "events": (list, tuple), "endpoint_id": (str, type(None)),
              "attempt": (int,), "not_before": (int, type(None)), "traceparent": (str, type(None)),
              "correlation_id": (str, type(None))}

    def check(self) -> None:
        if not self.events or not all(isinstance(e, dict) and e.get("id") and e.get("type") for e in self.events):
            raise MessageError("a webhook delivery needs events with an id and a type")
        if self.attempt < 1:
            raise MessageError("attempt starts at 1")

    def attributes(self) -> dict[str, str]:
        obj = (self.events[0].get("data") or {}).get("object") or {}
        return _attributes(obj.get("id"), self.traceparent)


def _attributes(payment_id: str | None, traceparent: str | None) -> dict[str, str]:
    found = {"payment_id": payment_id, "traceparent": traceparent}
    return {k: v for k, v in found.items() if v}
