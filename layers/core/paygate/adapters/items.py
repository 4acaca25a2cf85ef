"""Every DynamoDB item key and item shape, mapped to and from domain objects (plain Python values,
before serialization). Nothing else knows an attribute name.

A payment is ONE item: what never changes (amount, method, the merchant's description and metadata,
stored once), its current state (for queries and for the version condition), and its event log. The
log holds what each event adds; the first event's payload is the item's unchanging fields, so it is
not written twice. The payment itself is the fold of the log.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Sequence

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from paygate.domain import order as orders
from paygate.domain import refund as refunds
from paygate.domain.accounts import Merchant, WebhookEndpoint
from paygate.domain.ledger import Account, AccountKind, EntryType, Movement, Transfer, Wallet, WalletEntry
from paygate.domain.order import Customer, Notification, OrderEvent, OrderEventType
from paygate.domain.payment import EventType, Payment, PaymentEvent, PaymentStatus, fold
from paygate.domain.refund import RefundEvent, RefundEventType
from paygate.domain.webhooks import DeliveryAttempt, FailedDelivery
from paygate.services.ports import (
    IdempotencyRecord,
    OrderRecord,
    PaymentChange,
    PaymentRecord,
    RefundRecord,
    Topup,
)

STATE_SK = "STATE"
PAYMENT_KIND = "payment"
PAYMENTS_INDEX = "gsi1"
IN_PROGRESS_INDEX = "gsi2"
IN_PROGRESS = "PROCESSING"

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


# ------------------------------------------------------------------------------------ payments


def payment_key(payment_id: str) -> dict[str, str]:
    return {"pk": payment_id, "sk": STATE_SK}


def merchant_index_key(payment: Payment) -> dict[str, str]:
    """The listing index (KEYS_ONLY): written with the item, never changed after."""
    return {"gsi1pk": f"{payment.merchant_id}#payments", "gsi1sk": f"{payment.created_at}#{payment.id}"}


def state_attributes(p: Payment) -> dict[str, Any]:
    """What changes as events are added (None: the attribute is absent). Kept on the item for the
    version condition and for queries; the payment itself is the fold of the log."""
    # A wallet payment is never reconciled (no charge to look up: its own command settles it).
    processing = p.status == PaymentStatus.PROCESSING and not p.is_wallet
    return {
        "status": str(p.status), "version": p.version, "updated_at": p.updated_at,
        "failure": {"code": p.failure.code, "message": p.failure.message} if p.failure else None,
        "charge_id": p.provider_charge_id, "amount_refunded": p.amount_refunded or None,
        "cancel_requested": True if p.cancel_requested else None,
        # The in-progress index (sparse, keys only): only while PROCESSING, by when it last moved, so
        # reconciliation finds the payments left there without scanning. A payment that goes from NEW
        # to its outcome in one write (most do) never enters it.
        "gsi2pk": IN_PROGRESS if processing else None,
        "gsi2sk": f"{p.updated_at}#{p.id}" if processing else None,
    }


def _log_entry(event: PaymentEvent | RefundEvent, traceparent: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": event.event_id, "type": str(event.type), "at": event.occurred_at}
    if event.type not in (EventType.CREATED, RefundEventType.CREATED) and event.payload:
        entry["data"] = {k: v for k, v in event.payload.items() if v is not None}
    if traceparent:
        entry["tp"] = traceparent
    return entry


def payment_item(record: PaymentRecord) -> dict[str, Any]:
    p = record.payment
    created = record.events[0].payload
    return {
        **payment_key(p.id), "kind": PAYMENT_KIND, **merchant_index_key(p),
        "merchant_id": created["merchant_id"], "amount": created["amount"], "currency": created["currency"],
        "method": dict(created["payment_method"]), "description": created.get("description"),
        "metadata": dict(created.get("metadata") or {}) or None, "customer_id": created.get("customer_id"),
        "destination": dict(created["destination"]) if created.get("destination") else None,
        "order_id": created.get("order_id"),
        "created_at": p.created_at, "correlation_id": record.correlation_id,
        **state_attributes(p),
        "events": [_log_entry(e, t) for e, t in zip(record.events, record.traces, strict=True)],
    }


def payment_record_from_item(item: dict[str, Any]) -> PaymentRecord:
    """An item as `load` gives it -> the payment, its events and their traces."""
    created_payload = {
        "merchant_id": item["merchant_id"], "amount": item["amount"], "currency": item["currency"],
        "payment_method": item["method"], "description": item.get("description"),
        "metadata": item.get("metadata") or {}, "customer_id": item.get("customer_id"),
        "destination": item.get("destination"), "order_id": item.get("order_id"),
    }
    events = tuple(
        PaymentEvent(event_id=e["id"], type=EventType(e["type"]), payment_id=item["pk"], sequence=n,
                     occurred_at=e["at"], payload=created_payload if n == 1 else (e.get("data") or {}))
        for n, e in enumerate(item["events"], start=1)
    )
    return PaymentRecord(fold(events), events, tuple(e.get("tp") for e in item["events"]),
                         item.get("correlation_id"))


def is_payment_item(item: dict[str, Any]) -> bool:
    return item.get("kind") == PAYMENT_KIND and "events" in item


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


def payment_changes(records: Sequence[dict[str, Any]]) -> list[PaymentChange]:
    """Raw stream records (NEW_AND_OLD_IMAGES) -> the payment and refund writes among them, in stream
    order. A write that added no event (a refund's reservation on its payment) carries no new events."""
    changes = []
    for record in records:
        images = record.get("dynamodb") or {}
        if record.get("eventName") not in ("INSERT", "MODIFY") or "NewImage" not in images:
            continue
        new = stream_image(images["NewImage"])
        if is_payment_item(new):
            decoded: PaymentRecord | RefundRecord | OrderRecord = payment_record_from_item(new)
        elif is_refund_item(new):
            decoded = refund_record_from_item(new)
        elif is_order_item(new):
            decoded = order_record_from_item(new)
        else:
            continue
        old = stream_image(images["OldImage"]) if images.get("OldImage") else {}
        changes.append(PaymentChange(position=images["SequenceNumber"], previous_version=int(old.get("version", 0)),
                                     record=decoded))
    return changes


# ------------------------------------------------------------------------------------ refunds
# A refund is one item too, beside its payment in the aggregates table; the listing index (gsi1,
# keys only) holds a payment's refunds under "<payment id>#refunds". The payment item carries
# RESERVED: what its accepted refunds (pending or succeeded) hold, the counter the accepting
# transaction conditions on; it is not an event (it is the refunds' events that explain it).

REFUND_KIND = "refund"
RESERVED = "amount_reserved"


def refund_key(refund_id: str) -> dict[str, str]:
    return {"pk": refund_id, "sk": STATE_SK}


def refunds_partition(payment_id: str) -> str:
    return f"{payment_id}#refunds"


def refund_item(record: RefundRecord) -> dict[str, Any]:
    r = record.refund
    return {
        **refund_key(r.id), "kind": REFUND_KIND,
        "gsi1pk": refunds_partition(r.payment_id), "gsi1sk": f"{r.created_at}#{r.id}",
        "payment_id": r.payment_id, "merchant_id": r.merchant_id, "amount": r.amount, "currency": r.currency,
        "created_at": r.created_at, "correlation_id": record.correlation_id,
        "status": str(r.status), "version": r.version, "updated_at": r.updated_at,
        "failure": {"code": r.failure.code, "message": r.failure.message} if r.failure else None,
        "provider_refund_id": r.provider_refund_id,
        "events": [_log_entry(e, t) for e, t in zip(record.events, record.traces, strict=True)],
    }


def refund_record_from_item(item: dict[str, Any]) -> RefundRecord:
    created_payload = {"payment_id": item["payment_id"], "merchant_id": item["merchant_id"],
                       "amount": item["amount"], "currency": item["currency"]}
    events = tuple(
        RefundEvent(event_id=e["id"], type=RefundEventType(e["type"]), refund_id=item["pk"],
                    payment_id=item["payment_id"], sequence=n, occurred_at=e["at"],
                    payload=created_payload if n == 1 else (e.get("data") or {}))
        for n, e in enumerate(item["events"], start=1)
    )
    return RefundRecord(refunds.fold(events), events, tuple(e.get("tp") for e in item["events"]),
                        item.get("correlation_id"))


def is_refund_item(item: dict[str, Any]) -> bool:
    return item.get("kind") == REFUND_KIND and "events" in item


def reserve_update(payment_id: str, merchant_id: str, amount: int, ceiling: int) -> dict[str, Any]:
    """The payment's half of accepting a refund: add `amount` to what is reserved, only while the
    payment is COMPLETED, the merchant's, and holds at most `ceiling` already."""
    return {
        "Key": dump(payment_key(payment_id)),
        "UpdateExpression": "SET #reserved = if_not_exists(#reserved, :zero) + :amount",
        "ConditionExpression": "#kind = :payment AND #status = :completed AND merchant_id = :merchant "
                               "AND (attribute_not_exists(#reserved) OR #reserved <= :ceiling)",
        "ExpressionAttributeNames": {"#reserved": RESERVED, "#status": "status", "#kind": "kind"},
        "ExpressionAttributeValues": dump({":zero": 0, ":amount": amount, ":payment": PAYMENT_KIND,
                                           ":completed": str(PaymentStatus.COMPLETED), ":merchant": merchant_id,
                                           ":ceiling": ceiling}),
    }


def payment_settle_update(before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
                          traceparent: str | None, release: int) -> dict[str, Any]:
    """The payment's half of a refund's outcome, as an update rather than a put, so that it never
    overwrites the reservations other refunds make meanwhile: its new events appended (conditioned
    on the version they were decided on), and `release` given back to what can be refunded."""
    sets: list[str] = []
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    condition = "attribute_exists(pk)"
    if events:
        state = state_attributes(after)
        sets += ["#events = list_append(#events, :new)", "#version = :version", "updated_at = :updated",
                 "amount_refunded = :refunded"]
        names.update({"#events": "events", "#version": "version"})
        values.update({":new": [_log_entry(e, traceparent) for e in events], ":version": state["version"],
                       ":updated": state["updated_at"], ":refunded": after.amount_refunded,
                       ":previous": before.payment.version})
        condition = "#version = :previous"
    if release:
        sets.append("#reserved = #reserved - :release")
        names["#reserved"] = RESERVED
        values[":release"] = release
    return {"Key": dump(payment_key(before.payment.id)), "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": condition, "ExpressionAttributeNames": names or None,
            "ExpressionAttributeValues": dump(values)}


# ------------------------------------------------------------------------------------ idempotency


def idempotency_item(key: IdempotencyRecord) -> dict[str, Any]:
    return {"pk": key.scope_key, "fingerprint": key.fingerprint, "ref": key.ref, "expires_at": key.expires_at}


def idempotency_from_item(item: dict[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(item["pk"], item["fingerprint"], item["ref"], item["expires_at"])


# ------------------------------------------------------------------------------------ merchants


def merchant_item(m: Merchant) -> dict[str, Any]:
    return {"pk": f"MERCHANT#{m.id}", "sk": "PROFILE", "kind": "merchant", "merchant_id": m.id,
            "name": m.name, "created_at": m.created_at}


def api_key_key(key_hash: str) -> dict[str, str]:
    return {"pk": f"APIKEY#{key_hash}", "sk": "APIKEY"}


def api_key_item(key_hash: str, m: Merchant) -> dict[str, Any]:
    return {**api_key_key(key_hash), "kind": "api_key", "merchant_id": m.id, "name": m.name,
            "created_at": m.created_at}


def merchant_from_key_item(item: dict[str, Any]) -> Merchant:
    return Merchant(id=item["merchant_id"], name=item["name"], created_at=item["created_at"])


def merchant_partition(merchant_id: str) -> str:
    return f"MERCHANT#{merchant_id}"


ENDPOINT_PREFIX = "ENDPOINT#"


def endpoint_key(merchant_id: str, endpoint_id: str) -> dict[str, str]:
    return {"pk": merchant_partition(merchant_id), "sk": f"{ENDPOINT_PREFIX}{endpoint_id}"}


def endpoint_item(e: WebhookEndpoint) -> dict[str, Any]:
    return {**endpoint_key(e.merchant_id, e.id), "kind": "webhook_endpoint", "endpoint_id": e.id,
            "merchant_id": e.merchant_id, "url": e.url, "secret": e.secret,
            "enabled_events": list(e.enabled_events), "created_at": e.created_at,
            "description": e.description, "previous_secret": e.previous_secret,
            "previous_secret_expires": e.previous_secret_expires}


def endpoint_from_item(item: dict[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(id=item["endpoint_id"], merchant_id=item["merchant_id"], url=item["url"],
                           secret=item["secret"], enabled_events=tuple(item["enabled_events"]),
                           created_at=item["created_at"], description=item.get("description"),
                           previous_secret=item.get("previous_secret"),
                           previous_secret_expires=(int(item["previous_secret_expires"])
                                                    if item.get("previous_secret_expires") is not None else None))


def failure_prefix(endpoint_id: str) -> str:
    return f"FAILED#{endpoint_id}#"


def failure_item(merchant_id: str, f: FailedDelivery) -> dict[str, Any]:
    # Sorted by time of failure within the endpoint; the event id keeps keys unique.
    return {"pk": merchant_partition(merchant_id), "sk": f"{failure_prefix(f.endpoint_id)}{f.failed_at}#{f.event_id}",
            "kind": "failed_delivery", "endpoint_id": f.endpoint_id, "event_id": f.event_id,
            "event_type": f.event_type, "created_at": f.created_at, "failed_at": f.failed_at,
            "attempts": f.attempts, "object": f.object}


def failure_from_item(item: dict[str, Any]) -> FailedDelivery:
    return FailedDelivery(endpoint_id=item["endpoint_id"], event_id=item["event_id"], event_type=item["event_type"],
                          created_at=item["created_at"], failed_at=item["failed_at"], attempts=item["attempts"],
                          object=item["object"])


# ------------------------------------------------------------------------ events and deliveries
# The events table: a merchant's events (the webhook bodies) and each endpoint's delivery attempts,
# every item gone after its `expires_at` (the table's TTL). Ids sort by time: a newest-first list is
# one descending Query of a partition.


def events_partition(merchant_id: str) -> str:
    return f"EVENTS#{merchant_id}"


def deliveries_partition(endpoint_id: str) -> str:
    return f"DELIVERIES#{endpoint_id}"


def event_item(merchant_id: str, event: dict[str, Any], expires_at: int) -> dict[str, Any]:
    return {"pk": events_partition(merchant_id), "sk": event["id"], "type": event["type"],
            "body": json.dumps(event, separators=(",", ":")), "expires_at": expires_at}


def event_from_item(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(item["body"])


def attempt_item(a: DeliveryAttempt, expires_at: int) -> dict[str, Any]:
    return {"pk": deliveries_partition(a.endpoint_id), "sk": a.id, "event_id": a.event_id,
            "event_type": a.event_type, "attempt": a.attempt, "at": a.at, "status_code": a.status_code,
            "error": a.error, "next_attempt_at": a.next_attempt_at, "expires_at": expires_at}


def attempt_from_item(endpoint_id: str, item: dict[str, Any]) -> DeliveryAttempt:
    return DeliveryAttempt(endpoint_id=endpoint_id, event_id=item["event_id"], event_type=item["event_type"],
                           attempt=item["attempt"], at=item["at"], status_code=item.get("status_code"),
                           error=item.get("error"), next_attempt_at=item.get("next_attempt_at"), id=item["sk"])


# ------------------------------------------------------------------------ customers, wallets, ledger
# In the aggregates table beside payments: a customer (created with its wallet), a wallet (its two
# accounts, `available` and `held`, its holds by payment id, and `version`: the sequence of its last
# entry), its entries (pk the wallet, sk ENTRY#<sequence>), the merchant's and billers' accounts
# (`balance`, updated with ADD so that captures of many customers never collide) with theirs
# (sk ENTRY#<transfer id>), top-ups, orders (an event log, as payments), a customer's notifications
# (pk the customer, sk NTF#<id>), and the inbox (INBOX#<order id>: the order's payment task, recorded).

CUSTOMER_KIND, WALLET_KIND, ACCOUNT_KIND, ENTRY_KIND = "customer", "wallet", "account", "entry"
TOPUP_KIND, ORDER_KIND, NOTIFICATION_KIND, INBOX_KIND = "topup", "order", "notification", "inbox"
ENTRY_PREFIX, NOTIFICATION_PREFIX = "ENTRY#", "NTF#"


def state_key(object_id: str) -> dict[str, str]:
    return {"pk": object_id, "sk": STATE_SK}


def customer_item(c: Customer) -> dict[str, Any]:
    return {**state_key(c.id), "kind": CUSTOMER_KIND, "merchant_id": c.merchant_id, "name": c.name,
            "email": c.email, "wallet_id": c.wallet_id, "currency": c.currency, "created_at": c.created_at}


def customer_from_item(item: dict[str, Any]) -> Customer | None:
    if item.get("kind") != CUSTOMER_KIND:
        return None
    return Customer(id=item["pk"], merchant_id=item["merchant_id"], name=item["name"], email=item.get("email"),
                    wallet_id=item["wallet_id"], currency=item["currency"], created_at=item["created_at"])


def wallet_item(w: Wallet) -> dict[str, Any]:
    return {**state_key(w.id), "kind": WALLET_KIND, "merchant_id": w.merchant_id, "customer_id": w.customer_id,
            "currency": w.currency, "created_at": w.created_at, "available": w.available, "held": w.held,
            "version": w.version, "holds": dict(w.holds)}


def wallet_from_item(item: dict[str, Any]) -> Wallet | None:
    if item.get("kind") != WALLET_KIND:
        return None
    return Wallet(id=item["pk"], merchant_id=item["merchant_id"], customer_id=item["customer_id"],
                  currency=item["currency"], created_at=item["created_at"], available=int(item["available"]),
                  held=int(item["held"]), version=int(item["version"]),
                  holds={k: int(v) for k, v in (item.get("holds") or {}).items()})


def account_pk(account: Account) -> str:
    return f"ACCT#{account.key}"


def account_from_key(key: str) -> Account:
    kind, _, rest = key.partition(":")
    owner, _, currency = rest.rpartition(":")
    return Account(AccountKind(kind), owner, currency)


def _merchant_of(account: Account) -> str:
    return account.owner.split(":", 1)[0]


def entry_item(e: WalletEntry) -> dict[str, Any]:
    t = e.transfer
    return {"pk": e.wallet_id, "sk": f"{ENTRY_PREFIX}{e.sequence:010d}", "kind": ENTRY_KIND, "id": t.id,
            "type": str(t.type), "amount": e.amount, "currency": t.currency, "sequence": e.sequence,
            "available_after": e.available_after, "held_after": e.held_after, "payment_id": e.payment_id,
            "order_id": e.order_id, "source": t.source.key, "destination": t.destination.key,
            "created_at": e.created_at}


def entry_from_item(item: dict[str, Any]) -> WalletEntry:
    transfer = Transfer(item["id"], EntryType(item["type"]), account_from_key(item["source"]),
                        account_from_key(item["destination"]), abs(int(item["amount"])))
    return WalletEntry(wallet_id=item["pk"], sequence=int(item["sequence"]), transfer=transfer,
                       amount=int(item["amount"]), available_after=int(item["available_after"]),
                       held_after=int(item["held_after"]), created_at=item["created_at"],
                       payment_id=item.get("payment_id"), order_id=item.get("order_id"))


def account_entry_item(account: Account, transfer: Transfer, at: str, payment_id: str | None) -> dict[str, Any]:
    """The other side's entry (the merchant's balance or funding, a biller's account)."""
    signed = transfer.amount if transfer.destination == account else -transfer.amount
    return {"pk": account_pk(account), "sk": f"{ENTRY_PREFIX}{transfer.id}", "kind": ENTRY_KIND, "id": transfer.id,
            "type": str(transfer.type), "amount": signed, "currency": transfer.currency,
            "source": transfer.source.key, "destination": transfer.destination.key, "payment_id": payment_id,
            "created_at": at}


def balances_partition(merchant_id: str) -> str:
    return f"{merchant_id}#balances"


def account_update(account: Account, delta: int) -> dict[str, Any]:
    """ADD `delta` to the account's balance (the item made on first use), never taking an account that
    may not go negative below zero. Listed under the merchant's balances (gsi1) for GET /v1/balance."""
    condition = None
    values: dict[str, Any] = {":delta": delta, ":kind": ACCOUNT_KIND, ":currency": account.currency,
                              ":gpk": balances_partition(_merchant_of(account)), ":gsk": account.key}
    if delta < 0 and not account.may_go_negative:
        condition = "#balance >= :needed"
        values[":needed"] = -delta
    update = {"Key": dump(state_key(account_pk(account))),
              "UpdateExpression": "ADD #balance :delta SET #kind = :kind, currency = :currency, "
                                  "gsi1pk = :gpk, gsi1sk = :gsk",
              "ExpressionAttributeNames": {"#balance": "balance", "#kind": "kind"},
              "ExpressionAttributeValues": dump(values)}
    if condition:
        update["ConditionExpression"] = condition
    return update


def wallet_update(m: Movement) -> dict[str, Any]:
    """The wallet's half of a movement: its new balances and version, conditioned on the version it
    was decided on, on `available` covering a hold, and on the hold being there to resolve (once)."""
    after, before = m.after, m.before
    names = {"#version": "version"}
    values: dict[str, Any] = {":available": after.available, ":held": after.held, ":version": after.version,
                              ":previous": before.version}
    sets = ["available = :available", "held = :held", "#version = :version"]
    removes: list[str] = []
    conditions = ["#version = :previous"]
    payment_id = m.entry.payment_id
    if m.hold == "place":
        names["#p"] = str(payment_id)
        values[":amount"] = m.transfer.amount
        sets.append("holds.#p = :amount")
        conditions += ["available >= :amount", "attribute_not_exists(holds.#p)"]
    elif m.hold == "resolve":
        names["#p"] = str(payment_id)
        removes.append("holds.#p")
        conditions.append("attribute_exists(holds.#p)")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return {"Key": dump(state_key(after.id)), "UpdateExpression": expression,
            "ConditionExpression": " AND ".join(conditions), "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": dump(values)}


def topup_item(t: Topup) -> dict[str, Any]:
    return {**state_key(t.id), "kind": TOPUP_KIND, "wallet_id": t.wallet_id, "merchant_id": t.merchant_id,
            "amount": t.amount, "currency": t.currency, "status": t.status, "created_at": t.created_at}


def topup_from_item(item: dict[str, Any]) -> Topup | None:
    if item.get("kind") != TOPUP_KIND:
        return None
    return Topup(id=item["pk"], wallet_id=item["wallet_id"], merchant_id=item["merchant_id"],
                 amount=int(item["amount"]), currency=item["currency"], status=item["status"],
                 created_at=item["created_at"])


def orders_partition(customer_id: str) -> str:
    return f"{customer_id}#orders"


def _order_log_entry(event: OrderEvent, traceparent: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": event.event_id, "type": str(event.type), "at": event.occurred_at}
    if event.type != OrderEventType.CREATED and event.payload:
        entry["data"] = dict(event.payload)
    if traceparent:
        entry["tp"] = traceparent
    return entry


def order_item(record: OrderRecord) -> dict[str, Any]:
    o = record.order
    return {
        **state_key(o.id), "kind": ORDER_KIND, "gsi1pk": orders_partition(o.customer_id),
        "gsi1sk": f"{o.created_at}#{o.id}", **dict(record.events[0].payload),
        "created_at": o.created_at, "correlation_id": record.correlation_id,
        "status": str(o.status), "version": o.version, "updated_at": o.updated_at,
        "events": [_order_log_entry(e, t) for e, t in zip(record.events, record.traces, strict=True)],
    }


def order_record_from_item(item: dict[str, Any]) -> OrderRecord:
    created = {k: item.get(k) for k in ("merchant_id", "customer_id", "wallet_id", "amount", "currency",
                                        "description", "payment_id")}
    events = tuple(
        OrderEvent(event_id=e["id"], type=OrderEventType(e["type"]), order_id=item["pk"], sequence=n,
                   occurred_at=e["at"], payload=created if n == 1 else (e.get("data") or {}))
        for n, e in enumerate(item["events"], start=1)
    )
    return OrderRecord(orders.fold(events), events, tuple(e.get("tp") for e in item["events"]),
                       item.get("correlation_id"))


def is_order_item(item: dict[str, Any]) -> bool:
    return item.get("kind") == ORDER_KIND and "events" in item


def notification_item(n: Notification) -> dict[str, Any]:
    return {"pk": n.customer_id, "sk": f"{NOTIFICATION_PREFIX}{n.id}", "kind": NOTIFICATION_KIND, "id": n.id,
            "type": n.type, "order_id": n.order_id, "message": n.message, "created_at": n.created_at}


def notification_from_item(item: dict[str, Any]) -> Notification:
    return Notification(id=item["id"], customer_id=item["pk"], type=item["type"], order_id=item["order_id"],
                        message=item["message"], created_at=item["created_at"])


def inbox_item(order_id: str, payment_id: str, at: str) -> dict[str, Any]:
    return {**state_key(f"INBOX#{order_id}"), "kind": INBOX_KIND, "order_id": order_id, "payment_id": payment_id,
            "recorded_at": at}
