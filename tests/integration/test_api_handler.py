"""The api function against moto: the public contract of DESIGN.md section 5, event by event."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from lambda_harness import load_event, make_merchant

# Idempotency keys expire against the clock: also run 90 days ahead (tests/conftest.py).
pytestmark = pytest.mark.clock_sensitive


@pytest.fixture
def api(handler_of):
    return handler_of("ApiFunction")


def call(api, name, key, **replace):
    event = load_event(name, **replace)
    if key is None:
        event["headers"].pop("Authorization", None)
        event["multiValueHeaders"].pop("Authorization", None)
    else:
        event["headers"]["Authorization"] = f"Bearer {key}"
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {key}"]
    return unpack(api(event))


def unpack(response):
    """API Gateway's REST shape: single headers and multi-value headers together."""
    headers = dict(response.get("headers") or {})
    headers.update({k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items() if v})
    return response["statusCode"], json.loads(response["body"]), headers


def create(api, key, idem="order-1001-attempt-1", body=None):
    event = load_event("api/create_payment.json")
    event["headers"].update({"Authorization": f"Bearer {key}", "Idempotency-Key": idem})
    if body is not None:
        event["body"] = json.dumps(body)
    return unpack(api(event))


def test_health_needs_no_key(api):
    status, body, _ = call(api, "api/health.json", None)
    assert (status, body) == (200, {"status": "ok"})


def test_a_payment_is_accepted_new_with_a_location(api, merchant):
    # Given a merchant, when it posts the sample payment
    status, body, headers = create(api, merchant["api_key"])
    # Then it is accepted at once, NEW, version 1, currency upper-cased
    assert status == 202
    assert body["id"].startswith("pay_") and body["object"] == "payment"
    assert (body["status"], body["version"], body["currency"], body["amount"]) == ("NEW", 1, "USD", 1050)
    assert body["failure"] is None and body["amount_refunded"] == 0
    assert headers["Location"] == f"/v1/payments/{body['id']}"


def test_same_key_same_body_replays_the_first_response(api, merchant):
    first = create(api, merchant["api_key"])
    again = create(api, merchant["api_key"])
    assert again[0] == first[0] == 202 and again[1] == first[1]
    assert again[2]["Idempotent-Replayed"] == "true"
    _, listed, _ = call(api, "api/list_payments.json", merchant["api_key"])
    status, everything, _ = call(api, "api/list_payments.json", merchant["api_key"])
    assert status == 200


def test_a_key_answers_the_first_payment_for_24_hours_then_is_free_again(api, merchant):
    """Measured against the clock of the moment, not a date written in the test."""
    from datetime import datetime, timedelta, timezone

    import time_machine

    first = create(api, merchant["api_key"], idem="kept-a-day")
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(hours=23, minutes=59), tick=True):
        status, again, headers = create(api, merchant["api_key"], idem="kept-a-day")
        assert (status, again, headers["Idempotent-Replayed"]) == (202, first[1], "true")
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(hours=24, seconds=5), tick=True):
        status, later, headers = create(api, merchant["api_key"], idem="kept-a-day")
        assert status == 202 and later["id"] != first[1]["id"] and "Idempotent-Replayed" not in headers


def test_same_key_different_body_is_422(api, merchant):
    create(api, merchant["api_key"])
    event_body = json.loads(load_event("api/create_payment.json")["body"])
    status, body, _ = create(api, merchant["api_key"], body={**event_body, "amount": 999})
    assert status == 422 and body["error"]["code"] == "idempotency_key_reused"


def test_the_same_request_spelled_differently_is_a_replay_not_a_422(api, merchant):
    """"usd" then "USD", keys in another order, white space: the request as understood is the same."""
    event_body = json.loads(load_event("api/create_payment.json")["body"])
    first = create(api, merchant["api_key"], body={**event_body, "currency": "usd"})
    again = create(api, merchant["api_key"], body=dict(reversed(list({**event_body, "currency": "USD"}.items()))))
    assert (first[0], again[0]) == (202, 202) and again[1]["id"] == first[1]["id"]
    assert again[2]["Idempotent-Replayed"] == "true"


def test_concurrent_requests_with_one_key_make_exactly_one_payment(api, merchant):
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: create(api, merchant["api_key"], idem="race-1"), range(8)))
    ids = {body["id"] for status, body, _ in results if status == 202}
    assert len(ids) == 1
    # The key is written in the creating transaction: a loser replays the winner's answer (409 only
    # if it kept colliding with the winner's transaction itself).
    assert all(status in (202, 409) for status, _, _ in results)
    assert sum(1 for status, _, h in results if status == 202 and "Idempotent-Replayed" not in h) == 1


def test_get_list_and_events_of_own_payment(api, merchant):
    _, created, _ = create(api, merchant["api_key"])
    status, got, _ = call(api, "api/get_payment.json", merchant["api_key"], pay_REPLACE=created["id"])
    assert status == 200 and got == created
    status, events, _ = call(api, "api/list_payment_events.json", merchant["api_key"], pay_REPLACE=created["id"])
    assert status == 200
    assert [(e["sequence"], e["type"]) for e in events["data"]] == [(1, "payment.created")]
    assert events["data"][0]["data"]["object"]["status"] == "NEW"


def test_another_merchants_payment_is_404_never_403(api, aws, merchant):
    _, created, _ = create(api, merchant["api_key"])
    other = make_merchant(aws, "other")
    for name in ("api/get_payment.json", "api/list_payment_events.json"):
        status, body, _ = call(api, name, other["api_key"], pay_REPLACE=created["id"])
        assert status == 404 and body["error"]["code"] == "resource_missing"
    status, listed, _ = call(api, "api/list_payments.json", other["api_key"])
    assert listed["data"] == []


def test_list_is_newest_first_with_cursor_and_status_filter(api, merchant):
    ids = [create(api, merchant["api_key"], idem=f"k{i}")[1]["id"] for i in range(3)]
    event = load_event("api/list_payments.json")
    event["headers"]["Authorization"] = f"Bearer {merchant['api_key']}"
    event["queryStringParameters"] = {"limit": "2"}
    page = json.loads(api(event)["body"])
    assert [p["id"] for p in page["data"]] == ids[::-1][:2] and page["has_more"] is True
    event["queryStringParameters"] = {"limit": "2", "starting_after": ids[1]}
    page = json.loads(api(event)["body"])
    assert [p["id"] for p in page["data"]] == [ids[0]] and page["has_more"] is False
    event["queryStringParameters"] = {"status": "COMPLETED"}
    assert json.loads(api(event)["body"])["data"] == []
    event["queryStringParameters"] = {"status": "NEW"}
    assert len(json.loads(api(event)["body"])["data"]) == 3


@pytest.mark.parametrize("auth", [None, "Bearer sk_test_nope", "Basic abc", "Bearer "])
def test_bad_or_missing_keys_are_401(api, auth):
    event = load_event("api/get_payment.json", pay_REPLACE="pay_x")
    event["headers"].pop("Authorization")
    if auth:
        event["headers"]["Authorization"] = auth
    response = api(event)
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["type"] == "authentication_error"


def test_invalid_input_is_400_with_the_error_shape(api, merchant):
    status, body, _ = call(api, "api/create_payment_invalid_amount.json", merchant["api_key"])
    assert status == 400
    assert set(body["error"]) == {"type", "code", "message", "param"} and body["error"]["param"] == "amount"


def test_missing_idempotency_key_is_400(api, merchant):
    event = load_event("api/create_payment.json")
    event["headers"]["Authorization"] = f"Bearer {merchant['api_key']}"
    del event["headers"]["Idempotency-Key"]
    response = api(event)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["param"] == "Idempotency-Key"


def test_oversize_idempotency_key_is_400_and_oversize_body_413(api, merchant):
    assert create(api, merchant["api_key"], idem="k" * 256)[0] == 400
    status, body, _ = create(api, merchant["api_key"], idem="big",
                             body={"amount": 1, "currency": "USD", "description": "x" * 70_000,
                                   "payment_method": {"type": "card", "token": "tok_success"}})
    assert status == 413 and body["error"]["code"] == "body_too_large"


def test_webhook_endpoints_create_list_delete(api, merchant):
    status, created, _ = call(api, "api/create_webhook_endpoint.json", merchant["api_key"])
    assert status == 201 and created["id"].startswith("we_") and created["secret"].startswith("whsec_")
    status, listed, _ = call(api, "api/list_webhook_endpoints.json", merchant["api_key"])
    assert [e["id"] for e in listed["data"]] == [created["id"]] and "secret" not in listed["data"][0]
    event = load_event("api/list_webhook_endpoints.json")
    event["headers"]["Authorization"] = f"Bearer {merchant['api_key']}"
    event["queryStringParameters"] = {"limit": "abc"}
    status, body, _ = unpack(api(event))
    assert status == 400 and body["error"]["code"] == "parameter_unknown" and body["error"]["param"] == "limit"
    status, deleted, _ = call(api, "api/delete_webhook_endpoint.json", merchant["api_key"], we_REPLACE=created["id"])
    assert status == 200 and deleted["deleted"] is True
    status, _, _ = call(api, "api/delete_webhook_endpoint.json", merchant["api_key"], we_REPLACE=created["id"])
    assert status == 404


def test_production_mode_refuses_loopback_webhook_urls(handler_of, merchant):
    api = handler_of("ApiFunction", PAYGATE_MODE="prod")
    status, body, _ = call(api, "api/create_webhook_endpoint.json", merchant["api_key"])
    assert status == 400 and body["error"]["param"] == "url"


def test_the_merchants_text_is_stored_once_and_the_key_only_points_at_the_payment(api, aws, merchant):
    import boto3

    body = {"amount": 1, "currency": "USD", "description": "D" * 500, "metadata": {"order": "M" * 100},
            "payment_method": {"type": "card", "token": "tok_success"}}
    status, created, _ = create(api, merchant["api_key"], idem="once", body=body)
    assert status == 202
    ddb = boto3.client("dynamodb")
    stored = json.dumps([ddb.scan(TableName=aws.env("ApiFunction")[t])["Items"]
                         for t in ("AGGREGATES_TABLE", "IDEMPOTENCY_TABLE")])
    assert stored.count("D" * 500) == 1 and stored.count("M" * 100) == 1
    [key] = ddb.scan(TableName=aws.env("ApiFunction")["IDEMPOTENCY_TABLE"])["Items"]
    assert set(key) == {"pk", "fingerprint", "ref", "expires_at"} and key["ref"]["S"] == created["id"]


def test_a_replay_is_the_first_answer_even_after_the_payment_moved_on(api, aws, merchant):
    import boto3

    from paygate.adapters.dynamodb.idempotency import IdempotencyKeys
    from paygate.adapters.dynamodb.payments import PaymentsTable
    from paygate.domain import payment as d
    from paygate.services.ports.records import EventMeta

    _, created, _ = create(api, merchant["api_key"], idem="moved")
    ddb, env = boto3.client("dynamodb"), aws.env("ApiFunction")
    repo = PaymentsTable(ddb, env["AGGREGATES_TABLE"], IdempotencyKeys(ddb, env["IDEMPOTENCY_TABLE"]))
    record = repo.get(created["id"])
    started, event = d.start_processing(record.state, event_id="evt_moved", now="2030-01-01T00:00:00.000Z")
    repo.append(record, [event], started, EventMeta())
    _, now, _ = call(api, "api/get_payment.json", merchant["api_key"], pay_REPLACE=created["id"])
    assert (now["status"], now["version"]) == ("PROCESSING", 2)
    status, again, headers = create(api, merchant["api_key"], idem="moved")
    assert (status, again, headers["Idempotent-Replayed"]) == (202, created, "true")


@pytest.mark.parametrize("name", ["api/create_payment.json", "api/create_webhook_endpoint.json",
                                  "api/delete_webhook_endpoint.json", "api/list_failed_deliveries.json",
                                  "api/list_payment_events.json", "api/get_payment.json", "api/list_payments.json"])
def test_an_unknown_query_parameter_is_400_on_every_route(api, merchant, name):
    event = load_event(name)
    event["headers"].update({"Authorization": f"Bearer {merchant['api_key']}", "Idempotency-Key": "query-rule"})
    event["queryStringParameters"] = {**(event.get("queryStringParameters") or {}), "expand": "everything"}
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in event["queryStringParameters"].items()}
    status, body, _ = unpack(api(event))
    assert status == 400, body
    assert (body["error"]["code"], body["error"]["param"]) == ("parameter_unknown", "expand")


@pytest.mark.parametrize("method, param, code", [
    ({"type": "wallet", "wallet_id": "wal_1"}, "payment_method.wallet_id", "wallet_not_found"),
    ({"type": "card", "token": "tok_unknown"}, "payment_method.token", "invalid_token"),
])
def test_what_the_gateway_cannot_take_is_refused_at_once_not_failed_later(api, merchant, method, param, code):
    event_body = json.loads(load_event("api/create_payment.json")["body"])
    status, body, _ = create(api, merchant["api_key"], idem=f"refused-{code}", body={**event_body, "payment_method": method})
    assert status == 400 and (body["error"]["param"], body["error"]["code"]) == (param, code)
    if code == "invalid_token":
        assert "tok_success" in body["error"]["message"] and "tok_pending" in body["error"]["message"]
    _, listed, _ = call(api, "api/list_payments.json", merchant["api_key"])
    assert listed["data"] == []


def list_payments(api, key, query):
    event = load_event("api/list_payments.json")
    event["headers"]["Authorization"] = f"Bearer {key}"
    event["queryStringParameters"] = query
    return unpack(api(event))


def test_list_query_parses_strings_and_bounds_the_limit(api, merchant):
    """(Moved from the unit tests of ListPaymentsQuery: the query is typed in the route's signature.)"""
    assert list_payments(api, merchant["api_key"], {"limit": "5", "status": "COMPLETED"})[0] == 200
    for bad in ({"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"status": "DONE"}, {"sort": "asc"}):
        status, body, _ = list_payments(api, merchant["api_key"], bad)
        assert status == 400 and body["error"]["param"] == next(iter(bad)), (bad, body)


def test_the_key_is_checked_before_anything_about_the_request_is_said(api):
    """401 first: a caller without a valid key learns nothing of what the route would have refused."""
    event = load_event("api/create_payment.json")
    event["headers"]["Authorization"] = "Bearer sk_test_nope"
    event["headers"].pop("Idempotency-Key")
    event["body"] = "{not json"
    event["queryStringParameters"] = {"expand": "x"}
    status, body, _ = unpack(api(event))
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")


@pytest.mark.parametrize("content, code, param", [
    ("{not json", "idempotency_key_missing", "Idempotency-Key"),  # the header's error before the body's
    ('{"amount": 1, "amount": 2}', "idempotency_key_missing", "Idempotency-Key"),
])
def test_a_header_error_comes_before_a_body_that_cannot_be_read(api, merchant, content, code, param):
    event = load_event("api/create_payment.json")
    event["headers"]["Authorization"] = f"Bearer {merchant['api_key']}"
    event["headers"].pop("Idempotency-Key")
    event["body"] = content
    status, body, _ = unpack(api(event))
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, code, param)


@pytest.mark.parametrize("content, content_type", [
    ('{"amount": 1, "amount": 2}', "application/json"), ("NaN", "application/json"),
    ('{"amount": 100}'.encode("utf-16").decode("latin-1"), "application/json"), ("[1]", "text/plain"),
])
def test_a_body_is_read_by_paygates_rules_whatever_its_content_type(api, merchant, content, content_type):
    event = load_event("api/create_payment.json")
    event["headers"].update({"Authorization": f"Bearer {merchant['api_key']}", "Content-Type": content_type})
    event["body"] = content
    status, body, _ = unpack(api(event))
    assert (status, body["error"]["code"]) == (400, "invalid_json")


def test_a_form_content_type_is_still_read_as_json(api, merchant):
    """curl -d sends application/x-www-form-urlencoded: the README's examples must work as they are."""
    event = load_event("api/create_payment.json")
    event["headers"].update({"Authorization": f"Bearer {merchant['api_key']}",
                             "Content-Type": "application/x-www-form-urlencoded"})
    event["multiValueHeaders"]["Content-Type"] = ["application/x-www-form-urlencoded"]
    status, body, _ = unpack(api(event))
    assert status == 202 and body["status"] == "NEW"


def test_an_answer_that_does_not_match_its_model_is_a_500_never_sent(api, merchant, monkeypatch):
    """The answer's model is checked before it leaves: a mapping bug is paygate's 500, logged, and the
    malformed object never reaches the merchant."""
    import sys

    routes = sys.modules["routes.payments"]
    real = routes.Payment.of

    def broken(payment):
        answer = real(payment)
        answer.status = "SOMETHING_ELSE"
        return answer

    _, created, _ = create(api, merchant["api_key"], idem="model-check")
    monkeypatch.setattr(routes.Payment, "of", broken)
    status, body, _ = call(api, "api/get_payment.json", merchant["api_key"], pay_REPLACE=created["id"])
    assert status == 500 and "error" in body, (status, body)
    assert (body["error"]["type"], body["error"]["code"]) == ("api_error", "internal_error")
    assert "SOMETHING_ELSE" not in json.dumps(body)
