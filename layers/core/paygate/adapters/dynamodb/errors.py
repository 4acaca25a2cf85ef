"""DynamoDB's refusals, read once.

A conditional write or a transaction is refused for one of two reasons a repository acts on: a
condition failed (the object moved on, a key was taken, money was short), or it lost a race with
another transaction on the same item while no condition failed (TransactionConflict, which botocore
does not retry and DynamoDB says the caller may). `transact` and `write` raise `Refused` for those
two, read from the error once (the per-item reasons of TransactionCanceled, the old items it returns);
any other error goes through as it came.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from botocore.exceptions import ClientError

TRANSACTION_TRIES = 3
CONDITION_FAILED = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"


class Refused(Exception):
    """A write DynamoDB refused: a failed condition, or a lost race. For a transaction, `reasons`
    holds each item's code in order ("None" for an item that was fine) and `old` the item a refused
    condition returned (ReturnValuesOnConditionCheckFailure); both are empty when the backend said
    nothing per item."""

    def __init__(self, code: str, reasons: tuple[str, ...], old: tuple[dict[str, Any] | None, ...],
                 message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.reasons, self.old, self.message = code, reasons, old, message

    @classmethod
    def read(cls, exc: ClientError) -> Refused | None:
        """The refusal `exc` says, or None when it is another error (a throttle, a bad request ...)."""
        error = exc.response.get("Error", {})
        given = list(exc.response.get("CancellationReasons") or [])
        refused = cls(str(error.get("Code", "")), tuple(str(r.get("Code", "None")) for r in given),
                      tuple(r.get("Item") for r in given), str(exc))
        return refused if refused.condition_failed or refused.conflicted else None

    @property
    def reasons_known(self) -> bool:
        return bool(self.reasons)

    @property
    def condition_failed(self) -> bool:
        if self.code == "ConditionalCheckFailedException":
            return True
        if self.code != "TransactionCanceledException":
            return False
        return CONDITION_FAILED in self.reasons if self.reasons else CONDITION_FAILED in self.message

    @property
    def conflicted(self) -> bool:
        """Refused only because another request touched one of the items at the same moment."""
        if self.code == "TransactionConflictException":
            return True
        return self.code == "TransactionCanceledException" and CONFLICT in self.reasons and not self.condition_failed

    def failed_at(self, index: int) -> bool:
        """The condition of the transaction's item `index` failed."""
        return len(self.reasons) > index and self.reasons[index] == CONDITION_FAILED

    def old_item(self, index: int) -> dict[str, Any] | None:
        return self.old[index] if len(self.old) > index else None


def transact(client: Any, items: list[dict[str, Any]], tries: int = TRANSACTION_TRIES,
             pause: Callable[[int], float] = lambda attempt: 0.05 * attempt) -> None:
    """TransactWriteItems, tried again (after `pause(attempt)` seconds) when it only lost a race."""
    for attempt in range(1, tries + 1):
        try:
            client.transact_write_items(TransactItems=items)
            return
        except ClientError as exc:
            refused = Refused.read(exc)
            if refused is None:
                raise
            if attempt == tries or not refused.conflicted:
                raise refused from exc
            time.sleep(pause(attempt))


def write(call: Callable[..., Any], **kwargs: Any) -> Any:
    """One conditional write (PutItem, UpdateItem, DeleteItem); Refused when its condition failed."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        refused = Refused.read(exc)
        if refused is None:
            raise
        raise refused from exc
