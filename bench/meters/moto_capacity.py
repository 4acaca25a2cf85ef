"""The capacity meter's moto side: DynamoDB requests served by moto, measured as they are served.

``install(meter)`` wraps moto's DynamoDB request handlers (``DynamoHandler``) and its tables'
Query and Scan: each request looks at the items it touches before and after, under moto's
DynamoDB lock when there is one, and adds the units ``capacity.py``'s rules give to a
``CapacityMeter``. A request inside a request counts once (the outer one). A request the meter
cannot read is counted in ``CapacityMeter.errors`` and left to moto; metering never fails one.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterator, Mapping

from .capacity import (
    CapacityMeter,
    IndexEntry,
    IndexSpec,
    batch_get_read_units,
    index_entry,
    index_write_units,
    item_size,
    item_write_units,
    query_read_units,
    read_units,
    write_units,
)

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
