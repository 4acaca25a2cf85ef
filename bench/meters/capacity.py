"""DynamoDB capacity units computed from the real item sizes, by DynamoDB's documented rules.

moto reports a constant ``ConsumedCapacity``, so ``make bench`` computes the units itself, where
moto's backend lives: ``moto_capacity.install(directory)`` wraps moto's DynamoDB request handlers,
looks at each item before and after every request, and adds the units (by the rules below, this
module) to a ``CapacityMeter`` (this module too) per table, index and operation, written to
``<directory>/capacity-<pid>.json`` (at most every 200 ms).

The rules (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html,
.../read-write-operations.html, .../GSI.html#GSI.ThroughputConsiderations, .../transaction-apis.html):

- Item size: the sum of its attribute names (UTF-8 bytes) and values. String: UTF-8 bytes. Number:
  1 byte per two significant digits + 1. Binary: raw bytes. Boolean, null: 1. List, map: 3 bytes + each
  element's size + 1 byte per element (a map element's size includes its name). A set: its elements.
- Writes (PutItem, UpdateItem, DeleteItem, each BatchWriteItem item): 1 WRU per started KB of the
  larger of the item before and after, at least 1. A failed conditional write: 1 WRU per KB of the
  existing item, at least 1. Inside TransactWriteItems: twice that, a ConditionCheck included.
- Reads: 1 RRU per started 4 KB strongly consistent, half for eventually consistent (the default),
  at least one unit even when nothing is found. GetItem and each BatchGetItem key on the item's size
  (a projection does not reduce it); Query and Scan on the summed size of the items they evaluate
  (before any filter; on an index, the index entries); TransactGetItems twice a strong read.
- A global (or local) secondary index: nothing when the item is in the index neither before nor
  after, nor when no projected attribute changed; otherwise 1 WRU per KB of the index entry
  (its keys + projected attributes): a put when the item enters, a delete when it leaves, an update
  when a projected attribute changes, a delete + a put when the index key changes. Index writes
  are not doubled inside a transaction.

Assumptions where AWS documents nothing: a canceled transaction costs 1 WRU per KB of each of its
items as they are (the prepare phase); the 100 bytes of per-item overhead count for storage only.
PartiQL statements are not metered.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import threading
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from .meter_hook import Flusher

FILE_VERSION = 1
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096

# ---------------------------------------------------------------------------------------- sizes


def _typed(value: Any) -> tuple[str, Any]:
    """(type, value) of an AttributeValue: {"S": "x"} or one of moto's DynamoType objects."""
    if isinstance(value, Mapping):
        if len(value) != 1:
            raise ValueError(f"not an AttributeValue: {value!r}")
        return next(iter(value.items()))
    return value.type, value.value


def number_size(text: str | int | float | Decimal) -> int:
    """1 byte per two significant digits, plus 1 (leading and trailing zeroes do not count)."""
    try:
        digits = Decimal(str(text)).normalize().as_tuple().digits
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    significant = len(digits) if any(digits) else 1
    return math.ceil(significant / 2) + 1


def _binary_size(raw: Any) -> int:
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return len(raw)
    try:  # on the wire (and in moto's JSON), binary values are base64 text
        return len(base64.b64decode(str(raw), validate=True))
    except (binascii.Error, ValueError):
        return len(str(raw).encode("utf-8"))


def attribute_value_size(value: Any) -> int:
    """The size of a value (its name not included), by DynamoDB's rules."""
    kind, inner = _typed(value)
    if kind == "S":
        return len(str(inner).encode("utf-8"))
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return _binary_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode("utf-8")) for v in inner)
    if kind == "NS":
        return sum(number_size(v) for v in inner)
    if kind == "BS":
        return sum(_binary_size(v) for v in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(str(k).encode("utf-8")) + attribute_value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Mapping[str, Any]) -> int:
    """The size of an item: every attribute's name (UTF-8 bytes) and value."""
    return sum(len(name.encode("utf-8")) + attribute_value_size(value) for name, value in item.items())


# ---------------------------------------------------------------------------------------- units


def write_units(size: int) -> int:
    """WRU of one write of an item this large: 1 per started KB, at least 1."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    """RRU of reading this many bytes: 1 per started 4 KB (strong) or half that, at least one unit."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def item_write_units(before: int | None, after: int | None, *, transactional: bool = False) -> int:
    """A put, update or delete: the larger of the item before and after (None: absent)."""
    return write_units(max(before or 0, after or 0)) * (2 if transactional else 1)


def batch_get_read_units(sizes: Iterable[int], consistent: bool) -> float:
    """BatchGetItem: each item rounded up on its own (a missing item still costs one unit)."""
    return sum(read_units(size, consistent) for size in sizes)


def query_read_units(sizes: Iterable[int], consistent: bool) -> float:
    """Query and Scan: the summed size of the items evaluated, rounded up once."""
    return read_units(sum(sizes), consistent)


@dataclass(frozen=True)
class IndexSpec:
    """What decides an item's entry in a secondary index."""

    name: str
    key_attributes: tuple[str, ...]  # the index's own hash (and range) key
    table_key_attributes: tuple[str, ...]
    projection_type: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class IndexEntry:
    key: str  # the index key's values, canonical JSON
    body: str  # the projected attributes, canonical JSON
    size: int


def index_entry(item: Mapping[str, Any] | None, index: IndexSpec) -> IndexEntry | None:
    """The item's entry in the index, or None when the item lacks one of the index's key attributes."""
    if item is None or any(name not in item for name in index.key_attributes):
        return None
    if index.projection_type == "ALL":
        projected = dict(item)
    else:
        names = set(index.key_attributes) | set(index.table_key_attributes)
        if index.projection_type == "INCLUDE":
            names |= set(index.non_key_attributes)
        projected = {name: value for name, value in item.items() if name in names}
    return IndexEntry(key=_canonical({name: item[name] for name in index.key_attributes}),
                      body=_canonical(projected), size=item_size(projected))


def index_write_units(before: IndexEntry | None, after: IndexEntry | None) -> int:
    """WRU a table write costs in one index, from the item's entry before and after."""
    if before is None and after is None:
        return 0
    if before is None:
        return write_units(after.size)  # type: ignore[union-attr]
    if after is None:
        return write_units(before.size)
    if before.key != after.key:
        return write_units(before.size) + write_units(after.size)  # delete + put
    if before.body == after.body:
        return 0
    return write_units(max(before.size, after.size))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "type") and hasattr(value, "value"):
        return {value.type: value.value}
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


# ---------------------------------------------------------------------------------------- meter


class CapacityMeter:
    """Units per table, index ("" for the table itself) and operation. Thread-safe.

    ``snapshot()`` format (``version`` 1)::

        {"version": 1, "kind": "capacity", "pid": 1234, "updated": 1700000000.0,
         "tables": {"paygate-AggregatesTable": {"": {"TransactWriteItems": {"requests": 1, "failed": 0,
                                                                            "wru": 4, "rru": 0.0}},
                                                "gsi1": {"TransactWriteItems": {"wru": 1, "rru": 0.0}}}}}
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None):
        self._lock = threading.Lock()
        self._units: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
        self.errors = 0  # requests the meter could not measure (never raised to the caller)
        self.pid = os.getpid()
        self._flusher: Flusher | None = None
        if directory is not None:
            path = os.path.join(os.fspath(directory), f"capacity-{self.pid}.json")
            self._flusher = Flusher(path, self.snapshot)

    def add(self, table: str, operation: str, *, index: str = "", requests: int = 0, failed: int = 0,
            wru: float = 0, rru: float = 0) -> None:
        with self._lock:
            counters = self._units.setdefault(table, {}).setdefault(index, {}).setdefault(
                operation, {"requests": 0, "failed": 0, "wru": 0, "rru": 0.0} if not index
                else {"wru": 0, "rru": 0.0})
            if not index:
                counters["requests"] += requests
                counters["failed"] += failed
            counters["wru"] += wru
            counters["rru"] += rru
        if self._flusher is not None:
            self._flusher.touch()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            tables = {table: {index: {op: dict(c) for op, c in ops.items()} for index, ops in indexes.items()}
                      for table, indexes in self._units.items()}
            return {"version": FILE_VERSION, "kind": "capacity", "pid": self.pid, "updated": time.time(),
                    "errors": self.errors, "tables": tables}

    def totals(self) -> dict[str, float]:
        """WRU and RRU summed over every table, index and operation."""
        wru = rru = 0.0
        for indexes in self.snapshot()["tables"].values():
            for ops in indexes.values():
                for counters in ops.values():
                    wru += counters["wru"]
                    rru += counters["rru"]
        return {"wru": wru, "rru": rru}

    def flush(self) -> None:
        if self._flusher is not None:
            self._flusher.flush()
