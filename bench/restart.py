"""`make bench-restart`: how long `paygate dev` takes to start with N stored payments (default 10,000).

The state file is written directly, with the gateway's own item mappings (a payment COMPLETED with
its three events, its idempotency key, the sandbox merchant and its API key), as a gateway that had
taken N payments would have left it; then `paygate dev` is started on it and timed until it is ready
(dev.json), next to a start on an empty state directory. One stored payment is then read back over
the API, to show that what was restored is served.

    python -m bench.restart [--payments 10000] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT / "infra")]

from paygate.adapters.dynamodb.idempotency import idempotency_item  # noqa: E402
from paygate.adapters.dynamodb.items import dump  # noqa: E402
from paygate.adapters.dynamodb.merchants import api_key_item, listed_key_item, merchant_item  # noqa: E402
from paygate.adapters.dynamodb.payments import payment_item  # noqa: E402
from paygate.domain import payment as d  # noqa: E402
from paygate.domain.accounts import ApiKey, Merchant, hash_api_key  # noqa: E402
from paygate.domain.methods import CardMethod  # noqa: E402
from paygate.domain.money import Money  # noqa: E402
from paygate.services.ports.idempotency import IdempotencyRecord  # noqa: E402
from paygate.services.ports.payments import PaymentRecord  # noqa: E402
from paygate_local.backends.moto.state import item_key  # noqa: E402
from paygate_local.devprocess import DevProcess  # noqa: E402
from paygate_local.statefile import FILE_NAME, StateFile  # noqa: E402
from paygate_local.template import Stack  # noqa: E402

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _row(table: str, item: dict[str, Any], hash_attr: str, range_attr: str | None) -> tuple[str, str, dict]:
    dumped = dump(item)
    return table, item_key(dumped[hash_attr], dumped[range_attr] if range_attr else None), dumped


def seed(state_dir: Path, payments: int) -> str:
    """A state file holding ``payments`` completed payments of the sandbox merchant; answers one id."""
    stack = Stack.from_file(ROOT / "template.yaml", parameter_overrides={"Mode": "dev"})
    names = {t.logical_id: t.name for t in stack.tables()}
    merchant = Merchant("mer_benchrestart00000000000", "sandbox", "2026-01-01T00:00:00.000Z")
    api_key = "sk_test_bench_restart"
    key = ApiKey("key_benchrestart0000000000", merchant.id, api_key[:12], merchant.created_at)
    state = StateFile(state_dir / FILE_NAME)
    rows = [_row(names["MerchantsTable"], merchant_item(merchant), "pk", "sk"),
            _row(names["MerchantsTable"], api_key_item(hash_api_key(api_key), merchant, key), "pk", "sk"),
            _row(names["MerchantsTable"], listed_key_item(hash_api_key(api_key), key), "pk", "sk")]
    first = ""
    for n in range(payments):
        at = f"2026-01-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z"
        payment, created = d.open_payment(
            payment_id=f"pay_bench{n:019d}", event_id=f"evt_bench{n:019d}a", merchant_id=merchant.id,
            money=Money.of(1000 + n % 1000, "USD"), payment_method=CardMethod("tok_success"),
            now=at, description=f"Order #{n}", metadata={"order_id": str(n)})
        started, processing = d.start_processing(payment, event_id=f"evt_bench{n:019d}b", now=at)
        done, completed = d.complete(started, event_id=f"evt_bench{n:019d}c", now=at, charge_id=f"ch_{n}")
        record = PaymentRecord(done, (created, processing, completed), (TRACE,) * 3, "bench")
        rows.append(_row(names["AggregatesTable"], payment_item(record), "pk", "sk"))
        rows.append(_row(names["IdempotencyTable"], idempotency_item(
            IdempotencyRecord(f"{merchant.id}#order-{n}", "f" * 64, payment.id, 4_000_000_000)), "pk", None))
        first = first or payment.id
    with state.transaction() as tx:
        tx.put_items(rows)
        tx.set("sandbox.merchant.moto", {"merchant_id": merchant.id, "api_key": api_key})
    state.close()
    return first


def time_start(state_dir: Path) -> tuple[float, DevProcess]:
    began = time.monotonic()
    process = DevProcess(state_dir, ready_timeout=300).start()
    return time.monotonic() - began, process


def run(payments: int, runs: int) -> dict[str, Any]:
    empty, stored = [], []
    with tempfile.TemporaryDirectory(prefix="paygate-restart-") as tmp:
        seeded = Path(tmp) / "stored"
        payment_id = seed(seeded, payments)
        for n in range(runs):
            seconds, process = time_start(Path(tmp) / f"empty-{n}")
            process.stop()
            empty.append(seconds)
            seconds, process = time_start(seeded)
            try:
                stored.append(seconds)
                got = httpx.get(f"{process.info.api_url}/v1/payments/{payment_id}",
                                headers={"Authorization": f"Bearer {process.info.api_key}"}).json()
                if got.get("status") != "COMPLETED":
                    raise SystemExit(f"bench-restart: the stored payment was not served: {got}")
                restored_line = next((line for line in process.output().splitlines() if "restored" in line), "")
            finally:
                process.stop()
    return {"payments": payments, "runs": runs, "start_empty_s": round(statistics.median(empty), 2),
            "start_with_payments_s": round(statistics.median(stored), 2), "restored": restored_line.strip()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time paygate dev's start with N stored payments.")
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = run(args.payments, args.runs)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"paygate dev ready, median of {figures['runs']} starts:\n"
              f"  empty state directory:        {figures['start_empty_s']} s\n"
              f"  with {figures['payments']:,} stored payments: {figures['start_with_payments_s']} s\n"
              f"  ({figures['restored']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
