"""Lost races in DynamoDB transactions: retried when no condition failed, answered 409 on a key claim."""

import pytest
from botocore.exceptions import ClientError

from paygate.adapters.dynamodb import IdempotencyTable, transact
from paygate.services.ports import InProgress


def cancelled(*codes):
    return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                        "CancellationReasons": [{"Code": c} for c in codes]}, "TransactWriteItems")


class Client:
    def __init__(self, *errors):
        self.errors, self.calls = list(errors), 0

    def transact_write_items(self, TransactItems):  # noqa: N803 - boto3's name
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)

    def put_item(self, **kwargs):
        raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "in a transaction"}},
                          "PutItem")


def test_a_transaction_that_only_lost_a_race_is_tried_again():
    client = Client(cancelled("None", "TransactionConflict"))
    transact(client, [{}])
    assert client.calls == 2


def test_a_failed_condition_is_never_retried():
    client = Client(cancelled("ConditionalCheckFailed", "TransactionConflict"))
    with pytest.raises(ClientError):
        transact(client, [{}])
    assert client.calls == 1


def test_a_claim_that_meets_the_first_requests_transaction_is_in_progress():
    table = IdempotencyTable(Client(), "t", ttl_seconds=60, lock_seconds=30)
    assert table.claim("m#k", "fp", "lock", 1000) == InProgress()
