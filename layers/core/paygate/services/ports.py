"""The ports the services need. Adapters implement them for AWS; tests hand in in-memory fakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Sequence

from paygate.domain.accounts import Merchant, WebhookEndpoint
from paygate.domain.ledger import Account, Movement, Wallet, WalletEntry
from paygate.domain.order import Customer, Notification, Order, OrderEvent
from paygate.domain.payment import Payment, PaymentEvent
from paygate.domain.refund import Refund, RefundEvent
from paygate.domain.webhooks import DeliveryAttempt, FailedDelivery

if TYPE_CHECKING:
    from paygate.schemas.messages import WebhookDelivery


class ConcurrencyConflict(Exception):
    """Another writer changed the aggregate first (its version moved on)."""


@dataclass(frozen=True)
class EventMeta:
    """Carried with every event and message, so one payment is one trace and one correlation id."""

    traceparent: str | None = None
    correlation_id: str | None = None


# ---------------------------------------------------------------------------------- idempotency


@dataclass(frozen=True)
class IdempotencyRecord:
    """What a used Idempotency-Key remembers: which request it was (the fingerprint) and what that
    request made (`ref`, the id of the object). The answer is rendered again from the object, so the
    merchant's text is stored once, on the object itself."""

    scope_key: str  # "<merchant id>#<key>"
    fingerprint: str
    ref: str
    expires_at: int  # epoch seconds; a key past it is free again (DynamoDB TTL deletes it later)


class KeyAlreadyUsed(Exception):
    """The creating write lost to an earlier request with the same key: nothing was written."""

    def __init__(self, existing: IdempotencyRecord) -> None:
        super().__init__(f"idempotency key {existing.scope_key!r} was used already")
        self.existing = existing


class KeyBusy(Exception):
    """Another request with the same key is being written at this very moment (a transaction
    conflict that outlasted its retries)."""


# ---------------------------------------------------------------------------------- merchants


class MerchantRepository(Protocol):
    def create(self, merchant: Merchant, key_hash: str) -> None: ...
    def by_key_hash(self, key_hash: str) -> Merchant | None: ...


class EndpointRepository(Protocol):
    def create(self, endpoint: WebhookEndpoint, key: IdempotencyRecord, now: int) -> None:
        """The endpoint and its idempotency key in one transaction; KeyAlreadyUsed when the key is taken."""
    def list(self, merchant_id: str) -> list[WebhookEndpoint]: ...
    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...
    def delete(self, merchant_id: str, endpoint_id: str) -> bool: ...
    def replace_secret(self, before: WebhookEndpoint, after: WebhookEndpoint) -> bool: ...
    def record_failure(self, merchant_id: str, failure: FailedDelivery) -> None: ...
    def failures(self, merchant_id: str, endpoint_id: str, limit: int) -> list[FailedDelivery]: ...


# ---------------------------------------------------------------------------------- payments


@dataclass(frozen=True)
class PaymentRecord:
    """Everything stored of one payment: its events in sequence (their fold is `payment`), the trace
    context of the span that wrote each event, and the correlation id of the request that created it."""

    payment: Payment
    events: tuple[PaymentEvent, ...]
    traces: tuple[str | None, ...]
    correlation_id: str | None = None

    def trace_of(self, sequence: int) -> str | None:
        return self.traces[sequence - 1] if 0 < sequence <= len(self.traces) else None

    def then(self, events: Sequence[PaymentEvent], after: Payment, traceparent: str | None) -> PaymentRecord:
        """This record with `events` added (which take the payment to `after`), written by one span."""
        return PaymentRecord(after, self.events + tuple(events), self.traces + (traceparent,) * len(events),
                             self.correlation_id)


@dataclass(frozen=True)
class RefundRecord:
    """Everything stored of one refund: its events (their fold is `refund`) and their trace contexts."""

    refund: Refund
    events: tuple[RefundEvent, ...]
    traces: tuple[str | None, ...]
    correlation_id: str | None = None

    def trace_of(self, sequence: int) -> str | None:
        return self.traces[sequence - 1] if 0 < sequence <= len(self.traces) else None

    def then(self, events: Sequence[RefundEvent], after: Refund, traceparent: str | None) -> RefundRecord:
        return RefundRecord(after, self.events + tuple(events), self.traces + (traceparent,) * len(events),
                            self.correlation_id)


@dataclass(frozen=True)
class OrderRecord:
    """Everything stored of one order: its events (their fold is `order`) and their trace contexts."""

    order: Order
    events: tuple[OrderEvent, ...]
    traces: tuple[str | None, ...]
    correlation_id: str | None = None

    def trace_of(self, sequence: int) -> str | None:
        return self.traces[sequence - 1] if 0 < sequence <= len(self.traces) else None

    def then(self, events: Sequence[OrderEvent], after: Order, traceparent: str | None) -> OrderRecord:
        return OrderRecord(after, self.events + tuple(events), self.traces + (traceparent,) * len(events),
                           self.correlation_id)


@dataclass(frozen=True)
class PaymentChange:
    """One write of a payment (or of a refund, or an order) as the outbox (its table's stream) reports
    it: the events it added (sequence above `previous_version`) and the whole record after it."""

    position: str  # the stream record's sequence number: where a retry resumes
    previous_version: int
    record: PaymentRecord | RefundRecord | OrderRecord

    @property
    def new_events(self) -> tuple[Any, ...]:
        return tuple(e for e in self.record.events if e.sequence > self.previous_version)


class PaymentRepository(Protocol):
    def create(self, record: PaymentRecord, key: IdempotencyRecord, now: int) -> None:
        """The payment and its idempotency key in one transaction; KeyAlreadyUsed when the key is taken."""
    def append(self, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
               meta: EventMeta) -> PaymentRecord:
        """Add `events` (which take `before.payment` to `after`) in one write conditioned on the version
        `before` was read at; answers the record written. ConcurrencyConflict when the payment moved on."""
    def get(self, payment_id: str, *, consistent: bool = True) -> PaymentRecord | None: ...
    def list(self, merchant_id: str, *, limit: int, starting_after: Payment | None,
             status: str | None) -> tuple[list[Payment], bool]: ...
    def append_with_key(self, before: PaymentRecord, events: Sequence[PaymentEvent], after: Payment,
                        meta: EventMeta, key: IdempotencyRecord, now: int) -> PaymentRecord:
        """`append` and an idempotency key in one transaction; KeyAlreadyUsed when the key is taken."""
    def find_key(self, scope_key: str) -> IdempotencyRecord | None:
        """An idempotency key's record, if it was used (strongly consistent)."""
    def record_key(self, key: IdempotencyRecord, now: int) -> None:
        """An idempotency key alone, for a request that wrote nothing else; KeyAlreadyUsed when taken."""


class ReservationRefused(Exception):
    """The accepting write's condition on the payment failed: it is not COMPLETED (any more), or
    what is reserved already leaves too little for this refund. Nothing was written."""


class RefundRepository(Protocol):
    def create(self, record: RefundRecord, key: IdempotencyRecord, now: int, *, payment_amount: int) -> None:
        """The refund, its idempotency key and the reservation of its amount on its payment, in one
        transaction. KeyAlreadyUsed when the key is taken, ReservationRefused when the payment is not
        COMPLETED or cannot hold the amount any more, KeyBusy when it kept colliding."""
    def settle(self, before: RefundRecord, events: Sequence[RefundEvent], after: Refund, meta: EventMeta, *,
               payment: PaymentRecord | None = None, payment_events: Sequence[PaymentEvent] = (),
               payment_after: Payment | None = None, release: int = 0) -> RefundRecord:
        """The refund's outcome in one transaction with its payment's side: the payment's events
        (conditioned on its version) and/or the release of a reservation. ConcurrencyConflict when the
        refund or the payment moved on."""
    def get(self, refund_id: str, *, consistent: bool = True) -> RefundRecord | None: ...
    def for_payment(self, payment_id: str) -> list[Refund]:
        """The payment's refunds, newest first."""
    def reserved(self, payment_id: str) -> int:
        """What accepted refunds (pending or succeeded) hold of the payment (strongly consistent)."""


# ---------------------------------------------------------------------------------- wallets, orders


@dataclass(frozen=True)
class Topup:
    id: str
    wallet_id: str
    merchant_id: str
    amount: int
    currency: str
    status: str
    created_at: str


class InsufficientBalance(Exception):
    """A movement's condition on an account failed for want of money (a hold, a refund from the
    merchant's balance): nothing was written."""


@dataclass(frozen=True)
class PaymentWrite:
    """A payment's events, to be written in the same transaction as a ledger movement."""

    before: PaymentRecord
    events: Sequence[PaymentEvent]
    after: Payment
    meta: EventMeta


@dataclass(frozen=True)
class RefundWrite:
    """A refund's outcome and its payment's side, to be written with a ledger movement."""

    before: RefundRecord
    events: Sequence[RefundEvent]
    after: Refund
    meta: EventMeta
    payment: PaymentRecord
    payment_events: Sequence[PaymentEvent]
    payment_after: Payment


class WalletStore(Protocol):
    """Customers, wallets and the ledger. Every movement is one transaction: the wallet (conditioned
    on its version, on money for a hold, on the hold for its resolution), its entry, the account on
    the other side with its entry, and whatever must change with it (the payment's events, a top-up
    and its key, a refund's outcome)."""

    def create_customer(self, customer: Customer, wallet: Wallet, key: IdempotencyRecord, now: int) -> None: ...
    def customer(self, customer_id: str) -> Customer | None: ...
    def wallet(self, wallet_id: str, *, consistent: bool = True) -> Wallet | None: ...
    def entries(self, wallet_id: str, *, limit: int, starting_after: int | None) -> tuple[list[WalletEntry], bool]: ...
    def balances(self, merchant_id: str) -> list[tuple[Account, int]]: ...
    def topup(self, move: Movement, topup: Topup, key: IdempotencyRecord, now: int) -> None:
        """KeyAlreadyUsed, ConcurrencyConflict (the wallet moved on: decide again)."""
    def find_topup(self, topup_id: str) -> Topup | None: ...
    def move(self, move: Movement, *, payment: PaymentWrite | None = None, refund: RefundWrite | None = None) -> None:
        """ConcurrencyConflict when the wallet or the payment moved on, InsufficientBalance when an
        account the movement takes from is short."""


class OrderRepository(Protocol):
    def create(self, record: OrderRecord, key: IdempotencyRecord, now: int) -> None: ...
    def get(self, order_id: str, *, consistent: bool = True) -> OrderRecord | None: ...
    def for_customer(self, customer_id: str, *, limit: int, starting_after: Order | None) -> tuple[list[Order], bool]: ...
    def settle(self, before: OrderRecord, events: Sequence[OrderEvent], after: Order, meta: EventMeta,
               notification: Notification) -> OrderRecord:
        """The order's outcome and the customer's notification in one write; ConcurrencyConflict."""
    def record_task(self, order_id: str, payment: PaymentRecord) -> bool:
        """The inbox: the order's payment made, once. False when the task was recorded already."""
    def notifications(self, customer_id: str, *, limit: int) -> list[Notification]: ...


class ChangeDecoder(Protocol):
    def changes(self, records: Sequence[dict[str, Any]]) -> list[PaymentChange]:
        """The payment writes among raw stream records (others, such as removals, are left out)."""


# ---------------------------------------------------------------------------------- messaging


@dataclass(frozen=True)
class OutboundMessage:
    body: str
    group_id: str | None = None  # FIFO queues only
    deduplication_id: str | None = None  # FIFO queues only
    attributes: dict[str, str] = field(default_factory=dict)
    delay_seconds: int = 0  # standard queues only


class Publisher(Protocol):
    def publish(self, queue_url: str, messages: Sequence[OutboundMessage]) -> None: ...


class QueueControl(Protocol):
    def retry_after(self, queue_url: str, receipt_handle: str, seconds: int) -> None: ...


# ---------------------------------------------------------------------------------- provider


@dataclass(frozen=True)
class ChargeResult:
    status: str  # succeeded | declined | pending
    charge_id: str | None
    decline_code: str | None = None


class ProviderUnavailable(Exception):
    """A transient fault: 5xx, timeout, refused connection. Safe to retry with the same key."""


class ProviderRejected(Exception):
    """The provider refused the request itself (4xx): retrying will not help."""


@dataclass(frozen=True)
class RefundResult:
    status: str  # succeeded
    refund_id: str | None


class PaymentProvider(Protocol):
    def charge(self, *, reference: str, amount: int, currency: str, token: str,
               idempotency_key: str) -> ChargeResult: ...
    def find_charge(self, reference: str) -> ChargeResult | None:
        """The charge that took money for this reference (else a pending one, else None)."""
    def void(self, charge_id: str) -> ChargeResult:
        """Void a pending charge (voiding a voided one again is harmless); ProviderRejected when the
        charge is not pending any more (it succeeded or was declined meanwhile)."""
    def refund(self, *, charge_id: str, amount: int, idempotency_key: str) -> RefundResult:
        """Give `amount` back; the same key again answers the same refund and never refunds twice."""
    def find_refund(self, reference: str, idempotency_key: str) -> RefundResult | None:
        """The refund made for the payment `reference` with this key, if the provider made one."""
    def pay_bill(self, *, reference: str, service_id: str, client_number: str, amount: int, currency: str,
                 idempotency_key: str) -> ChargeResult:
        """Pay a biller (status succeeded or declined); the same key again answers the same payment."""
    def find_bill_payment(self, reference: str) -> ChargeResult | None: ...


# ---------------------------------------------------------------------------------- webhooks


class WebhookTransport(Protocol):
    def post(self, url: str, body: str, headers: dict[str, str], timeout: float) -> int:
        """POST and answer the status code; raise DeliveryError when there is no answer."""


class DeliveryError(Exception):
    pass


class DeliveryQueue(Protocol):
    def schedule(self, deliveries: Sequence[tuple[WebhookDelivery, int]]) -> None:
        """Publish deliveries to the webhooks queue, each after its delay (seconds, at most 900)."""
    def dead_letter(self, deliveries: Sequence[WebhookDelivery]) -> None:
        """Publish deliveries whose attempts ran out to the dead-letter queue."""
    def hold(self, receipt_handle: str, seconds: int) -> None:
        """Keep a received message out of sight for `seconds` more (its visibility)."""


class EventLog(Protocol):
    """Every event of a merchant as it was sent (the webhook body), and every delivery attempt,
    kept at least 30 days for the merchant to read back."""

    def record_events(self, merchant_id: str, events: Sequence[dict[str, Any]]) -> None:
        """Keep events (webhook envelopes); recording one twice keeps it once."""
    def record_attempts(self, merchant_id: str, attempts: Sequence[DeliveryAttempt]) -> None: ...
    def event(self, merchant_id: str, event_id: str) -> dict[str, Any] | None: ...
    def events(self, merchant_id: str, *, event_type: str | None, limit: int,
               starting_after: str | None) -> tuple[list[dict[str, Any]], bool]:
        """Newest first: up to `limit` events older than `starting_after`, and whether there are more."""
    def attempts(self, endpoint_id: str, *, limit: int,
                 starting_after: str | None) -> tuple[list[DeliveryAttempt], bool]:
        """An endpoint's attempts, newest first, as `events`."""


class UrlGuard(Protocol):
    def check(self, url: str) -> str | None:
        """None when the URL may receive webhooks, else why not."""
