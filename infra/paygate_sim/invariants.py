"""The invariants, over what is stored (every item of the aggregates table, read through the
adapters' own item readers) and what the provider and the endpoints saw. Each check adds violations;
none stops the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from paygate.adapters.dynamodb.items import load
from paygate.adapters.dynamodb.payments import RESERVED, is_payment_item, payment_record_from_item
from paygate.adapters.dynamodb.refunds import is_refund_item, refund_record_from_item
from paygate.adapters.dynamodb.wallets import ACCOUNT_KIND, ENTRY_KIND, WALLET_KIND
from paygate.domain.methods import WalletMethod
from paygate.domain.providers.attempts import payment_id_of

NAMES = ("charged_at_most_once", "money_matches_state", "refunds_within_amount", "ledger_balanced",
         "holds_resolved_once", "liveness", "webhooks_delivered_or_dead_lettered", "fold_equals_state",
         "no_sequence_gap")


@dataclass
class Report:
    violations: dict[str, list[str]] = field(default_factory=lambda: {n: [] for n in NAMES})
    first_step: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, example: str, step: int) -> None:
        self.violations[name].append(example)
        self.first_step.setdefault(name, step)

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    def summary(self) -> dict[str, Any]:
        return {n: {"violations": len(v), "examples": v[:3], **({"first_step": self.first_step[n]} if v else {})}
                for n, v in self.violations.items()}


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        found += [load(i) for i in page.get("Items", [])]
    return found


def money_taken(providers: Sequence[Any]) -> dict[str, list[Any]]:
    """Per payment, the charges (and bill payments) that took money, at every provider: an attempt's
    reference (`<id>` or `<id>_<n>`) names its payment."""
    out: dict[str, list[Any]] = {}
    for provider in providers:
        for reference, taken in provider.money_taken().items():
            out.setdefault(payment_id_of(reference), []).extend(taken)
    return out


def check_provider(report: Report, providers: Sequence[Any], step: int, seen: set[str]) -> None:
    """As it runs: no payment was charged twice (money taken by two charges, at one provider or two)."""
    for payment_id, taken in money_taken(providers).items():
        if len(taken) > 1 and payment_id not in seen:
            seen.add(payment_id)
            report.add("charged_at_most_once", f"{payment_id}: {[c.id for c in taken]}", step)
    for charge in (c for provider in providers for c in provider.charges.values()):
        if charge.refunded > charge.amount and charge.id not in seen:
            seen.add(charge.id)
            report.add("refunds_within_amount", f"{charge.reference}: provider refunded {charge.refunded} of {charge.amount}", step)


def check_store(report: Report, items: Iterable[dict[str, Any]], providers: Sequence[Any], step: int) -> dict[str, Any]:
    """At the end: fold == state, sequences, refunds, the ledger, holds, liveness, and money against the
    provider. Answers what was checked, by kind."""
    items = list(items)
    payments: dict[str, Any] = {}
    reserved: dict[str, int] = {}
    refunds: dict[str, list[Any]] = {}
    for item in items:
        if is_payment_item(item):
            p = payment_record_from_item(item).state
            stored = (item["status"], item["version"], item.get("amount_refunded", 0), item.get("charge_id"))
            folded = (str(p.status), p.version, p.amount_refunded, p.provider_charge_id)
            if stored != folded:
                report.add("fold_equals_state", f"{p.id}: stored {stored}, events fold to {folded}", step)
            _sequences(report, p.id, item.get("events") or [], step)
            payments[p.id] = p
            reserved[p.id] = item.get(RESERVED, 0)
        elif is_refund_item(item):
            r = refund_record_from_item(item).state
            stored = (item["status"], item["version"], item.get("provider_refund_id"))
            folded = (str(r.status), r.version, r.provider_refund_id)
            if stored != folded:
                report.add("fold_equals_state", f"{r.id}: stored {stored}, events fold to {folded}", step)
            _sequences(report, r.id, item.get("events") or [], step)
            refunds.setdefault(r.payment_id, []).append(r)
            if str(r.status) == "PENDING":
                report.add("liveness", f"{r.id} still PENDING at the end", step)
    taken = money_taken(providers)
    for pid, p in payments.items():
        if not p.is_terminal:
            report.add("liveness", f"{pid} still {p.status} at the end", step)
        of = refunds.get(pid, [])
        succeeded = sum(r.amount for r in of if str(r.status) == "SUCCEEDED")
        held = sum(r.amount for r in of if str(r.status) in ("PENDING", "SUCCEEDED"))
        if p.amount_refunded != succeeded or reserved[pid] != held or held > p.amount:
            report.add("refunds_within_amount", f"{pid}: refunded {p.amount_refunded}, succeeded {succeeded}, "
                                                f"reserved {reserved[pid]}, held {held} of {p.amount}", step)
        if isinstance(p.payment_method, WalletMethod) and p.destination is None:
            continue
        money = taken.get(pid, [])
        completed = str(p.status) == "COMPLETED"
        if p.is_terminal and completed != bool(money):
            report.add("money_matches_state", f"{pid}: {p.status} but the provider took money {len(money)} times", step)
        if money and completed and p.destination is None and p.provider_charge_id != money[0].id:
            report.add("money_matches_state", f"{pid}: charge {p.provider_charge_id}, provider {money[0].id}", step)
        given = sum(c.refunded for c in money)
        if completed and p.destination is None and given != succeeded:
            report.add("refunds_within_amount", f"{pid}: provider refunded {given}, gateway says {succeeded}", step)
    _ledger(report, items, payments, step)
    return {"payments": len(payments), "refunds": sum(len(v) for v in refunds.values())}


def check_delivered_were_recorded(report: Report, items: Iterable[dict[str, Any]],
                                  received: dict[str, set[str]], step: int) -> None:
    """Every payment or refund event a merchant's endpoint received is one that was recorded: no
    webhook for a state never stored."""
    recorded: set[str] = set()
    for item in items:
        if is_payment_item(item):
            recorded.update(e.event_id for e in payment_record_from_item(item).events)
        elif is_refund_item(item):
            recorded.update(e.event_id for e in refund_record_from_item(item).events)
    for url, ids in sorted(received.items()):
        for event_id in sorted(ids - recorded):
            report.add("webhooks_delivered_or_dead_lettered", f"{event_id} delivered to {url}, never recorded", step)


def _sequences(report: Report, object_id: str, events: list[Any], step: int) -> None:
    numbers = [e.get("sequence", e.get("version")) if isinstance(e, dict) else None for e in events]
    if any(n is None for n in numbers):
        return
    if numbers != list(range(1, len(numbers) + 1)):
        report.add("no_sequence_gap", f"{object_id}: sequences {numbers}", step)


def _ledger(report: Report, items: list[dict[str, Any]], payments: dict[str, Any], step: int) -> None:
    sums: dict[str, int] = {}
    for w in (i for i in items if i.get("kind") == WALLET_KIND):
        if w["available"] < 0 or w["held"] < 0 or w["held"] != sum(w["holds"].values()):
            report.add("ledger_balanced", f"{w['pk']}: available {w['available']} held {w['held']}", step)
        for payment_id in w["holds"]:
            p = payments.get(payment_id)
            if p is None or p.hold != "placed" or p.is_terminal:
                report.add("holds_resolved_once", f"{w['pk']}: hold of {payment_id} open, payment "
                                                  f"{getattr(p, 'status', None)} hold {getattr(p, 'hold', None)}", step)
        sums[w["currency"]] = sums.get(w["currency"], 0) + w["available"] + w["held"]
    for account in (i for i in items if i.get("kind") == ACCOUNT_KIND):
        sums[account["currency"]] = sums.get(account["currency"], 0) + account["balance"]
        if not account["pk"].startswith("ACCT#funding:") and account["balance"] < 0:
            report.add("ledger_balanced", f"{account['pk']}: balance {account['balance']}", step)
    for currency, total in sums.items():
        if total != 0:
            report.add("ledger_balanced", f"{currency}: accounts sum to {total}", step)
    entries: dict[str, list[int]] = {}
    for e in items:
        if e.get("kind") == ENTRY_KIND and not e["pk"].startswith("ACCT#"):
            entries.setdefault(e["pk"], []).append(e["sequence"])
    for pk, seqs in entries.items():
        if sorted(seqs) != list(range(1, len(seqs) + 1)):
            report.add("no_sequence_gap", f"{pk}: ledger entries {sorted(seqs)[:10]}", step)
    for p in payments.values():
        if isinstance(p.payment_method, WalletMethod) and p.is_terminal and p.hold not in (None, "captured", "released"):
            report.add("holds_resolved_once", f"{p.id}: {p.status} with hold {p.hold}", step)
