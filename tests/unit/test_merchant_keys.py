"""API keys over an in-memory fake of the merchants table: made (shown once), listed, revoked at once,
never the last; when each was last used written at most once per LAST_USED_EVERY seconds, by a clock
the test sets."""

import pytest
from fakes import FakeMerchants

from paygate.ids import iso_of
from paygate.services import merchants
from paygate.services.errors import AuthenticationFailed, InvalidState, NotFound

NOW = 1_000_000  # epoch seconds the test's clock starts at, whatever the date


def bearer(key: str) -> str:
    return f"Bearer {key}"


def test_a_new_key_works_beside_the_first_and_is_shown_once():
    repo = FakeMerchants()
    merchant, first = merchants.register_merchant(repo, "acme")
    key, second = merchants.create_key(repo, merchant)
    assert second.startswith("sk_test_") and second != first and key.prefix == second[:12]
    assert merchants.authenticate(repo, bearer(first), NOW) == merchant
    assert merchants.authenticate(repo, bearer(second), NOW) == merchant
    listed = merchants.list_keys(repo, merchant)
    assert key.id in {k.id for k in listed} and len(listed) == 2
    assert all(second not in repr(k) for k in listed)  # the key itself is nowhere but in its answer


def test_a_revoked_key_is_refused_at_the_very_next_request_with_no_time_passing():
    # Given two keys, both used at NOW
    repo = FakeMerchants()
    merchant, first = merchants.register_merchant(repo, "acme")
    key, second = merchants.create_key(repo, merchant)
    merchants.authenticate(repo, bearer(second), NOW)
    # When the second is revoked, then the next request with it, at the same instant, is 401
    assert merchants.revoke_key(repo, merchant, key.id) == key.id
    with pytest.raises(AuthenticationFailed):
        merchants.authenticate(repo, bearer(second), NOW)
    assert merchants.authenticate(repo, bearer(first), NOW) == merchant
    with pytest.raises(NotFound):
        merchants.revoke_key(repo, merchant, key.id)


def test_the_last_key_cannot_be_revoked():
    repo = FakeMerchants()
    merchant, first = merchants.register_merchant(repo, "acme")
    [only] = merchants.list_keys(repo, merchant)
    with pytest.raises(InvalidState) as caught:
        merchants.revoke_key(repo, merchant, only.id)
    assert caught.value.code == "invalid_state" and caught.value.param == "id"
    assert merchants.authenticate(repo, bearer(first), NOW) == merchant


def test_another_merchants_key_and_nonsense_ids_are_not_found():
    repo = FakeMerchants()
    acme, _ = merchants.register_merchant(repo, "acme")
    other, _ = merchants.register_merchant(repo, "other")
    theirs, _ = merchants.create_key(repo, other)
    for key_id in (theirs.id, "key_nope", "x" * 65, ""):
        with pytest.raises(NotFound):
            merchants.revoke_key(repo, acme, key_id)
    assert len(merchants.list_keys(repo, other)) == 2


def test_last_used_is_written_at_most_once_per_interval_per_key():
    repo = FakeMerchants()
    merchant, key = merchants.register_merchant(repo, "acme")
    every = merchants.LAST_USED_EVERY
    # 100 requests within one interval: one write
    for second in range(0, every, every // 100 or 1):
        merchants.authenticate(repo, bearer(key), NOW + second)
    assert len(repo.touches) == 1
    [listed] = merchants.list_keys(repo, merchant)
    assert listed.last_used_at == iso_of(NOW)
    # The first request once the interval has passed writes again, with its own time
    merchants.authenticate(repo, bearer(key), NOW + every)
    assert len(repo.touches) == 2 and merchants.list_keys(repo, merchant)[0].last_used_at == iso_of(NOW + every)


def test_a_refused_key_records_no_use():
    repo = FakeMerchants()
    merchants.register_merchant(repo, "acme")
    for header in (None, "Bearer sk_test_unknown", "Basic abc", "Bearer " + "sk_test_" + "a" * 300):
        with pytest.raises(AuthenticationFailed):
            merchants.authenticate(repo, header, NOW)
    assert repo.touches == []
