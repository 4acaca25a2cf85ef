"""DynamoDB capacity units computed from the real item sizes, by DynamoDB's documented rules.

moto reports a constant ``ConsumedCapacity``, so ``make bench`` computes the units itself, where
moto's backend lives: ``install(directory)`` wraps moto's DynamoDB request handlers, looks at each
item before and after every request, and adds the units to a ``CapacityMeter`` per table, index
and operation, written to ``<directory>/capacity-<pid>.json`` (at most every 200 ms).

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
import functools
import inspect
import json
import math
import os
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, ContextManager, Iterable, Iterator, Mapping

try:  # a module of the paygate_local package
    from paygate_local.metering.meter_hook import Flusher
except ImportError:  # pragma: no cover - loaded from its file, next to meter_hook.py
    from meter_hook import Flusher  # type: ignore[no-redef]

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


# ---------------------------------------------------------------------------------------- moto side

_HANDLER_METHODS = ("put_item", "update_item", "delete_item", "get_item", "batch_get_item",
                    "batch_write_item", "transact_write_items", "transact_get_items", "query", "scan")
_originals: dict[tuple[type, str], Any] = {}
_local = threading.local()
_install_lock = threading.Lock()


def install(meter: CapacityMeter | str | os.PathLike[str] | None = None,
            lock: ContextManager[Any] | None = None) -> CapacityMeter:
    """Meter every DynamoDB request moto serves in this process (its server and ``mock_aws`` alike).

    ``meter``: a CapacityMeter, or a directory to write ``capacity-<pid>.json`` into. ``lock``: the
    lock moto's DynamoDB backend is serialized with, if any (held around each request so that the
    items seen before and after are exactly the request's own). Call it after the runtime's moto
    patches are applied; ``uninstall()`` undoes it. Raises RuntimeError on a moto whose handlers do
    not look as expected.
    """
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    if not isinstance(meter, CapacityMeter):
        meter = CapacityMeter(meter)
    with _install_lock:
        uninstall()
        for name in _HANDLER_METHODS:
            if not callable(getattr(DynamoHandler, name, None)):
                raise RuntimeError(f"moto's DynamoHandler has no {name}(): capacity metering does not "
                                   "know this moto version")
        for name in ("query", "scan"):
            if "filter_expression" not in inspect.signature(getattr(Table, name)).parameters:
                raise RuntimeError(f"moto's Table.{name}() takes no filter_expression: capacity metering "
                                   "does not know this moto version")
        guard = lock if lock is not None else nullcontext()
        for name in _HANDLER_METHODS:
            original = getattr(DynamoHandler, name)
            _originals[(DynamoHandler, name)] = original
            setattr(DynamoHandler, name, _metered(original, _OPERATIONS[name], meter, guard))
        for name in ("query", "scan"):
            original = getattr(Table, name)
            _originals[(Table, name)] = original
            setattr(Table, name, _sizing(original))
    return meter


def uninstall() -> None:
    for (owner, name), original in _originals.items():
        setattr(owner, name, original)
    _originals.clear()


def _metered(original: Callable[[Any], Any], operation: Callable[..., Iterator[None]], meter: CapacityMeter,
             guard: ContextManager[Any]) -> Callable[[Any], Any]:
    from moto.dynamodb.exceptions import ConditionalCheckFailed, TransactionCanceledException

    @functools.wraps(original)
    def handle(handler: Any) -> Any:
        if getattr(_local, "sizes", None) is not None:  # a request inside a request: the outer one counts
            return original(handler)
        _local.sizes = []
        try:
            with guard:
                measure = _start(operation, meter, handler)
                try:
                    result = original(handler)
                except ConditionalCheckFailed:
                    _finish(measure, meter, "condition")
                    raise
                except TransactionCanceledException:
                    _finish(measure, meter, "canceled")
                    raise
                _finish(measure, meter, None)
                return result
        finally:
            _local.sizes = None

    handle.__paygate_capacity__ = True  # type: ignore[attr-defined]
    return handle


def _start(operation: Callable[..., Iterator[None]], meter: CapacityMeter, handler: Any) -> Iterator[None] | None:
    try:
        measure = operation(meter, handler.dynamodb_backend, handler.body)
        next(measure)
        return measure
    except Exception:  # noqa: BLE001 - a request the meter cannot read is moto's to refuse
        meter.errors += 1
        return None


def _finish(measure: Iterator[None] | None, meter: CapacityMeter, failure: str | None) -> None:
    if measure is None:
        return
    try:
        measure.send(failure)  # type: ignore[attr-defined]
    except StopIteration:
        pass
    except Exception:  # noqa: BLE001 - metering never breaks a request
        meter.errors += 1


def _sizing(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def evaluate(*args: Any, **kwargs: Any) -> Any:
        sizes = getattr(_local, "sizes", None)
        if sizes is None:
            return original(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.arguments["filter_expression"] = _SizingFilter(bound.arguments.get("filter_expression"), sizes)
        return original(*bound.args, **bound.kwargs)

    return evaluate


class _SizingFilter:
    """Stands in for a Query's or Scan's filter: records the size of every item evaluated, then filters."""

    def __init__(self, inner: Any, sizes: list[int]):
        self.inner, self.sizes = inner, sizes

    def expr(self, item: Any) -> bool:
        self.sizes.append(item_size(item.to_json()["Attributes"]))
        return True if self.inner is None else bool(self.inner.expr(item))


# ---- what each operation reads and writes


@dataclass(frozen=True)
class _State:
    size: int | None  # None: no item
    entries: dict[str, IndexEntry | None]


class _TableView:
    def __init__(self, backend: Any, table_name: str):
        self.table = backend.get_table(table_name)
        self.name = self.table.name
        self.backend = backend
        table_keys = tuple(a for a in (self.table.hash_key_attr, self.table.range_key_attr) if a)
        self.indexes = [
            IndexSpec(name=index.name,
                      key_attributes=tuple(k["AttributeName"] for k in index.schema),
                      table_key_attributes=table_keys,
                      projection_type=(index.projection or {}).get("ProjectionType", "ALL"),
                      non_key_attributes=tuple((index.projection or {}).get("NonKeyAttributes") or ()))
            for index in list(self.table.global_indexes or []) + list(self.table.indexes or [])
        ]

    def key_of_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {a: item[a] for a in (self.table.hash_key_attr, self.table.range_key_attr) if a}

    def state(self, key: Mapping[str, Any]) -> _State:
        hash_key, range_key = self.backend.get_keys_value(self.table, key)
        item = self.table.get_item(hash_key, range_key)
        attrs = item.to_json()["Attributes"] if item is not None else None
        return _State(size=item_size(attrs) if attrs is not None else None,
                      entries={index.name: index_entry(attrs, index) for index in self.indexes})


def _charge_write(meter: CapacityMeter, view: _TableView, operation: str, before: _State, after: _State,
                  failure: str | None, *, transactional: bool = False, requests: int = 1,
                  check_only: bool = False) -> None:
    if failure is not None:
        units = write_units(before.size or 0) * (2 if failure == "condition" and transactional else 1)
        meter.add(view.name, operation, requests=requests, failed=requests, wru=units)
        return
    if check_only:
        meter.add(view.name, operation, requests=requests, wru=item_write_units(before.size, None, transactional=True))
        return
    meter.add(view.name, operation, requests=requests,
              wru=item_write_units(before.size, after.size, transactional=transactional))
    for index in view.indexes:
        units = index_write_units(before.entries[index.name], after.entries[index.name])
        if units:
            meter.add(view.name, operation, index=index.name, wru=units)


def _single_write(operation: str, key_of: Callable[[_TableView, dict[str, Any]], dict[str, Any]]) -> Callable[..., Iterator[None]]:
    def measure(meter: CapacityMeter, backend: Any, body: dict[str, Any]) -> Iterator[None]:
        view = _TableView(backend, body["TableName"])
        key = key_of(view, body)
        before = view.state(key)
        failure = yield
        after = before if failure else view.state(key)
        _charge_write(meter, view, operation, before, after, failure)

    return measure


def _reads(operation: str, collect: Callable[[Any, dict[str, Any]], list[tuple[str, float]]]) -> Callable[..., Iterator[None]]:
    """A read operation: ``collect`` the (table, RRU) it costs before the request, charge them if it succeeds."""

    def measure(meter: CapacityMeter, backend: Any, body: dict[str, Any]) -> Iterator[None]:
        reads = collect(backend, body)
        failure = yield
        if failure is None:
            for table, units in reads:
                meter.add(table, operation, requests=1, rru=units)

    return measure


def _get_item_reads(backend: Any, body: dict[str, Any]) -> list[tuple[str, float]]:
    view = _TableView(backend, body["TableName"])
    return [(view.name, read_units(view.state(body["Key"]).size or 0, bool(body.get("ConsistentRead"))))]


def _batch_get_item_reads(backend: Any, body: dict[str, Any]) -> list[tuple[str, float]]:
    reads = []
    for table_name, request in (body.get("RequestItems") or {}).items():
        view = _TableView(backend, table_name)
        sizes = [view.state(key).size or 0 for key in request.get("Keys") or []]
        reads.append((view.name, batch_get_read_units(sizes, bool(request.get("ConsistentRead")))))
    return reads


def _transact_get_items_reads(backend: Any, body: dict[str, Any]) -> list[tuple[str, float]]:
    reads = []
    for entry in body.get("TransactItems") or []:
        get = entry.get("Get") or {}
        view = _TableView(backend, get["TableName"])
        reads.append((view.name, 2 * read_units(view.state(get["Key"]).size or 0, True)))
    return reads


def _batch_write_item(meter: CapacityMeter, backend: Any, body: dict[str, Any]) -> Iterator[None]:
    writes = []
    for table_name, requests in (body.get("RequestItems") or {}).items():
        view = _TableView(backend, table_name)
        for request in requests:
            put = request.get("PutRequest")
            key = view.key_of_item(put["Item"]) if put else request["DeleteRequest"]["Key"]
            writes.append((view, key, view.state(key)))
    failure = yield
    if failure is None:
        for view, key, before in writes:
            _charge_write(meter, view, "BatchWriteItem", before, view.state(key), None, requests=0)
        for name in {view.name for view, _, _ in writes}:
            meter.add(name, "BatchWriteItem", requests=1)


def _transact_write_items(meter: CapacityMeter, backend: Any, body: dict[str, Any]) -> Iterator[None]:
    writes = []
    for entry in body.get("TransactItems") or []:
        kind, op = next(iter(entry.items()))
        view = _TableView(backend, op["TableName"])
        key = view.key_of_item(op["Item"]) if kind == "Put" else op["Key"]
        writes.append((kind, view, key, view.state(key)))
    failure = yield
    for kind, view, key, before in writes:
        if failure is not None:
            _charge_write(meter, view, "TransactWriteItems", before, before, "canceled", requests=0)
        else:
            _charge_write(meter, view, "TransactWriteItems", before, view.state(key), None, transactional=True,
                          requests=0, check_only=kind == "ConditionCheck")
    for name in {view.name for _, view, _, _ in writes}:
        meter.add(name, "TransactWriteItems", requests=1, failed=1 if failure else 0)


def _evaluating(operation: str) -> Callable[..., Iterator[None]]:
    def measure(meter: CapacityMeter, backend: Any, body: dict[str, Any]) -> Iterator[None]:
        view = _TableView(backend, body["TableName"])
        failure = yield
        if failure is None:
            sizes = list(_local.sizes or [])
            meter.add(view.name, operation, requests=1)
            meter.add(view.name, operation, index=body.get("IndexName") or "",
                      rru=query_read_units(sizes, bool(body.get("ConsistentRead"))))

    return measure


_OPERATIONS: dict[str, Callable[..., Iterator[None]]] = {
    "put_item": _single_write("PutItem", lambda view, body: view.key_of_item(body["Item"])),
    "update_item": _single_write("UpdateItem", lambda view, body: body["Key"]),
    "delete_item": _single_write("DeleteItem", lambda view, body: body["Key"]),
    "get_item": _reads("GetItem", _get_item_reads),
    "batch_get_item": _reads("BatchGetItem", _batch_get_item_reads),
    "batch_write_item": _batch_write_item,
    "transact_write_items": _transact_write_items,
    "transact_get_items": _reads("TransactGetItems", _transact_get_items_reads),
    "query": _evaluating("Query"),
    "scan": _evaluating("Scan"),
}
