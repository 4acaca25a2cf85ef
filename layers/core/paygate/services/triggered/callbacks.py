"""A provider's callback: verified, then turned into a settle command in the payment's FIFO group.

The callback only signals; the settle command (``processing.settle_payment``) asks the provider what
it holds and records that, so a callback repeated, late or racing the processor's own answer is
harmless. Nothing is written here but one message; FIFO deduplication on the callback's event id
drops a repeat within five minutes, and any later repeat finds the payment settled.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from paygate.domain.callbacks import MalformedSignature, signature_valid
from paygate.domain.providers.attempts import payment_id_of
from paygate.domain.workflow import TRIGGERED
from paygate.observability import logger
from paygate.schemas.messages import Command
from paygate.services.errors import AuthenticationFailed, InvalidRequest, NotFound
from paygate.services.ports.messaging import OutboundMessage, Publisher

PROVIDERS = ("sandbox", "sandbox-b")  # those whose callbacks carry the sandbox's signature
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
STEP = TRIGGERED["provider.callback"]


@dataclass(frozen=True)
class Received:
    event_id: str
    payment_id: str | None  # None: an event type that settles nothing (acknowledged, ignored)


def receive(provider: str, *, body: bytes, signature: str | None, secret: str, now: int, publisher: Publisher,
            commands_queue_url: str, traceparent: str | None, correlation_id: str | None) -> Received:
    if provider not in PROVIDERS:
        raise NotFound(f"unknown provider {provider[:40]!r}; known: {', '.join(PROVIDERS)}", code="provider_unknown")
    try:
        valid = signature_valid(secret, body, signature, now)
    except MalformedSignature as exc:
        raise InvalidRequest(str(exc), param="Sandbox-Signature", code="signature_invalid") from None
    if not valid:
        raise AuthenticationFailed("the callback's signature does not match, or is too old",
                                   code="signature_mismatch")
    event = _event(body)
    charge = event["data"]
    if not event["type"].startswith("charge."):
        logger.info("provider callback ignored", extra={"callback_type": event["type"]})
        return Received(event["id"], None)
    return _settle(payment_id_of(charge["reference"]), event["id"], event["type"], publisher=publisher,
                   commands_queue_url=commands_queue_url, traceparent=traceparent, correlation_id=correlation_id)


def receive_stripe(event: dict[str, Any], *, publisher: Publisher, commands_queue_url: str, traceparent: str | None,
                   correlation_id: str | None) -> Received:
    """A Stripe webhook, its signature verified by Stripe's SDK (paygate.adapters.stripe.verify_webhook):
    a PaymentIntent's event settles its payment (by our reference in its metadata); others, such as
    `charge.refunded` (a refund is settled by its own command), are acknowledged and change nothing."""
    event_id, kind = str(event.get("id") or ""), str(event.get("type") or "")
    if not _ID.match(event_id):
        raise InvalidRequest("the webhook has no valid event id", code="invalid_callback")
    intent = (event.get("data") or {}).get("object") or {}
    reference = (intent.get("metadata") or {}).get("reference") if isinstance(intent, dict) else None
    if not kind.startswith("payment_intent.") or not isinstance(reference, str):
        logger.info("stripe webhook acknowledged", extra={"callback_type": kind})
        return Received(event_id, None)
    if not (reference.startswith("pay_") and _ID.match(reference)):
        raise InvalidRequest("the PaymentIntent names no payment (metadata.reference)", code="invalid_callback")
    return _settle(payment_id_of(reference), event_id, kind, publisher=publisher,
                   commands_queue_url=commands_queue_url, traceparent=traceparent, correlation_id=correlation_id)


def _settle(payment_id: str, event_id: str, kind: str, *, publisher: Publisher, commands_queue_url: str,
            traceparent: str | None, correlation_id: str | None) -> Received:
    """The settle command, in the payment's FIFO group, deduplicated on the provider's event id."""
    event = {"id": event_id, "type": kind}
    command = Command(type=str(STEP.command), payment_id=payment_id, expected_version=1, event_id=event["id"],
                      traceparent=traceparent, correlation_id=correlation_id)
    publisher.publish(commands_queue_url, [OutboundMessage(
        command.to_json(), group_id=payment_id, deduplication_id=f"{event['id']}:{STEP.command}",
        attributes=command.attributes())])
    logger.info("provider callback accepted", extra={"payment_id": payment_id, "callback_type": event["type"],
                                                      "callback_id": event["id"]})
    return Received(event["id"], payment_id)


def _event(body: bytes) -> dict[str, Any]:
    """The callback's shape: {"id", "type", "data": {"reference": <payment id>, ...}} (signed, but
    still checked: a provider's bug must not become a malformed command)."""
    try:
        event = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the callback body is not JSON", code="invalid_json") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str) \
            or not isinstance(event.get("id"), str) or not _ID.match(event["id"]) \
            or not isinstance(event.get("data"), dict):
        raise InvalidRequest("the callback must be {id, type, data}", code="invalid_callback")
    reference = event["data"].get("reference")
    if event["type"].startswith("charge.") and not (isinstance(reference, str) and reference.startswith("pay_")
                                                     and _ID.match(reference)):
        raise InvalidRequest("the callback's charge names no payment (data.reference)", param="data.reference",
                             code="invalid_callback")
    return event
