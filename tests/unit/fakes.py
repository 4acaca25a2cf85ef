"""In-memory fakes of the ports: the same contracts as the DynamoDB/SQS/HTTP adapters, no sockets."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from paygate.domain.accounts import ApiKey, Merchant, WebhookEndpoint
from paygate.domain.ledger import Account, Book, Movement, Wallet, WalletEntry
from paygate.domain.order import Customer, Notification, Order, OrderEvent
from paygate.domain.payment import Payment, PaymentEvent, PaymentStatus
from paygate.domain.refund import Refund, RefundEvent
from paygate.schemas.messages import WebhookDelivery
from paygate.services.commands.context import CommandContext
from paygate.services.ports.idempotency import IdempotencyRecord, KeyAlreadyUsed
from paygate.services.ports.merchants import KeyOwner, LastKey
from paygate.services.ports.messaging import OutboundMessage
from paygate.services.ports.orders import OrderRecord
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.provider import ChargeResult, ProviderRejected, ProviderUnavailable, RefundResult
from paygate.services.ports.records import Change, ConcurrencyConflict, EventMeta
from paygate.services.ports.refunds import RefundRecord, ReservationRefused
from paygate.services.ports.wallets import InsufficientBalance, PaymentWrite, RefundWrite, Topup
from paygate.services.ports.webhooks import DeliveryError


class FakeKeys:
    """The idempotency table: a key is taken unless it was never used or has expired."""

    def __init__(self) -> None:
        self.items: dict[str, IdempotencyRecord] = {}

    def check(self, key: IdempotencyRecord, now: int) -> None:
        """The key's condition in a transaction: KeyAlreadyUsed (nothing written) when it is taken."""
        existing = self.items.get(key.scope_key)
        if existing is not None and existing.expires_at >= now:
            raise KeyAlreadyUsed(existing)

    def take(self, key: IdempotencyRecord, now: int) -> None:
        self.check(key, now)
        self.items[key.scope_key] = key


class FakeMerchants:
    """Merchants and their keys, as the merchants table keeps them: a key by its hash, listed under its
    merchant, the last one never revoked; `touches` counts the writes of `last_used_at`."""

    def __init__(self) -> None:
        self.by_hash: dict[str, KeyOwner] = {}
        self.listed: dict[tuple[str, str], tuple[str, ApiKey]] = {}
        self.touches: list[tuple[str, str]] = []

    def create(self, merchant: Merchant, key: ApiKey, key_hash: str) -> None:
        self.add_key(merchant, key, key_hash)

    def add_key(self, merchant: Merchant, key: ApiKey, key_hash: str) -> None:
        self.by_hash[key_hash] = KeyOwner(merchant, key_hash, key.id, None)
        self.listed[(merchant.id, key.id)] = (key_hash, key)

    def merchant(self, merchant_id: str) -> Merchant | None:
        return next((o.merchant for o in self.by_hash.values() if o.merchant.id == merchant_id), None)

    def by_key_hash(self, key_hash: str) -> Merchant | None:
        found = self.by_hash.get(key_hash)
        return found.merchant if found else None

    def owner(self, key_hash: str) -> KeyOwner | None:
        return self.by_hash.get(key_hash)

    def keys(self, merchant_id: str) -> list[ApiKey]:
        return [replace(key, last_used_at=self.by_hash[h].last_used_at)
                for (m, _), (h, key) in sorted(self.listed.items()) if m == merchant_id]

    def revoke_key(self, merchant_id: str, key_id: str) -> bool:
        if (merchant_id, key_id) not in self.listed:
            return False
        if sum(1 for m, _ in self.listed if m == merchant_id) == 1:
            raise LastKey(key_id)
        key_hash, _ = self.listed.pop((merchant_id, key_id))
        del self.by_hash[key_hash]
        return True

    def touch_key(self, key_hash: str, at: str, unless_since: str) -> None:
        found = self.by_hash.get(key_hash)
        if found is None or (found.last_used_at is not None and found.last_used_at > unless_since):
            return
        self.touches.append((key_hash, at))
        self.by_hash[key_hash] = replace(found, last_used_at=at)


class FakeEndpoints:
    def __init__(self, keys: FakeKeys | None = None) -> None:
        self.items: dict[tuple[str, str], WebhookEndpoint] = {}
        self.failed: dict[tuple[str, str], list[Any]] = {}
        self.keys = keys or FakeKeys()
        self.reads = 0

    def create(self, endpoint: WebhookEndpoint, key: IdempotencyRecord, now: int) -> None:
        self.keys.take(key, now)
        self.items[(endpoint.merchant_id, endpoint.id)] = endpoint

    def add(self, endpoint: WebhookEndpoint) -> None:
        self.items[(endpoint.merchant_id, endpoint.id)] = endpoint

    def list(self, merchant_id: str) -> list[WebhookEndpoint]:
        self.reads += 1
        return [e for (m, _), e in sorted(self.items.items()) if m == merchant_id]

    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        self.reads += 1
        return self.items.get((merchant_id, endpoint_id))

    def delete(self, merchant_id: str, endpoint_id: str) -> bool:
        return self.items.pop((merchant_id, endpoint_id), None) is not None

    def record_failure(self, merchant_id: str, failure: Any) -> None:
        self.failed.setdefault((merchant_id, failure.endpoint_id), []).append(failure)

    def failures(self, merchant_id: str, endpoint_id: str, limit: int) -> list[Any]:
        return sorted(self.failed.get((merchant_id, endpoint_id), []), key=lambda f: f.failed_at,
                      reverse=True)[:limit]


class FakeEventLog:
    """Events by merchant and attempts by endpoint, newest (highest id) first, as the events table."""

    def __init__(self, fail_events: bool = False, fail_attempts: bool = False) -> None:
        self.events_by: dict[str, dict[str, dict[str, Any]]] = {}
        self.attempts_by: dict[str, dict[str, Any]] = {}
        self.fail_events, self.fail_attempts = fail_events, fail_attempts
        self.writes = 0

    def record_events(self, merchant_id: str, events: Any) -> None:
        if self.fail_events:
            raise RuntimeError("events table unavailable")
        self.writes += 1
        for e in events:
            self.events_by.setdefault(merchant_id, {})[e["id"]] = e

    def record_attempts(self, merchant_id: str, attempts: Any) -> None:
        if self.fail_attempts:
            raise RuntimeError("events table unavailable")
        self.writes += 1
        for a in attempts:
            self.attempts_by.setdefault(a.endpoint_id, {})[a.id] = a

    def event(self, merchant_id: str, event_id: str) -> dict[str, Any] | None:
        return self.events_by.get(merchant_id, {}).get(event_id)

    @staticmethod
    def _page(by_id: dict[str, Any], limit: int, starting_after: str | None) -> tuple[list[Any], bool]:
        ids = sorted((i for i in by_id if starting_after is None or i < starting_after), reverse=True)
        return [by_id[i] for i in ids[:limit]], len(ids) > limit

    def events(self, merchant_id: str, *, event_type: str | None, limit: int,
               starting_after: str | None) -> tuple[list[dict[str, Any]], bool]:
        mine = {i: e for i, e in self.events_by.get(merchant_id, {}).items()
                if event_type is None or e["type"] == event_type}
        return self._page(mine, limit, starting_after)

    def attempts(self, endpoint_id: str, *, limit: int, starting_after: str | None) -> tuple[list[Any], bool]:
        return self._page(self.attempts_by.get(endpoint_id, {}), limit, starting_after)


class FakePayments:
    """Payments by id, each a record of its events; `changes` is what the table's stream would carry."""

    def __init__(self, keys: FakeKeys | None = None) -> None:
        self.records: dict[str, PaymentRecord] = {}
        self.keys = keys or FakeKeys()
        self.changes: list[Change] = []
        self.writes = 0
        self.lock = threading.Lock()

    def _changed(self, previous_version: int, record: PaymentRecord) -> None:
        self.records[record.state.id] = record
        self.changes.append(Change(str(len(self.changes) + 1), previous_version, record))
        self.writes += 1

    def create(self, record: PaymentRecord, key: IdempotencyRecord, now: int) -> None:
        with self.lock:
            assert record.state.id not in self.records
            self.keys.take(key, now)
            self._changed(0, record)

    def check(self, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment) -> None:
        """The write's condition: the payment is still at the version it was read at."""
        version = before.state.version
        current = self.records.get(after.id)
        if current is None or current.state.version != version:
            raise ConcurrencyConflict(after.id)
        assert [e.sequence for e in events] == list(range(version + 1, after.version + 1))

    def append(self, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
               meta: EventMeta) -> PaymentRecord:
        with self.lock:
            self.check(before, events, after)
            written = before.then(events, after, meta.traceparent)
            self._changed(before.state.version, written)
            return written

    def append_with_key(self, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
                        meta: EventMeta, key: IdempotencyRecord, now: int) -> PaymentRecord:
        with self.lock:
            self.check(before, events, after)
            self.keys.take(key, now)
            written = before.then(events, after, meta.traceparent)
            self._changed(before.state.version, written)
            return written

    def find_key(self, scope_key: str) -> IdempotencyRecord | None:
        return self.keys.items.get(scope_key)

    def record_key(self, key: IdempotencyRecord, now: int) -> None:
        with self.lock:
            self.keys.take(key, now)

    def get(self, payment_id: str, *, consistent: bool = True) -> PaymentRecord | None:
        return self.records.get(payment_id)

    def payment(self, payment_id: str) -> Payment:
        return self.records[payment_id].state

    def list(self, merchant_id: str, *, limit: int, starting_after: Payment | None,
             status: str | None) -> tuple[list[Payment], bool]:
        mine = sorted((r.state for r in self.records.values() if r.state.merchant_id == merchant_id),
                      key=lambda p: (p.created_at, p.id), reverse=True)
        if starting_after is not None:
            mine = [p for p in mine if (p.created_at, p.id) < (starting_after.created_at, starting_after.id)]
        if status:
            mine = [p for p in mine if p.status == status]
        return mine[:limit], len(mine) > limit


class FakeDecoder:
    """Stands for the stream decoder: the 'records' handed to the relay are PaymentChanges already."""

    def changes(self, records: Sequence[Any]) -> list[Change]:
        return list(records)


@dataclass
class FakePublisher:
    sent: dict[str, list[OutboundMessage]] = field(default_factory=dict)
    requests: int = 0
    fail_on: set[str] = field(default_factory=set)  # queue urls that refuse

    def publish(self, queue_url: str, messages: Sequence[OutboundMessage]) -> None:
        if queue_url in self.fail_on:
            raise RuntimeError(f"{queue_url} refused")
        assert len(messages) <= 10
        self.requests += 1
        self.sent.setdefault(queue_url, []).extend(messages)


@dataclass
class FakeDeliveryQueue:
    scheduled: list[tuple[WebhookDelivery, int]] = field(default_factory=list)
    dead: list[WebhookDelivery] = field(default_factory=list)
    held: list[tuple[str, int]] = field(default_factory=list)
    refuse: bool = False

    def schedule(self, deliveries: Sequence[tuple[WebhookDelivery, int]]) -> None:
        if self.refuse:
            raise RuntimeError("SQS unavailable")
        self.scheduled += deliveries

    def dead_letter(self, deliveries: Sequence[WebhookDelivery]) -> None:
        if self.refuse:
            raise RuntimeError("SQS unavailable")
        self.dead += deliveries

    def hold(self, receipt_handle: str, seconds: int) -> None:
        self.held.append((receipt_handle, seconds))


class ScriptedProvider:
    """Answers each charge from a script (a ChargeResult, or an exception to raise; the last answer
    repeats), and keeps what it was asked and what it did: its charges, voids, refunds and bills."""

    found: ChargeResult | None = None

    def __init__(self, *answers: Any, refunds: Any = None, bills: Any = None) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []
        self.refund_answers = list(refunds or [])  # RefundResult or an exception, per refund call
        self.bill_answers = list(bills or [])  # ChargeResult or an exception, per bill payment
        self.refund_calls: list[dict[str, Any]] = []
        self.bill_calls: list[dict[str, Any]] = []
        self.voided: list[str] = []
        self.refunded: dict[str, RefundResult] = {}  # idempotency key -> the refund made
        self.void_refused = False
        self.bill_found: ChargeResult | None = None

    @staticmethod
    def _next(script: list[Any], default: Any) -> Any:
        answer = (script.pop(0) if len(script) > 1 else script[0]) if script else default
        if isinstance(answer, Exception):
            raise answer
        return answer

    def charge(self, **kwargs: Any) -> ChargeResult:
        self.calls.append(kwargs)
        return self._next(self.answers, None)

    def find_charge(self, reference: str, request: object = None) -> ChargeResult | None:
        return self.found

    def void(self, charge_id: str) -> ChargeResult:
        if self.void_refused:
            raise ProviderRejected("not pending any more")
        self.voided.append(charge_id)
        return ChargeResult("voided", charge_id)

    def refund(self, *, charge_id: str, amount: int, idempotency_key: str) -> RefundResult:
        self.refund_calls.append({"charge_id": charge_id, "amount": amount, "idempotency_key": idempotency_key})
        if idempotency_key in self.refunded:  # the same key answers the same refund, never a second one
            return self.refunded[idempotency_key]
        result = self._next(self.refund_answers, RefundResult("succeeded", f"pre_{len(self.refunded) + 1}"))
        self.refunded[idempotency_key] = result
        return result

    def find_refund(self, reference: str, idempotency_key: str) -> RefundResult | None:
        return self.refunded.get(idempotency_key)

    def pay_bill(self, **kwargs: Any) -> ChargeResult:
        self.bill_calls.append(kwargs)
        return self._next(self.bill_answers, ChargeResult("succeeded", "bill_1"))

    def find_bill_payment(self, reference: str) -> ChargeResult | None:
        return self.bill_found


def unavailable() -> ProviderUnavailable:
    return ProviderUnavailable("HTTP 503")


class RecordingTransport:
    """Answers each POST by URL from a script of statuses (None: no answer); records every POST."""

    def __init__(self, *statuses: int | None, by_url: dict[str, Any] | None = None) -> None:
        self.statuses = list(statuses)
        self.by_url = by_url or {}
        self.posts: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> int:
        with self.lock:
            self.posts.append((url, body, headers))
            answer = self.by_url.get(url)
            if answer is None:
                answer = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        status = answer(body) if callable(answer) else answer  # outside the lock: it may block
        if status is None:
            raise DeliveryError("timed out")
        return status


class AllowAll:
    def check(self, url: str) -> str | None:
        return None


class FakeRefunds:
    """Refunds beside their payments (`payments`), and what accepted refunds reserve of each payment.
    The accepting write is conditioned as DynamoDB's is: the payment COMPLETED and the merchant's, and
    room left for the amount; an outcome's write on the versions it was decided on. All or nothing."""

    def __init__(self, payments: FakePayments) -> None:
        self.payments = payments
        self.records: dict[str, RefundRecord] = {}
        self.reservations: dict[str, int] = {}

    def create(self, record: RefundRecord, key: IdempotencyRecord, now: int, *, payment_amount: int) -> None:
        r = record.state
        with self.payments.lock:
            assert r.id not in self.records
            self.payments.keys.check(key, now)
            payment = self.payments.records.get(r.payment_id)
            reserved = self.reservations.get(r.payment_id, 0)
            if (payment is None or payment.state.status != PaymentStatus.COMPLETED
                    or payment.state.merchant_id != r.merchant_id or reserved > payment_amount - r.amount):
                raise ReservationRefused(r.payment_id)
            self.payments.keys.take(key, now)
            self.records[r.id] = record
            self.reservations[r.payment_id] = reserved + r.amount

    def check(self, before: RefundRecord, events: Sequence[RefundEvent], after: Refund) -> None:
        current = self.records.get(after.id)
        if current is None or current.state.version != before.state.version:
            raise ConcurrencyConflict(after.id)
        assert [e.sequence for e in events] == list(range(before.state.version + 1, after.version + 1))

    def commit(self, before: RefundRecord, events: Sequence[RefundEvent], after: Refund, meta: EventMeta,
               payment: PaymentRecord | None, payment_events: Sequence[PaymentEvent], payment_after: Payment | None,
               release: int) -> RefundRecord:
        """Apply a settle whose conditions were checked."""
        written = before.then(events, after, meta.traceparent)
        self.records[after.id] = written
        if payment is not None and payment_events:
            assert payment_after is not None
            self.payments._changed(payment.state.version, payment.then(payment_events, payment_after, meta.traceparent))
        if release:
            self.reservations[after.payment_id] -= release
            assert self.reservations[after.payment_id] >= 0, "a reservation released twice"
        return written

    def settle(self, before: RefundRecord, events: Sequence[RefundEvent], after: Refund, meta: EventMeta, *,
               payment: PaymentRecord | None = None, payment_events: Sequence[PaymentEvent] = (),
               payment_after: Payment | None = None, release: int = 0) -> RefundRecord:
        with self.payments.lock:
            self.check(before, events, after)
            if payment is not None and payment_events:
                assert payment_after is not None
                self.payments.check(payment, payment_events, payment_after)
            return self.commit(before, events, after, meta, payment, payment_events, payment_after, release)

    def get(self, refund_id: str, *, consistent: bool = True) -> RefundRecord | None:
        return self.records.get(refund_id)

    def refund(self, refund_id: str) -> Refund:
        return self.records[refund_id].state

    def for_payment(self, payment_id: str) -> list[Refund]:
        return sorted((r.state for r in self.records.values() if r.state.payment_id == payment_id),
                      key=lambda r: (r.created_at, r.id), reverse=True)

    def reserved(self, payment_id: str) -> int:
        return self.reservations.get(payment_id, 0)


class FakeWallets:
    """Customers, wallets and the ledger in memory, each movement all or nothing under the conditions
    the DynamoDB transaction puts: the wallet at the version it was read at, available money for a
    hold, the hold there (once) to resolve it, an account that may not go negative covering what it
    gives, and whatever is written with it (the payment's or the refund's version). Every transfer is
    also posted to a Book, so the balances it keeps are the ledger's own rules."""

    def __init__(self, payments: FakePayments, refunds: FakeRefunds | None = None) -> None:
        self.payments = payments
        self.refunds = refunds
        self.customers: dict[str, Customer] = {}
        self.wallets: dict[str, Wallet] = {}
        self.entries_by: dict[str, list[WalletEntry]] = {}
        self.topups: dict[str, Topup] = {}
        self.book = Book()
        self.moves: list[Movement] = []
        self.before_move: Any = None  # a hook run before a movement's conditions are checked (a racing writer)

    def create_customer(self, customer: Customer, wallet: Wallet, key: IdempotencyRecord, now: int) -> None:
        with self.payments.lock:
            self.payments.keys.take(key, now)
            self.customers[customer.id] = customer
            self.wallets[wallet.id] = wallet

    def customer(self, customer_id: str) -> Customer | None:
        return self.customers.get(customer_id)

    def wallet(self, wallet_id: str, *, consistent: bool = True) -> Wallet | None:
        return self.wallets.get(wallet_id)

    def entries(self, wallet_id: str, *, limit: int, starting_after: int | None) -> tuple[list[WalletEntry], bool]:
        found = [e for e in reversed(self.entries_by.get(wallet_id, []))
                 if starting_after is None or e.sequence < starting_after]
        return found[:limit], len(found) > limit

    def types(self, wallet_id: str) -> list[str]:
        return [str(e.type) for e in self.entries_by.get(wallet_id, [])]

    def balance(self, account: Account) -> int:
        return self.book.balance(account)

    def balances(self, merchant_id: str) -> list[tuple[Account, int]]:
        return [(a, b) for a, b in self.book.balances.items()
                if a.owner.split(":", 1)[0] == merchant_id and a.kind not in ("available", "held")]

    def topup(self, move: Movement, topup: Topup, key: IdempotencyRecord, now: int) -> None:
        with self.payments.lock:
            self._check(move)
            self.payments.keys.take(key, now)
            self.topups[topup.id] = topup
            self._apply(move)

    def find_topup(self, topup_id: str) -> Topup | None:
        return self.topups.get(topup_id)

    def move(self, move: Movement, *, payment: PaymentWrite | None = None, refund: RefundWrite | None = None) -> None:
        if self.before_move is not None:
            hook, self.before_move = self.before_move, None
            hook()
        with self.payments.lock:
            self._check(move)
            if payment is not None:
                self.payments.check(payment.before, payment.events, payment.after)
            if refund is not None:
                assert self.refunds is not None
                self.refunds.check(refund.before, refund.events, refund.after)
                self.payments.check(refund.payment, refund.payment_events, refund.payment_after)
            self._apply(move)
            if payment is not None:
                self.payments._changed(payment.before.state.version, payment.before.then(
                    payment.events, payment.after, payment.meta.traceparent))
            if refund is not None:
                assert self.refunds is not None
                self.refunds.commit(refund.before, refund.events, refund.after, refund.meta, refund.payment,
                                    refund.payment_events, refund.payment_after, 0)

    def _check(self, move: Movement) -> None:
        stored = self.wallets.get(move.before.id)
        if stored is None or stored.version != move.before.version:
            raise ConcurrencyConflict(move.before.id)
        payment_id = str(move.entry.payment_id)
        if move.hold == "place" and (payment_id in stored.holds or stored.available < move.transfer.amount):
            raise ConcurrencyConflict(move.before.id)
        if move.hold == "resolve" and payment_id not in stored.holds:
            raise ConcurrencyConflict(f"{payment_id} holds nothing in {stored.id} (resolved already)")
        counter = move.counter
        if counter is not None and move.transfer.source == counter and not counter.may_go_negative \
                and self.book.balance(counter) < move.transfer.amount:
            raise InsufficientBalance(counter.key)

    def _apply(self, move: Movement) -> None:
        self.book.post(move.transfer)
        after = move.after
        assert (after.available, after.held) == (self.book.balance(after.available_account),
                                                 self.book.balance(after.held_account)), "the wallet and its ledger disagree"
        assert after.held == sum(after.holds.values()), "held is not the sum of the open holds"
        self.wallets[after.id] = after
        self.entries_by.setdefault(after.id, []).append(move.entry)
        self.moves.append(move)


class FakeOrders:
    """Orders (an event log each), the inbox of their payment tasks, and customers' notifications."""

    def __init__(self, payments: FakePayments) -> None:
        self.payments = payments
        self.records: dict[str, OrderRecord] = {}
        self.inbox: set[str] = set()
        self.notes: list[Notification] = []

    def create(self, record: OrderRecord, key: IdempotencyRecord, now: int) -> None:
        with self.payments.lock:
            assert record.state.id not in self.records
            self.payments.keys.take(key, now)
            self.records[record.state.id] = record

    def get(self, order_id: str, *, consistent: bool = True) -> OrderRecord | None:
        return self.records.get(order_id)

    def order(self, order_id: str) -> Order:
        return self.records[order_id].state

    def for_customer(self, customer_id: str, *, limit: int, starting_after: Order | None) -> tuple[list[Order], bool]:
        mine = sorted((r.state for r in self.records.values() if r.state.customer_id == customer_id),
                      key=lambda o: (o.created_at, o.id), reverse=True)
        if starting_after is not None:
            mine = [o for o in mine if (o.created_at, o.id) < (starting_after.created_at, starting_after.id)]
        return mine[:limit], len(mine) > limit

    def settle(self, before: OrderRecord, events: Sequence[OrderEvent], after: Order, meta: EventMeta,
               notification: Notification) -> OrderRecord:
        with self.payments.lock:
            current = self.records.get(after.id)
            if current is None or current.state.version != before.state.version:
                raise ConcurrencyConflict(after.id)
            assert notification.id not in {n.id for n in self.notes}
            written = before.then(events, after, meta.traceparent)
            self.records[after.id] = written
            self.notes.append(notification)
            return written

    def record_task(self, order_id: str, payment: PaymentRecord) -> bool:
        with self.payments.lock:
            if order_id in self.inbox or payment.state.id in self.payments.records:
                return False
            self.inbox.add(order_id)
            self.payments._changed(0, payment)
            return True

    def notifications(self, customer_id: str, *, limit: int) -> list[Notification]:
        return sorted((n for n in self.notes if n.customer_id == customer_id), key=lambda n: n.id, reverse=True)[:limit]


def command_context(payments: FakePayments, provider: Any = None, *, refunds: FakeRefunds | None = None,
                    wallets: FakeWallets | None = None, orders: FakeOrders | None = None,
                    **limits: Any) -> CommandContext:
    """A CommandContext over fakes (those not given made empty around `payments`); the provider is the
    sandbox's connector."""
    refunds = refunds or FakeRefunds(payments)
    return CommandContext(payments=payments, refunds=refunds, wallets=wallets or FakeWallets(payments, refunds),
                          orders=orders or FakeOrders(payments), connectors={"sandbox": provider or ScriptedProvider()},
                          sleep=lambda s: None, **limits)
