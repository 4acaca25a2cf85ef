"""Customers, wallets and the ledger, in the aggregates table beside payments: a customer (created with
its wallet), a wallet (its two accounts, `available` and `held`, its holds by payment id, and `version`:
the sequence of its last entry), its entries (pk the wallet, sk ENTRY#<sequence>), the merchant's and
billers' accounts (`balance`, updated with ADD so that captures of many customers never collide) with
theirs (sk ENTRY#<transfer id>), and top-ups. Every movement is one transaction."""

from __future__ import annotations

from typing import Any

from paygate.adapters.dynamodb.errors import Refused, transact
from paygate.adapters.dynamodb.idempotency import IdempotencyKeys
from paygate.adapters.dynamodb.items import LISTING_INDEX, dump, load, new_put, state_key, versioned_put
from paygate.adapters.dynamodb.payments import payment_item, settle_update
from paygate.adapters.dynamodb.refunds import refund_settle_items
from paygate.domain.ledger import Account, AccountKind, EntryType, Movement, Transfer, Wallet, WalletEntry
from paygate.domain.order import Customer
from paygate.services.ports.idempotency import IdempotencyRecord, KeyAlreadyUsed
from paygate.services.ports.records import ConcurrencyConflict
from paygate.services.ports.wallets import InsufficientBalance, PaymentWrite, RefundWrite, Topup

CUSTOMER_KIND, WALLET_KIND, ACCOUNT_KIND, ENTRY_KIND, TOPUP_KIND = "customer", "wallet", "account", "entry", "topup"
ENTRY_PREFIX = "ENTRY#"
COUNTER_INDEX = 2  # in a movement's transaction: the wallet, its entry, the account on the other side


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


def balances_partition(merchant_id: str) -> str:
    return f"{merchant_id}#balances"


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


def account_update(account: Account, delta: int) -> dict[str, Any]:
    """ADD `delta` to the account's balance (the item made on first use), never taking an account that
    may not go negative below zero. Listed under the merchant's balances (gsi1) for GET /v1/balance."""
    values: dict[str, Any] = {":delta": delta, ":kind": ACCOUNT_KIND, ":currency": account.currency,
                              ":gpk": balances_partition(account.owner.split(":", 1)[0]), ":gsk": account.key}
    update: dict[str, Any] = {"Key": dump(state_key(account_pk(account))),
                              "UpdateExpression": "ADD #balance :delta SET #kind = :kind, currency = :currency, "
                                                  "gsi1pk = :gpk, gsi1sk = :gsk",
                              "ExpressionAttributeNames": {"#balance": "balance", "#kind": "kind"}}
    if delta < 0 and not account.may_go_negative:
        update["ConditionExpression"] = "#balance >= :needed"
        values[":needed"] = -delta
    update["ExpressionAttributeValues"] = dump(values)
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


class WalletsTable:
    def __init__(self, client: Any, table: str, keys: IdempotencyKeys) -> None:
        self.client, self.table, self.keys = client, table, keys

    def _get(self, object_id: str, consistent: bool) -> dict[str, Any] | None:
        found = self.client.get_item(TableName=self.table, Key=dump(state_key(object_id)),
                                     ConsistentRead=consistent).get("Item")
        return load(found) if found else None

    def create_customer(self, customer: Customer, wallet: Wallet, key: IdempotencyRecord, now: int) -> None:
        """The customer, its wallet and the key, in one transaction."""
        self._with_key([new_put(self.table, customer_item(customer)), self.keys.put(key, now),
                        new_put(self.table, wallet_item(wallet))], key, now)

    def _with_key(self, items: list[dict[str, Any]], key: IdempotencyRecord, now: int) -> None:
        """A creating transaction whose second item is its idempotency key."""
        try:
            transact(self.client, items)
        except Refused as refused:
            if refused.conflicted:
                raise ConcurrencyConflict("a transaction on the wallet collided") from refused
            taken = self.keys.taken(refused, key, now)
            if taken is not None:
                raise KeyAlreadyUsed(taken) from refused
            raise ConcurrencyConflict("the wallet moved on") from refused

    def customer(self, customer_id: str) -> Customer | None:
        item = self._get(customer_id, False) if len(customer_id) <= 64 else None
        return customer_from_item(item) if item else None

    def wallet(self, wallet_id: str, *, consistent: bool = True) -> Wallet | None:
        item = self._get(wallet_id, consistent) if len(wallet_id) <= 64 else None
        return wallet_from_item(item) if item else None

    def find_topup(self, topup_id: str) -> Topup | None:
        item = self._get(topup_id, True)
        return topup_from_item(item) if item else None

    def entries(self, wallet_id: str, *, limit: int, starting_after: int | None) -> tuple[list[WalletEntry], bool]:
        """Newest first: up to `limit` entries below sequence `starting_after`."""
        upper = f"{ENTRY_PREFIX}{starting_after:010d}" if starting_after is not None else f"{ENTRY_PREFIX}~"
        page = self.client.query(
            TableName=self.table, ScanIndexForward=False, Limit=limit + 1,
            KeyConditionExpression="pk = :w AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues=dump({":w": wallet_id, ":low": ENTRY_PREFIX, ":high": upper}))
        found = [entry_from_item(load(i)) for i in page.get("Items", [])]
        found = [e for e in found if starting_after is None or e.sequence < starting_after]
        return found[:limit], len(found) > limit

    def balances(self, merchant_id: str) -> list[tuple[Account, int]]:
        """Every account of the merchant's (balance, funding, billers), by currency."""
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table, IndexName=LISTING_INDEX, KeyConditionExpression="gsi1pk = :m",
            ExpressionAttributeValues=dump({":m": balances_partition(merchant_id)}))
        keys = [load(k)["pk"] for page in pages for k in page.get("Items", [])]
        found: list[tuple[Account, int]] = []
        for pk in keys:  # a merchant has a handful of accounts (one per kind and currency)
            item = self._get(pk, True)
            if item is not None:
                found.append((account_from_key(pk.removeprefix("ACCT#")), int(item.get("balance", 0))))
        return found

    def _movement_items(self, move: Movement) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = [
            {"Update": {"TableName": self.table, **wallet_update(move)}},
            new_put(self.table, entry_item(move.entry)),
        ]
        if move.counter is not None:
            t = move.transfer
            delta = t.amount if t.destination == move.counter else -t.amount
            items.append({"Update": {"TableName": self.table, **account_update(move.counter, delta)}})
            items.append({"Put": {"TableName": self.table, "Item": dump(
                account_entry_item(move.counter, t, move.entry.created_at, move.entry.payment_id))}})
        return items

    def topup(self, move: Movement, topup: Topup, key: IdempotencyRecord, now: int) -> None:
        self._with_key([new_put(self.table, topup_item(topup)), self.keys.put(key, now),
                        *self._movement_items(move)], key, now)

    def move(self, move: Movement, *, payment: PaymentWrite | None = None, refund: RefundWrite | None = None) -> None:
        items = self._movement_items(move)
        if payment is not None:
            written = payment.before.then(payment.events, payment.after, payment.meta.traceparent)
            items.append(versioned_put(self.table, payment_item(written), payment.before.state.version))
        if refund is not None:  # as RefundsTable.settle: the refund put whole, the payment updated
            _, put = refund_settle_items(self.table, refund.before, refund.events, refund.after, refund.meta)
            items += [put, settle_update(self.table, refund.payment, refund.payment_events, refund.payment_after,
                                         refund.meta.traceparent, 0)]
        try:
            transact(self.client, items)
        except Refused as refused:
            # The account on the other side short: a refund the merchant's balance cannot cover.
            # Anything else: the wallet or the payment moved on; decide again from a fresh read.
            if refused.condition_failed and refused.failed_at(COUNTER_INDEX) and move.counter is not None:
                raise InsufficientBalance(move.counter.key) from refused
            raise ConcurrencyConflict("the wallet or the payment moved on") from refused
