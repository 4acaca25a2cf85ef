"""Orders paid from the customer's wallet, through a transactional outbox and inbox (seed 004), and
the customer told of the result (seed 002).

- The API writes the order (NEW) with its first event, `order.created`, which is the payment task
  (which wallet, which payment id to make), and its Idempotency-Key: one transaction. The event in the
  order's log is the outbox: the table's stream takes it to the relay, which publishes `order.pay`.
- The payment side (`pay_order`) records the task once: the inbox item (INBOX#<order id>) and the
  payment are written in one transaction conditioned on neither existing, so however often the task
  is delivered there is one payment per order. The payment then runs as any wallet payment.
- The payment's outcome event asks for `order.settle` (the workflow table): the order moves to
  FINISHED (COMPLETED) or CANCELED (FAILED, CANCELED) with the customer's notification, in one write
  conditioned on the order's version. Its own event (`order.finished` / `order.canceled`) reaches the
  merchant as a webhook.

No step trusts another to run once: every write is conditioned, every command may come twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from paygate.domain import order as domain
from paygate.domain import payment as payments_domain
from paygate.domain.accounts import Merchant
from paygate.domain.methods import WalletMethod
from paygate.domain.money import Money
from paygate.domain.order import Notification, Order, OrderStatus
from paygate.domain.payment import PaymentStatus
from paygate.ids import new_event_id, new_id, new_sorted_id, utc_now
from paygate.observability import logger, metrics
from paygate.observability.tracing import span
from paygate.schemas.messages import Command
from paygate.services.commands.context import WRITE_TRIES, CommandContext
from paygate.services.commands.outcomes import Done, Outcome
from paygate.services.errors import IdempotencyKeyInUse, InvalidRequest, NotFound
from paygate.services.idempotency import IdempotentRequest
from paygate.services.ports.idempotency import KeyAlreadyUsed, KeyBusy
from paygate.services.ports.orders import OrderRecord, OrderRepository
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.records import ConcurrencyConflict, EventMeta, Record
from paygate.services.ports.wallets import WalletStore


@dataclass(frozen=True)
class AcceptedOrder:
    order: Order
    replayed: bool = False


# ------------------------------------------------------------------------------ the API's side


def create_order(orders: OrderRepository, wallets: WalletStore, *, merchant: Merchant, request: IdempotentRequest,
                 customer_id: str, amount: int, currency: str | None, description: str | None,
                 correlation_id: str | None) -> AcceptedOrder:
    customer = wallets.customer(customer_id)
    if customer is None or customer.merchant_id != merchant.id:
        raise InvalidRequest(f"no such customer: {customer_id!r}", param="customer_id", code="customer_not_found")
    money = Money.of(amount, currency or customer.currency)
    if money.currency.code != customer.currency:
        raise InvalidRequest(f"the customer's wallet holds {customer.currency}, not {money.currency.code}",
                             param="currency", code="currency_mismatch")
    order_id, payment_id = new_id("ord"), new_id("pay")
    with span("order.create", attributes={"order.id": order_id, "payment.id": payment_id}) as traceparent:
        order, event = domain.open_order(order_id=order_id, event_id=new_event_id(), merchant_id=merchant.id,
                                         customer=customer, money=money, payment_id=payment_id, now=utc_now(),
                                         description=description)
        record: OrderRecord = Record(order, (event,), (traceparent,), correlation_id)
        try:
            orders.create(record, request.record(order.id), request.now)
        except KeyAlreadyUsed as used:
            found = orders.get(request.replay_of(used.existing))
            if found is None:
                raise RuntimeError("idempotency key refers to a missing order") from None
            return AcceptedOrder(domain.snapshots(found.events)[0], replayed=True)
        except KeyBusy:
            raise IdempotencyKeyInUse("a request with this Idempotency-Key is being processed right now; retry",
                                      param="Idempotency-Key") from None
    metrics.add_metric(name="OrdersCreated", unit=MetricUnit.Count, value=1)
    logger.info("order accepted", extra={"order_id": order.id, "customer_id": customer.id, "amount": amount})
    return AcceptedOrder(order)


def get_order(orders: OrderRepository, merchant: Merchant, order_id: str) -> Order:
    found = orders.get(order_id, consistent=False)
    if found is None or found.state.merchant_id != merchant.id:
        raise NotFound(f"no such order: {order_id!r}", param="id")
    return found.state


def list_orders(orders: OrderRepository, wallets: WalletStore, merchant: Merchant, *, customer_id: str,
                limit: int, starting_after: str | None) -> tuple[list[Order], bool]:
    customer = wallets.customer(customer_id)
    if customer is None or customer.merchant_id != merchant.id:
        raise InvalidRequest(f"no such customer: {customer_id!r}", param="customer_id", code="customer_not_found")
    cursor = None
    if starting_after is not None:
        found = orders.get(starting_after, consistent=False)
        if found is None or found.state.customer_id != customer.id:
            raise InvalidRequest(f"no such order: {starting_after!r}", param="starting_after")
        cursor = found.state
    return orders.for_customer(customer.id, limit=limit, starting_after=cursor)


def notifications(orders: OrderRepository, wallets: WalletStore, merchant: Merchant, customer_id: str,
                  limit: int) -> list[Notification]:
    customer = wallets.customer(customer_id)
    if customer is None or customer.merchant_id != merchant.id:
        raise NotFound(f"no such customer: {customer_id!r}", param="id")
    return orders.notifications(customer.id, limit=limit)


# ------------------------------------------------------------------------------ the commands


def pay_order(command: Command, ctx: CommandContext) -> Outcome:
    """The inbox: the order's payment task recorded once, as a wallet payment of the order."""
    orders, wallets = ctx.orders, ctx.wallets
    found = orders.get(str(command.order_id))
    if found is None or found.state.is_terminal:
        return Done("nothing to pay")
    order = found.state
    with span(command.type, command.traceparent, {"payment.id": command.payment_id, "order.id": command.order_id}) as traceparent:
        meta = EventMeta(traceparent, command.correlation_id)
        wallet = wallets.wallet(order.wallet_id, consistent=False)
        if wallet is None:
            return _cancel_unpaid(found, orders, meta, ("wallet_not_found", "the customer's wallet does not exist"))
        payment, event = payments_domain.open_payment(
            payment_id=order.task_payment_id, event_id=new_event_id(), merchant_id=order.merchant_id,
            money=Money.of(order.amount, order.currency), payment_method=WalletMethod(wallet.id),
            now=utc_now(), description=order.description or f"order {order.id}", customer_id=order.customer_id,
            order_id=order.id)
        task: PaymentRecord = Record(payment, (event,), (traceparent,), found.correlation_id)
        if not orders.record_task(order.id, task):
            logger.info("order task delivered again: recorded already, nothing done", extra={"order_id": order.id})
            metrics.add_metric(name="DuplicateTasks", unit=MetricUnit.Count, value=1)
            return Done("recorded already")
    logger.info("order task recorded: payment made", extra={"order_id": order.id, "payment_id": payment.id})
    return Done("payment made")


def pay_dead_order(command: Command, ctx: CommandContext) -> Outcome:
    """An order's task that kept failing: if its payment was made, that payment's outcome settles the
    order; if not, the order is CANCELED (nothing was taken)."""
    orders = ctx.orders
    found = orders.get(str(command.order_id))
    if found is None or found.state.is_terminal or ctx.payments.get(command.payment_id) is not None:
        return Done("nothing to do")
    with span("order.dead_letter", command.traceparent, {"payment.id": command.payment_id}) as traceparent:
        return _cancel_unpaid(found, orders, EventMeta(traceparent, command.correlation_id),
                              ("processing_error", "the order could not be paid; nothing was taken"))


def settle_order(command: Command, ctx: CommandContext) -> Outcome:
    """The order's payment ended: the order FINISHED or CANCELED, and the customer told, in one write."""
    orders = ctx.orders
    for _ in range(WRITE_TRIES):
        found = orders.get(str(command.order_id))
        payment = ctx.payments.get(command.payment_id)
        if found is None or found.state.is_terminal or payment is None or not payment.state.is_terminal:
            return Done("nothing to settle")
        with span(command.type, command.traceparent, {"payment.id": command.payment_id, "order.id": command.order_id}) as traceparent:
            meta = EventMeta(traceparent, command.correlation_id)
            p = payment.state
            try:
                if p.status == PaymentStatus.COMPLETED:
                    after, event = domain.finish(found.state, event_id=new_event_id(), now=utc_now(), payment_id=p.id)
                    _write(found, orders, meta, after, event)
                else:
                    failure = p.failure or payments_domain.Failure("payment_canceled", "the payment was canceled")
                    after, event = domain.cancel(found.state, event_id=new_event_id(), now=utc_now(),
                                                 code=failure.code, message=failure.message, payment_id=p.id)
                    _write(found, orders, meta, after, event)
            except ConcurrencyConflict:
                continue
        return Done(str(after.status))
    raise ConcurrencyConflict(f"order {command.order_id} kept changing")


def _cancel_unpaid(found: OrderRecord, orders: OrderRepository, meta: EventMeta, failure: tuple[str, str]) -> Outcome:
    after, event = domain.cancel(found.state, event_id=new_event_id(), now=utc_now(), code=failure[0],
                                 message=failure[1])
    _write(found, orders, meta, after, event)
    return Done(str(after.status))


def _write(found: OrderRecord, orders: OrderRepository, meta: EventMeta, after: Order,
           event: domain.OrderEvent) -> None:
    message = domain.notification_message(after, Money.of(after.amount, after.currency).display())
    notification = Notification(id=new_sorted_id("ntf"), customer_id=after.customer_id, type=str(event.type),
                                order_id=after.id, message=message, created_at=event.occurred_at)
    orders.settle(found, [event], after, meta, notification)
    metrics.add_metric(name="OrdersFinished" if after.status == OrderStatus.FINISHED else "OrdersCanceled",
                       unit=MetricUnit.Count, value=1)
    logger.info("order settled", extra={"order_id": after.id, "status": str(after.status)})
