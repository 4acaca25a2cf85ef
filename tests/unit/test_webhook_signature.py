import json

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from paygate.domain.webhooks import (
    DEV_SCHEDULE,
    PRODUCTION_SCHEDULE,
    envelope,
    retry_delay,
    sign,
    subscribes,
)
from paygate.services.webhooks.endpoints import new_secret


def test_signatures_verify_with_the_standardwebhooks_package():
    secret = new_secret()
    body = json.dumps(envelope("evt_1", "payment.completed", "2026-01-01T00:00:00.000Z", {"id": "pay_1"}))
    import time
    now = int(time.time())
    headers = sign(secret, "evt_1", now, body)
    assert headers["webhook-id"] == "evt_1"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers)["data"]["object"]["id"] == "pay_1"


def test_a_tampered_body_or_another_secret_fails_verification():
    import time
    secret, now = new_secret(), int(time.time())
    headers = sign(secret, "evt_1", now, '{"a":1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify('{"a":2}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify('{"a":1}', headers)


def test_secrets_have_the_standard_prefix_and_differ():
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and a != b


def test_the_production_schedule_is_the_documented_one():
    assert PRODUCTION_SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert sum(PRODUCTION_SCHEDULE) < 4 * 24 * 3600
    assert len(DEV_SCHEDULE) == len(PRODUCTION_SCHEDULE) and max(DEV_SCHEDULE) <= 60


def test_retry_delay_runs_out_after_the_schedule():
    assert [retry_delay((5, 300), n) for n in (1, 2, 3)] == [5, 300, None]


def test_subscriptions():
    assert subscribes(["*"], "payment.failed")
    assert subscribes(["payment.completed"], "payment.completed")
    assert not subscribes(["payment.completed"], "payment.failed")


def test_after_a_rotation_both_secrets_sign_for_24_hours_then_only_the_new_one():
    import json as _json

    from standardwebhooks import Webhook

    from paygate.domain.accounts import WebhookEndpoint
    from paygate.domain.webhooks import ROTATION_OVERLAP_SECONDS, sign_with

    old, new = "whsec_" + "a" * 32, "whsec_" + "b" * 32
    endpoint = WebhookEndpoint("we_1", "mer_1", "http://127.0.0.1/h", old, ("*",), "t").rotated(new, 1_000, ROTATION_OVERLAP_SECONDS)
    assert endpoint.signing_secrets(1_000) == (new, old)
    assert endpoint.signing_secrets(1_000 + ROTATION_OVERLAP_SECONDS) == (new,)
    body = _json.dumps({"id": "evt_1"})
    now = int(__import__("time").time())
    headers = sign_with(endpoint.signing_secrets(1_000), "evt_1", now, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a receiver with either secret accepts it
        Webhook(secret).verify(body, headers)
    # the endpoint is stored and loaded with its previous secret
    from paygate.adapters.dynamodb.endpoints import endpoint_from_item, endpoint_item
    from paygate.adapters.dynamodb.items import dump, load
    assert endpoint_from_item(load(dump(endpoint_item(endpoint)))) == endpoint
