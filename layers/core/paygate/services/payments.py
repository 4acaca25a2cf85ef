"""Taking payments: create (idempotent), read, list, and the event history. Domain objects out; the
edge makes the HTTP answers."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import payment as domain
from paygate.domain.accounts import Merchant
from paygate.domain.money import Money
from paygate.ids import new_event_id, new_id, utc_now
from paygate.observability import logger, metrics
from paygate.observability.tracing import span
from paygate.schemas.requests import CreatePayment
from paygate.services.errors import IdempotencyKeyInUse, InvalidRequest, NotFound
from paygate.services.idempotency import IdempotentRequest
from paygate.services.ports import KeyAlreadyUsed, KeyBusy, PaymentRecord, PaymentRepository, WalletStore


@dataclass(frozen=True)
class Accepted:
    """A payment as the creating request is answered: new, or the first answer to its key again."""

    payment: domain.Payment
    replayed: bool = False


# The sandbox provider's card tokens (paygate dev, Mode=dev): the only ones it knows. A test checks
# this list against the sandbox's own.
SANDBOX_TOKENS = ("tok_success", "tok_decline", "tok_insufficient_funds", "tok_provider_error", "tok_flaky",
                  "tok_timeout_after_success", "tok_async", "tok_async_no_callback", "tok_pending")


def check_payment_method(body: CreatePayment, *, sandbox: bool, wallets: WalletStore, merchant: Merchant) -> None:
    """What the gateway cannot take is refused at the edge, not accepted and failed later: a wallet
    that is not the merchant's or holds another currency, an unknown biller, a bill payment by card,
    and in dev mode a card token the sandbox does not know (a real provider's tokens are opaque: it
    says itself, as a FAILED payment)."""
    method = body.payment_method
    if method.type == "wallet":
        from paygate.services.wallets import check_wallet_payment

        check_wallet_payment(wallets, merchant, wallet_id=method.wallet_id, currency=body.currency,
                             destination=body.destination.model_dump() if body.destination else None)
        return
    if body.destination is not None:
        raise InvalidRequest("a bill payment (destination) is paid from a wallet: payment_method type wallet",
                             param="destination", code="payment_method_unsupported")
    if sandbox and method.type == "card" and method.token not in SANDBOX_TOKENS:
        raise InvalidRequest(f"unknown sandbox card token; the sandbox knows {', '.join(SANDBOX_TOKENS)}",
                             param="payment_method.token", code="invalid_token")


def create_payment(
    payments: PaymentRepository,
    *,
    merchant: Merchant,
    request: IdempotentRequest,
    body: CreatePayment,
    correlation_id: str | None,
) -> Accepted:
    """Accept a payment: the payment (NEW, with its first event) and the idempotency key in one write."""
    payment_id = new_id("pay")
    with span("payment.create", attributes={"payment.id": payment_id}) as traceparent:
        payment, event = domain.open_payment(
            payment_id=payment_id,
            event_id=new_event_id(),
            merchant_id=merchant.id,
            money=Money.of(body.amount, body.currency),
            payment_method=body.payment_method.model_dump(),
            now=utc_now(),
            description=body.description,
            metadata=body.metadata,
            customer_id=body.customer_id,
            destination=body.destination.model_dump() if body.destination else None,
        )
        record = PaymentRecord(payment, (event,), (traceparent,), correlation_id)
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
    if found is None or found.payment.merchant_id != merchant.id:
        raise NotFound(f"no such payment: {payment_id!r}", param="id")
    return found


def get_payment(payments: PaymentRepository, merchant: Merchant, payment_id: str) -> domain.Payment:
    return get_owned(payments, merchant, payment_id).payment


def list_payments(payments: PaymentRepository, merchant: Merchant, *, limit: int, starting_after: str | None,
                  status: str | None) -> tuple[list[domain.Payment], bool]:
    cursor = None
    if starting_after:
        found = payments.get(starting_after, consistent=False)
        if found is None or found.payment.merchant_id != merchant.id:
            raise InvalidRequest(f"no such payment: {starting_after!r}", param="starting_after")
        cursor = found.payment
    return payments.list(merchant.id, limit=limit, starting_after=cursor, status=status)


def payment_history(payments: PaymentRepository, merchant: Merchant,
                    payment_id: str) -> list[tuple[domain.PaymentEvent, domain.Payment]]:
    """Each event of the payment with the payment as it was right after it, by sequence from 1."""
    record = get_owned(payments, merchant, payment_id)
    return list(zip(record.events, domain.snapshots(record.events), strict=True))
