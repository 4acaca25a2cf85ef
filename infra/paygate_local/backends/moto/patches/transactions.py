"""DynamoDB's ``TransactWriteItems``, all or nothing, at a cost that does not grow with the tables.

moto's own deep-copies every table it touches (all items and the whole stream history) before each
transaction, to roll back on failure. Each payment change is one transaction, so the cost of a write
grows with everything written before it: after a few hundred payments a write takes hundreds of
milliseconds. Here the transaction is done the way DynamoDB defines it: every condition is checked
first, against the state before the transaction, and nothing is written unless all pass; the rare
failure while writing is undone item by item (``_undo``). It runs under ``locking.dynamodb_lock``.
"""

from __future__ import annotations

import copy
from typing import Any

from paygate_local.backends.moto.patches.checkpoints import changed
from paygate_local.backends.moto.patches.patching import Patch


def install(patch: Patch) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    patch(DynamoDBBackend, "transact_write_items", transact_write_items)


def _key_of(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return op["Key"]
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()

    # 1. Check: unicity and every condition, against the state before the transaction. No writes.
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[Any, Any, Any]] = []
    plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in ("ConditionCheck", "Put", "Delete", "Update"):
            errors.append(("ValidationError", f"unsupported transaction operation {op_type}", None))
            continue
        table = self.get_table(op["TableName"])
        key = _key_of(table, op_type, op)
        marker = (op["TableName"], str(sorted(key.items())))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(condition, op.get("ExpressionAttributeNames"),
                                          op.get("ExpressionAttributeValues"))
            if not check.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                continue
        errors.append((None, None, None))
        plan.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    # 2. Write, remembering each item as it was, to undo a write that fails half-way.
    undo: list[tuple[Any, dict[str, Any], Any, int | None]] = []
    try:
        for op_type, op, key in plan:
            if op_type == "ConditionCheck":
                continue
            name = op["TableName"]
            table = self.get_table(name)
            before = self.get_item(name, key)
            shard = table.stream_shard
            undo.append((table, key, copy.deepcopy(before), len(shard.items) if shard is not None else None))
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(name, op["Item"], expression_attribute_names=names,
                              expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(name, key, expression_attribute_names=names, expression_attribute_values=values)
            else:
                self.update_item(name, key, update_expression=op["UpdateExpression"],
                                 expression_attribute_names=names, expression_attribute_values=values)
    except MockValidationException:
        _undo(undo)
        raise
    except Exception as exc:  # like moto: any other failure cancels the whole transaction
        _undo(undo)
        failed = len(undo) - 1
        raise TransactionCanceledException(
            [(type(exc).__name__, str(exc), None) if i == failed else (None, None, None)
             for i in range(len(plan))]
        ) from exc


def _undo(undo: list[tuple[Any, dict[str, Any], Any, int | None]]) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    for table, key, before, stream_length in reversed(undo):
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        if range_value is not None:
            if before is None:
                table.items[hash_value].pop(range_value, None)
            else:
                table.items[hash_value][range_value] = before
        elif before is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = before
        if stream_length is not None:
            del table.stream_shard.items[stream_length:]
        changed("item", table.name, hash_value, range_value)
