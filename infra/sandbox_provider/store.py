"""The sandbox's records: charges, refunds, bill payments, their idempotency keys, the charge attempts
received, the callbacks sent and the asynchronous charges still to settle.

They live in memory behind one lock. Given a state file (``paygate dev``'s: anything with
``put_sandbox(kind, id, record)`` and ``sandbox_records()``), every change is also written through to it,
and a new store on the same file carries on where the last one stopped. A provider has its own store:
two providers in one process share nothing.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol


class StateFile(Protocol):
    def put_sandbox(self, kind: str, record_id: str, record: dict[str, Any]) -> None: ...

    def sandbox_records(self) -> Any: ...  # iterable of (kind, id, record)


class KeyRecord:
    """One Idempotency-Key of ``POST /charges``: the body it came with, how often, the charge it made."""

    __slots__ = ("fingerprint", "attempts", "charge_id")

    def __init__(self, fingerprint: str, attempts: int = 0, charge_id: str | None = None):
        self.fingerprint = fingerprint
        self.attempts = attempts
        self.charge_id = charge_id


class Store:
    """Every record of one sandbox provider. Callers hold ``lock`` around a read-then-write; the
    methods that return records return copies."""

    def __init__(self, state: StateFile | None = None) -> None:
        self.lock = threading.RLock()
        self.charges: dict[str, dict[str, Any]] = {}
        self._charges_by_reference: dict[str, list[str]] = {}
        self._keys: dict[str, KeyRecord] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self._refund_keys: dict[str, tuple[str, str]] = {}  # key -> (fingerprint, refund id)
        self.bills: dict[str, dict[str, Any]] = {}
        self._bill_keys: dict[str, tuple[str, str]] = {}  # key -> (fingerprint, bill payment id)
        self._requests: list[dict[str, Any]] = []
        self._callbacks: list[dict[str, Any]] = []
        self.unsettled: set[str] = set()  # tok_async charges whose callback is still to come
        self._silent: set[str] = set()  # tok_async_no_callback charges: they settle, nobody is told
        self._state = state
        if state is not None:
            self._load(state)

    # ---- charges ---------------------------------------------------------------------------------

    def add_charge(self, charge: dict[str, Any]) -> None:
        with self.lock:
            self.charges[charge["id"]] = charge
            self._charges_by_reference.setdefault(charge["reference"], []).append(charge["id"])
            self.save_charge(charge)

    def save_charge(self, charge: dict[str, Any]) -> None:
        self._save("charge", charge["id"], charge)

    def charges_for(self, reference: str | None) -> list[dict[str, Any]]:
        """The reference's charges in the order made (every charge for None)."""
        with self.lock:
            if reference is None:
                return [dict(c) for c in self.charges.values()]
            return [dict(self.charges[cid]) for cid in self._charges_by_reference.get(reference, [])]

    def charge_key(self, key: str) -> KeyRecord | None:
        return self._keys.get(key)

    def new_charge_key(self, key: str, fingerprint: str) -> KeyRecord:
        record = self._keys[key] = KeyRecord(fingerprint)
        return record

    def save_charge_key(self, key: str, record: KeyRecord) -> None:
        self._save("key", key, {"fingerprint": record.fingerprint, "attempts": record.attempts,
                                "charge_id": record.charge_id})

    def record_request(self, entry: dict[str, Any]) -> None:
        """A charge attempt received (``GET /requests`` counts them, so tests can prove retries)."""
        with self.lock:
            self._requests.append(entry)
            self._save("request", str(len(self._requests)), entry)

    def requests_for(self, reference: str | None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self._requests if reference is None or e["reference"] == reference]

    # ---- asynchronous charges --------------------------------------------------------------------

    def add_unsettled(self, charge_id: str, silent: bool) -> None:
        with self.lock:
            self.unsettled.add(charge_id)
            if silent:
                self._silent.add(charge_id)
            self._save("unsettled", charge_id, {"silent": True} if silent else {})

    def is_silent(self, charge_id: str) -> bool:
        return charge_id in self._silent

    def add_callback(self, entry: dict[str, Any]) -> None:
        """A callback delivery attempt made (``GET /callbacks``, for debugging; not persisted)."""
        with self.lock:
            self._callbacks.append(entry)

    def callbacks(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self._callbacks]

    # ---- refunds and bill payments ---------------------------------------------------------------

    def refund_by_key(self, key: str) -> tuple[str, dict[str, Any]] | None:
        """(the fingerprint of the body, the refund) made with this Idempotency-Key, if any."""
        if key not in self._refund_keys:
            return None
        fingerprint, refund_id = self._refund_keys[key]
        return fingerprint, self.refunds[refund_id]

    def add_refund(self, refund: dict[str, Any], key: str | None, fingerprint: str) -> None:
        with self.lock:
            self.refunds[refund["id"]] = refund
            self._save("refund", refund["id"], refund)
            if key is not None:
                self._refund_keys[key] = (fingerprint, refund["id"])
                self._save("refund_key", key, {"fingerprint": fingerprint, "refund": refund["id"]})

    def refunds_for(self, reference: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.refunds.values() if r["reference"] == reference]

    def bill_by_key(self, key: str) -> tuple[str, dict[str, Any]] | None:
        if key not in self._bill_keys:
            return None
        fingerprint, bill_id = self._bill_keys[key]
        return fingerprint, self.bills[bill_id]

    def add_bill(self, bill: dict[str, Any], key: str, fingerprint: str) -> None:
        with self.lock:
            self.bills[bill["id"]] = bill
            self._bill_keys[key] = (fingerprint, bill["id"])
            self._save("bill", bill["id"], bill)
            self._save("bill_key", key, {"fingerprint": fingerprint, "bill": bill["id"]})

    def bill_payments_for(self, reference: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(b) for b in self.bills.values() if b["reference"] == reference]

    # ---- the state file --------------------------------------------------------------------------

    def _save(self, kind: str, record_id: str, record: dict[str, Any]) -> None:
        if self._state is not None:
            self._state.put_sandbox(kind, record_id, record)

    def _load(self, state: StateFile) -> None:
        requests: dict[int, dict[str, Any]] = {}
        for kind, record_id, record in state.sandbox_records():
            if kind == "charge":
                self.charges[record_id] = record
            elif kind == "key":
                self._keys[record_id] = KeyRecord(record["fingerprint"], record["attempts"], record["charge_id"])
            elif kind == "refund":
                self.refunds[record_id] = record
            elif kind == "refund_key":
                self._refund_keys[record_id] = (record["fingerprint"], record["refund"])
            elif kind == "bill":
                self.bills[record_id] = record
            elif kind == "bill_key":
                self._bill_keys[record_id] = (record["fingerprint"], record["bill"])
            elif kind == "request":
                requests[int(record_id)] = record
            elif kind == "unsettled":
                self.unsettled.add(record_id)
                if record.get("silent"):
                    self._silent.add(record_id)
        for charge in sorted(self.charges.values(), key=lambda c: (c["created"], c["id"])):
            self._charges_by_reference.setdefault(charge["reference"], []).append(charge["id"])
        self._requests = [requests[n] for n in sorted(requests)]
        self.unsettled = {cid for cid in self.unsettled if self.charges.get(cid, {}).get("status") == "pending"}
