import pytest
from fakes import FakeIdempotency

from paygate.domain.idempotency import fingerprint, valid_key
from paygate.services.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidRequest,
)
from paygate.services.idempotency import require_key, run_idempotent
from paygate.services.ports import StoredResponse


def test_fingerprint_ignores_key_order_and_spacing():
    assert fingerprint("POST", "/v1/payments", {"a": 1, "b": {"c": 2}}) == \
        fingerprint("post", "/v1/payments", {"b": {"c": 2}, "a": 1})


@pytest.mark.parametrize("other", [
    ("POST", "/v1/payments", {"a": 2}), ("POST", "/v1/refunds", {"a": 1}), ("PUT", "/v1/payments", {"a": 1}),
])
def test_fingerprint_changes_with_any_part_of_the_request(other):
    assert fingerprint("POST", "/v1/payments", {"a": 1}) != fingerprint(*other)


@pytest.mark.parametrize("key,ok", [("k", True), ("x" * 255, True), ("", False), ("x" * 256, False),
                                    (None, False), ("bad\nkey", False)])
def test_keys_are_1_to_255_printable_characters(key, ok):
    assert valid_key(key) is ok


def test_a_missing_key_is_a_400_naming_the_header():
    with pytest.raises(InvalidRequest) as caught:
        require_key(None)
    assert caught.value.param == "Idempotency-Key" and caught.value.status == 400


def run(store, body, work_calls, key="k1"):
    def work(complete):
        work_calls.append(body)
        response = StoredResponse(202, {"n": len(work_calls)}, {"Location": "/x"})
        store.complete(complete(response))
        return response
    return run_idempotent(store, merchant_id="m", key=key, method="POST", path="/v1/payments", body=body,
                          now=1000, work=work)


def test_same_key_same_request_replays_the_first_answer_and_does_the_work_once():
    store, calls = FakeIdempotency(), []
    first = run(store, {"amount": 1}, calls)
    second = run(store, {"amount": 1}, calls)
    assert len(calls) == 1
    assert (second.status, second.body) == (first.status, first.body)
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers


def test_same_key_different_request_is_a_422():
    store, calls = FakeIdempotency(), []
    run(store, {"amount": 1}, calls)
    with pytest.raises(IdempotencyKeyReused):
        run(store, {"amount": 2}, calls)
    assert len(calls) == 1


def test_a_key_still_in_flight_is_a_409():
    store = FakeIdempotency()
    store.claim("m#k1", fingerprint("POST", "/v1/payments", {"amount": 1}), "other-lock", 1000)
    with pytest.raises(IdempotencyKeyInUse):
        run(store, {"amount": 1}, [])


def test_keys_are_scoped_to_the_merchant():
    store, calls = FakeIdempotency(), []
    run(store, {"amount": 1}, calls)
    run_idempotent(store, merchant_id="other", key="k1", method="POST", path="/v1/payments",
                   body={"amount": 1}, now=1000,
                   work=lambda complete: calls.append("other") or StoredResponse(202, {}))
    assert calls == [{"amount": 1}, "other"]


def test_a_failed_attempt_releases_the_key_for_a_retry():
    store, calls = FakeIdempotency(), []

    def broken(complete):
        raise RuntimeError("database down")
    with pytest.raises(RuntimeError):
        run_idempotent(store, merchant_id="m", key="k1", method="POST", path="/v1/payments",
                       body={"amount": 1}, now=1000, work=broken)
    assert run(store, {"amount": 1}, calls).status == 202
