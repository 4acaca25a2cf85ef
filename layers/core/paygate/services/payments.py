"""Taking payments: create (idempotent), read, list, and the event history. Domain objects out; the
edge makes the HTTP answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import payment as domain
from paygate.domain.accounts import Merchant
from paygate.domain.methods import Destination, PaymentMethod
from paygate.domain.money import Money
from paygate.ids import new_event_id, new_id, utc_now
from paygate.observability import logger, metrics
from paygate.observability.tracing import span
from paygate.services.commands.context import CommandContext
from paygate.services.errors import IdempotencyKeyInUse, InvalidRequest, NotFound
from paygate.services.funding.factory import funding_for
from paygate.services.idempotency import IdempotentRequest
from paygate.services.ports.idempotency import KeyAlreadyUsed, KeyBusy
from paygate.services.ports.payments import PaymentRecord, PaymentRepository
from paygate.services.ports.records import Record


@dataclass(frozen=True)
class Accepted:
    """A payment as the creating request is answered: new, or the first answer to its key again."""

    payment: domain.Payment
    replayed: bool = False


@dataclass(frozen=True)
class NewPayment:
    """What a merchant asks to be paid (the API's body, checked and typed)."""

    amount: int
    currency: str
    payment_method: PaymentMethod
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    customer_id: str | None = None
    destination: Destination | None = None


def check_payment_method(ctx: CommandContext, merchant: Merchant, new: NewPayment) -> None:
    """What the gateway cannot take is refused at the edge, not accepted and failed later; what each
    method can take, its funding says (a wallet of the merchant's in the payment's currency, a known
    biller; a card's token the sandbox knows, in dev mode; no bill payment by card)."""
    funding_for(new.payment_method, ctx).check(merchant, new.currency, new.destination)


def create_payment(
    payments: PaymentRepository,
    *,
    merchant: Merchant,
    request: IdempotentRequest,
    new: NewPayment,
    correlation_id: str | None,
    route: tuple[str, ...] = (),
) -> Accepted:
    """Accept a payment: the payment (NEW, with its first event, and a card's route) and the
    idempotency key in one write."""
    payment_id = new_id("pay")
    with span("payment.create", attributes={"payment.id": payment_id}) as traceparent:
        payment, event = domain.open_payment(
            payment_id=payment_id,
            event_id=new_event_id(),
            merchant_id=merchant.id,
            money=Money.of(new.amount, new.currency),
            payment_method=new.payment_method,
            now=utc_now(),
            description=new.description,
            metadata=new.metadata,
            customer_id=new.customer_id,
            destination=new.destination,
            route=route,
        )
        record: PaymentRecord = Record(payment, (event,), (traceparent,), correlation_id)
        try:
            payments.create(record, request.record(payment.id), request.now)
        except KeyAlreadyUsed as used:
            original = _as_first_answered(payments, request.replay_of(used.existing))
            logger.info("idempotent replay", extra={"payment_id": original.id})
            return Accepted(original, replayed=True)
        except KeyBusy:
            raise IdempotencyKeyInUse(
                "a request with this Idempotency-Key is being processed right now; retry", param="Idempotency-Key"
            ) from None
    logger.append_keys(payment_id=payment.id)
    metrics.add_metric(name="PaymentsCreated", unit=MetricUnit.Count, value=1)
    logger.info("payment accepted", extra={"amount": payment.amount, "currency": payment.currency})
    return Accepted(payment)


def _as_first_answered(payments: PaymentRepository, payment_id: str) -> domain.Payment:
    """The payment a key created, as its creation was answered: after its first event."""
    found = payments.get(payment_id)
    if found is None:  # the key and the payment are written together: this cannot happen
        raise RuntimeError(f"idempotency key refers to a missing payment {payment_id}")
    return domain.snapshots(found.events)[0]


def get_owned(payments: PaymentRepository, merchant: Merchant, payment_id: str) -> PaymentRecord:
    """Another merchant's payment is answered exactly like a missing one."""
    found = payments.get(payment_id) if len(payment_id) <= 64 else None
    if found is None or found.state.merchant_id != merchant.id:
        raise NotFound(f"no such payment: {payment_id!r}", param="id")
    return found


def get_payment(payments: PaymentRepository, merchant: Merchant, payment_id: str) -> domain.Payment:
    return get_owned(payments, merchant, payment_id).state


def list_payments(payments: PaymentRepository, merchant: Merchant, *, limit: int, starting_after: str | None,
                  status: str | None) -> tuple[list[domain.Payment], bool]:
    cursor = None
    if starting_after:
        found = payments.get(starting_after, consistent=False)
        if found is None or found.state.merchant_id != merchant.id:
            raise InvalidRequest(f"no such payment: {starting_after!r}", param="starting_after")
        cursor = found.state
    return payments.list(merchant.id, limit=limit, starting_after=cursor, status=status)


def payment_history(payments: PaymentRepository, merchant: Merchant,
                    payment_id: str) -> list[tuple[domain.PaymentEvent, domain.Payment]]:
    """Each event of the payment with the payment as it was right after it, by sequence from 1."""
    record = get_owned(payments, merchant, payment_id)
    return list(zip(record.events, domain.snapshots(record.events), strict=True))
