"""fold(events) == state, checked on what is stored: every payment and refund item keeps its current
state (for queries and the version condition) beside its event log; the two must agree. Across
aggregates: a payment's `amount_refunded` is the sum of its SUCCEEDED refunds, and what it reserves
is the sum of its PENDING and SUCCEEDED ones (a FAILED refund released its amount)."""

from __future__ import annotations

from typing import Any, Iterable

from paygate.adapters.dynamodb.items import load
from paygate.adapters.dynamodb.payments import RESERVED, is_payment_item, payment_record_from_item
from paygate.adapters.dynamodb.refunds import is_refund_item, refund_record_from_item
from paygate.adapters.dynamodb.wallets import ACCOUNT_KIND, ENTRY_KIND, WALLET_KIND
from paygate.domain.methods import WalletMethod


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item of the table, as plain values."""
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        found += [load(i) for i in page.get("Items", [])]
    return found


def _failure(value: Any) -> dict[str, str] | None:
    return {"code": value.code, "message": value.message} if value else None


def check(items: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Assert the invariants over payment and refund items; answers how many of each were checked."""
    payments: dict[str, dict[str, Any]] = {}
    refunds: dict[str, list[Any]] = {}
    for item in items:
        if is_payment_item(item):
            payment = payment_record_from_item(item).state
            stored = (item["status"], item["version"], item.get("amount_refunded", 0), item.get("failure"),
                      item.get("charge_id"), bool(item.get("cancel_requested")))
            folded = (str(payment.status), payment.version, payment.amount_refunded, _failure(payment.failure),
                      payment.provider_charge_id, payment.cancel_requested)
            assert stored == folded, f"{payment.id}: stored {stored} but its events fold to {folded}"
            assert len(item["events"]) == payment.version
            payments[payment.id] = {"payment": payment, "reserved": item.get(RESERVED, 0)}
        elif is_refund_item(item):
            refund = refund_record_from_item(item).state
            stored = (item["status"], item["version"], item.get("failure"), item.get("provider_refund_id"))
            folded = (str(refund.status), refund.version, _failure(refund.failure), refund.provider_refund_id)
            assert stored == folded, f"{refund.id}: stored {stored} but its events fold to {folded}"
            refunds.setdefault(refund.payment_id, []).append(refund)
    for payment_id, of in refunds.items():
        assert payment_id in payments, f"refunds of a missing payment {payment_id}"
        payment, reserved = payments[payment_id]["payment"], payments[payment_id]["reserved"]
        succeeded = sum(r.amount for r in of if r.status == "SUCCEEDED")
        held = sum(r.amount for r in of if r.status in ("PENDING", "SUCCEEDED"))
        assert payment.amount_refunded == succeeded, f"{payment_id}: amount_refunded {payment.amount_refunded} != {succeeded}"
        assert reserved == held, f"{payment_id}: reserved {reserved} != {held}"
        assert held <= payment.amount, f"{payment_id}: {held} reserved of {payment.amount} paid"
    for payment_id, entry in payments.items():
        if payment_id not in refunds:
            assert entry["payment"].amount_refunded == 0 and entry["reserved"] == 0
    return len(payments), sum(len(v) for v in refunds.values())


def check_ledger(items: Iterable[dict[str, Any]]) -> int:
    """The ledger over what is stored: per currency the accounts sum to zero; no wallet below zero; a
    wallet's `held` is the sum of its open holds; its last entry says what it holds; a hold is open
    exactly while its payment is PROCESSING with a hold placed (never left behind by a final payment).
    Answers how many wallets were checked."""
    items = list(items)
    sums: dict[str, int] = {}
    wallets = [i for i in items if i.get("kind") == WALLET_KIND]
    entries: dict[str, dict[str, Any]] = {}
    for e in items:
        if e.get("kind") == ENTRY_KIND and not e["pk"].startswith("ACCT#"):
            if e["pk"] not in entries or e["sequence"] > entries[e["pk"]]["sequence"]:
                entries[e["pk"]] = e
    payments = {i["pk"]: payment_record_from_item(i).state for i in items if is_payment_item(i)}
    for w in wallets:
        assert w["available"] >= 0 and w["held"] >= 0, w
        assert w["held"] == sum(w["holds"].values()), w
        last = entries.get(w["pk"])
        assert (last["sequence"], last["available_after"], last["held_after"]) == (w["version"], w["available"], w["held"]) \
            if last else w["version"] == 0, (w, last)
        for payment_id in w["holds"]:
            p = payments.get(payment_id)
            assert p is not None and p.hold == "placed" and not p.is_terminal, (payment_id, p)
        sums[w["currency"]] = sums.get(w["currency"], 0) + w["available"] + w["held"]
    for account in (i for i in items if i.get("kind") == ACCOUNT_KIND):
        sums[account["currency"]] = sums.get(account["currency"], 0) + account["balance"]
        if not account["pk"].startswith("ACCT#funding:"):
            assert account["balance"] >= 0, account
    assert all(total == 0 for total in sums.values()), sums
    for p in payments.values():
        if isinstance(p.payment_method, WalletMethod) and p.is_terminal:
            assert p.hold in (None, "captured", "released"), p
    return len(wallets)
