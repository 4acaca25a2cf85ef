"""The outbox side of the aggregates table: its stream records (NEW_AND_OLD_IMAGES) decoded into the
writes of payments, refunds and orders, in stream order."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from paygate.adapters.dynamodb.items import stream_image
from paygate.adapters.dynamodb.orders import is_order_item, order_record_from_item
from paygate.adapters.dynamodb.payments import is_payment_item, payment_record_from_item
from paygate.adapters.dynamodb.refunds import is_refund_item, refund_record_from_item
from paygate.services.ports.records import Change, Record

# Which items are aggregates, and how each is read back.
_AGGREGATES: tuple[tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], Record[Any, Any]]], ...] = (
    (is_payment_item, payment_record_from_item),
    (is_refund_item, refund_record_from_item),
    (is_order_item, order_record_from_item),
)


def changes(records: Sequence[dict[str, Any]]) -> list[Change]:
    """Raw stream records -> the aggregates' writes among them. A write that added no event (a refund's
    reservation on its payment) carries no new events; other items (wallets, keys ...) are left out."""
    found = []
    for record in records:
        images = record.get("dynamodb") or {}
        if record.get("eventName") not in ("INSERT", "MODIFY") or "NewImage" not in images:
            continue
        new = stream_image(images["NewImage"])
        read = next((read for is_kind, read in _AGGREGATES if is_kind(new)), None)
        if read is None:
            continue
        old = stream_image(images["OldImage"]) if images.get("OldImage") else {}
        found.append(Change(position=images["SequenceNumber"], previous_version=int(old.get("version", 0)),
                            record=read(new)))
    return found


class PaymentChanges:
    """The stream decoder the relay is given (services.ports.records.ChangeDecoder)."""

    def changes(self, records: Sequence[dict[str, Any]]) -> list[Change]:
        return changes(records)
