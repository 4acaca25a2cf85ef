"""`paygate invoke`: every sample event in events/ run through its function, as `sam local invoke`
would, against a backend with the template's resources and a real merchant."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from paygate_local.cli.invoke import Target, run_function
from paygate_local.merchants import create_merchant
from paygate_local.runtime import LocalRuntime
from paygate_local.template import Stack
from sandbox_provider import SandboxProvider

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = sorted((ROOT / "events").glob("*/*.json"))
FUNCTION_OF = {f.code_dir.name: f.logical_id
               for f in Stack.from_file(TEMPLATE, parameter_overrides={"Mode": "dev"}).functions()}
# What each API sample answers for a merchant with nothing yet (the ids in the samples are placeholders).
API_STATUS = {"create_payment": 202, "create_payment_invalid_amount": 400, "create_webhook_endpoint": 201,
              "health": 200, "list_payments": 200, "list_webhook_endpoints": 200, "list_events": 200,
              "get_payment": 404, "list_payment_events": 404, "delete_webhook_endpoint": 404,
              "list_failed_deliveries": 404, "list_deliveries": 404, "redeliver": 404, "get_event": 404,
              # Customers, wallets, orders: a customer is made; what names a placeholder id is unknown.
              "create_customer": 201, "get_customer": 404, "list_notifications": 404, "get_wallet": 404,
              "create_topup": 404, "list_wallet_entries": 404, "get_balance": 200, "create_order": 400,
              "list_orders": 400, "get_order": 404, "create_bill_payment": 400,
              # API keys: another key is made, the merchant's are listed, a placeholder id is unknown.
              "create_api_key": 201, "list_api_keys": 200, "revoke_api_key": 404,
              # Routing: the default until set, then the one set.
              "put_routing": 200, "get_routing": 200}


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    state = tmp_path_factory.mktemp("invoke")
    with SandboxProvider() as sandbox:
        overrides = {"Mode": "dev", "ProviderUrl": sandbox.url}
        with LocalRuntime(TEMPLATE, state, parameter_overrides=overrides, api_port=0, prewarm=False) as runtime:
            env = runtime.env_for("ApiFunction")
            merchant = create_merchant("invoke", merchants_table=env["MERCHANTS_TABLE"],
                                       endpoint=runtime.aws_endpoint_url, region=runtime.region)
            yield Target(runtime.aws_endpoint_url, runtime.region, overrides), merchant, state


@pytest.mark.parametrize("path", EVENTS, ids=[f"{p.parent.name}/{p.stem}" for p in EVENTS])
def test_every_sample_event_runs_through_its_function(running, path):
    target, merchant, state = running
    event = json.loads(path.read_text().replace("sk_test_REPLACE_WITH_A_KEY", merchant["api_key"]))
    result = run_function(TEMPLATE, FUNCTION_OF[path.parent.name], event, target, log_path=state / "invoke.log")
    assert result.ok, result.error
    if path.parent.name == "api":
        assert result.payload["statusCode"] == API_STATUS[path.stem], result.payload
        assert json.loads(result.payload["body"]) is not None
    elif path.parent.name == "reconcile":
        assert result.payload == {"checked": 0}
    elif path.parent.name == "callbacks":
        # A Stripe webhook whose signature is a placeholder: refused (401), or 404 where this runtime
        # has no Stripe connector; never a 5xx.
        assert result.payload["statusCode"] in (401, 404), result.payload
    else:
        assert result.payload == {"batchItemFailures": []}
    assert set(API_STATUS) == {p.stem for p in EVENTS if p.parent.name == "api"}  # no sample unchecked


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paygate_local.cli", "invoke", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_the_command_prints_the_result_on_stdout_and_logs_on_stderr_with_a_fresh_backend():
    done = _cli("ApiFunction", "events/api/health.json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["statusCode"] == 200 and "fresh embedded backend" in done.stderr
    # An event on stdin, with text replaced first: a failed invocation is exit status 1 with Lambda's error.
    broken = _cli("RelayFunction", "-", "--replace", "RECORDS=1", stdin='{"Records": RECORDS}')
    assert broken.returncode == 1 and json.loads(broken.stdout)["errorType"], broken.stdout


def test_the_command_refuses_an_unknown_function_or_an_unreadable_event():
    unknown = _cli("NoSuchFunction", "events/api/health.json")
    assert unknown.returncode == 2 and "ApiFunction" in unknown.stderr and unknown.stdout == ""
    missing = _cli("ApiFunction", "events/api/nope.json")
    assert missing.returncode == 2 and "cannot read the event" in missing.stderr
