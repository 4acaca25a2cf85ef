"""API keys through the api function against moto: made, listed, revoked at once, never the last;
`last_used_at` written at most once per key per interval, not once per request."""

from __future__ import annotations

import json

import pytest
from lambda_harness import load_event

from paygate.adapters.dynamodb.merchants import MerchantsTable


@pytest.fixture
def api(handler_of):
    return handler_of("ApiFunction")


def call(api, name, key, body=None, **replace):
    event = load_event(name, **replace)
    event["headers"]["Authorization"] = f"Bearer {key}"
    event["multiValueHeaders"]["Authorization"] = [f"Bearer {key}"]
    if body is not None:
        event["body"] = body
    answer = api(event)
    return answer["statusCode"], json.loads(answer["body"])


def test_a_key_is_rolled_then_the_old_one_revoked_and_refused_at_the_next_request(api, merchant):
    old = merchant["api_key"]
    # Given a second key made with the first
    status, made = call(api, "api/create_api_key.json", old)
    assert status == 201, made
    assert made["object"] == "api_key" and made["id"].startswith("key_") and made["secret"].startswith("sk_test_")
    assert made["prefix"] == made["secret"][:12] and made["last_used_at"] is None
    new = made["secret"]
    # Then both are listed, oldest first, without the keys themselves; the old one was used just now
    status, listed = call(api, "api/list_api_keys.json", new)
    assert status == 200 and listed["object"] == "list" and len(listed["data"]) == 2
    first, second = listed["data"]
    assert second["id"] == made["id"] and first["prefix"] == old[:12]
    assert first["last_used_at"] is not None and second["last_used_at"] is not None
    assert old not in json.dumps(listed) and new not in json.dumps(listed)
    # When the old key is revoked (with the new one), then the very next request with it is 401
    status, revoked = call(api, "api/revoke_api_key.json", new, key_REPLACE=first["id"])
    assert (status, revoked) == (200, {"id": first["id"], "object": "api_key", "deleted": True})
    status, refused = call(api, "api/list_api_keys.json", old)
    assert status == 401 and refused["error"]["code"] == "invalid_api_key"
    status, listed = call(api, "api/list_api_keys.json", new)
    assert [k["id"] for k in listed["data"]] == [made["id"]]
    # And revoking it again is 404; the last key is never revoked (409, the documented shape)
    assert call(api, "api/revoke_api_key.json", new, key_REPLACE=first["id"])[0] == 404
    status, last = call(api, "api/revoke_api_key.json", new, key_REPLACE=made["id"])
    assert status == 409 and last["error"]["code"] == "invalid_state" and last["error"]["param"] == "id"
    assert "create another" in last["error"]["message"] or "make another" in last["error"]["message"]
    assert call(api, "api/list_api_keys.json", new)[0] == 200


def test_a_key_may_revoke_itself_while_another_is_left(api, merchant):
    status, made = call(api, "api/create_api_key.json", merchant["api_key"])
    assert call(api, "api/revoke_api_key.json", made["secret"], key_REPLACE=made["id"])[0] == 200
    assert call(api, "api/list_api_keys.json", made["secret"])[0] == 401
    assert call(api, "api/list_api_keys.json", merchant["api_key"])[0] == 200


def test_another_merchants_key_cannot_be_seen_nor_revoked(api, aws, merchant):
    from lambda_harness import make_merchant

    other = make_merchant(aws, "other")
    status, theirs = call(api, "api/create_api_key.json", other["api_key"])
    assert status == 201
    assert call(api, "api/revoke_api_key.json", merchant["api_key"], key_REPLACE=theirs["id"])[0] == 404
    listed = call(api, "api/list_api_keys.json", merchant["api_key"])[1]["data"]
    assert theirs["id"] not in {k["id"] for k in listed} and len(listed) == 1


@pytest.mark.parametrize("key_id", ["key_" + "x" * 300, "%00", "key_REPLACE'--", "ключ", "a/b"])
def test_nonsense_ids_are_4xx_never_5xx(api, merchant, key_id):
    status, body = call(api, "api/revoke_api_key.json", merchant["api_key"], key_REPLACE=key_id)
    assert 400 <= status < 500 and body["error"]["code"], body


@pytest.mark.parametrize("body", ["{not json", json.dumps({"name": "x"}), json.dumps([1, 2])])
def test_a_body_on_create_is_never_a_5xx(api, merchant, body):
    status, answer = call(api, "api/create_api_key.json", merchant["api_key"], body=body)
    assert status in (201, 400), answer


def test_last_used_is_not_written_by_every_request(api, merchant, monkeypatch):
    writes: list[str] = []
    touch = MerchantsTable.touch_key

    def counted(self, key_hash, at, unless_since):
        writes.append(at)
        return touch(self, key_hash, at, unless_since)

    monkeypatch.setattr(MerchantsTable, "touch_key", counted)
    for _ in range(5):
        assert call(api, "api/list_api_keys.json", merchant["api_key"])[0] == 200
    assert len(writes) == 1  # the first request; the next ones read a recent enough last_used_at
