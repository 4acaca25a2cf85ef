"""Lost races in DynamoDB transactions: retried when no condition failed; a key taken says by whom."""

import pytest
from botocore.exceptions import ClientError

from paygate.adapters.dynamodb.errors import Refused, transact
from paygate.adapters.dynamodb.idempotency import IdempotencyKeys
from paygate.services.ports.idempotency import IdempotencyRecord, KeyAlreadyUsed, KeyBusy

KEY = IdempotencyRecord("m#k", "fp-new", "pay_new", 2000)


def cancelled(*reasons):
    return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                        "CancellationReasons": [r if isinstance(r, dict) else {"Code": r} for r in reasons]},
                       "TransactWriteItems")


class Client:
    def __init__(self, *errors, stored=None):
        self.errors, self.calls, self.stored = list(errors), 0, stored

    def transact_write_items(self, TransactItems):  # noqa: N803 - boto3's name
        self.calls += 1
        self.items = TransactItems
        if self.errors:
            raise self.errors.pop(0)

    def get_item(self, **kwargs):
        return {"Item": self.stored} if self.stored else {}


def test_a_transaction_that_only_lost_a_race_is_tried_again():
    client = Client(cancelled("None", "TransactionConflict"))
    transact(client, [{}])
    assert client.calls == 2


def test_a_failed_condition_is_never_retried():
    client = Client(cancelled("ConditionalCheckFailed", "TransactionConflict"))
    with pytest.raises(Refused) as caught:
        transact(client, [{}])
    assert client.calls == 1
    assert caught.value.condition_failed and caught.value.failed_at(0) and not caught.value.conflicted


def test_an_error_that_is_no_refusal_goes_through_as_it_came():
    throttled = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                            "TransactWriteItems")
    client = Client(throttled)
    with pytest.raises(ClientError) as caught:
        transact(client, [{}])
    assert caught.value is throttled and client.calls == 1


def test_the_key_and_the_object_are_one_transaction_and_the_key_may_be_reused_once_expired():
    client = Client()
    IdempotencyKeys(client, "keys").create_with("objects", {"pk": "pay_new"}, KEY, 1000)
    obj, key = client.items
    assert obj["Put"]["ConditionExpression"] == "attribute_not_exists(pk)"
    assert key["Put"]["ConditionExpression"] == "attribute_not_exists(pk) OR expires_at < :now"
    assert key["Put"]["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"


def test_a_key_taken_says_which_request_took_it_from_the_refused_condition():
    old = {"pk": {"S": "m#k"}, "fingerprint": {"S": "fp-old"}, "ref": {"S": "pay_old"}, "expires_at": {"N": "5000"}}
    client = Client(cancelled("None", {"Code": "ConditionalCheckFailed", "Item": old}))
    with pytest.raises(KeyAlreadyUsed) as caught:
        IdempotencyKeys(client, "keys").create_with("objects", {"pk": "pay_new"}, KEY, 1000)
    assert caught.value.existing == IdempotencyRecord("m#k", "fp-old", "pay_old", 5000)


def test_without_the_old_item_in_the_answer_the_key_is_read():
    stored = {"pk": {"S": "m#k"}, "fingerprint": {"S": "fp-old"}, "ref": {"S": "pay_old"}, "expires_at": {"N": "5000"}}
    client = Client(cancelled("None", "ConditionalCheckFailed"), stored=stored)
    with pytest.raises(KeyAlreadyUsed) as caught:
        IdempotencyKeys(client, "keys").create_with("objects", {"pk": "pay_new"}, KEY, 1000)
    assert caught.value.existing.ref == "pay_old"


def test_a_race_that_outlasts_its_retries_is_a_busy_key():
    client = Client(*[cancelled("None", "TransactionConflict")] * 3)
    with pytest.raises(KeyBusy):
        IdempotencyKeys(client, "keys").create_with("objects", {"pk": "pay_new"}, KEY, 1000)
