"""`paygate dev`'s runtime controls, through the command as a developer runs it: hot reload (on by default,
`--no-reload`), the debugger (`--debug`, `paygate invoke --debug`, `--debug-wait`).

Each gateway here runs a copy of the repository's template, functions and layer in a temporary
directory, so that the tests can edit "the developer's code" without touching the checkout.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from dap import DapClient
from polling import wait_for

from paygate_local.devprocess import DevProcess

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "runtime" / "template.yaml"
ORIGINAL_SUMMARY = 'summary="Health check"'


def copy_of_the_gateway(where: Path) -> Path:
    """template.yaml with its functions and layer, as a developer's checkout has them."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copy(ROOT / "template.yaml", where / "template.yaml")
    shutil.copytree(ROOT / "functions", where / "functions", ignore=ignore)
    shutil.copytree(ROOT / "layers" / "core", where / "layers" / "core", ignore=ignore)
    return where / "template.yaml"


def edit(path: Path, old: str, new: str) -> None:
    """A save, as an editor makes it: the whole file written again."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def health_summary(api: str) -> str:
    return httpx.get(f"{api}/openapi.json", timeout=30).json()["paths"]["/health"]["get"]["summary"]


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of_the_gateway(tmp_path_factory.mktemp("checkout")).parent


@pytest.fixture(scope="module")
def dev(code: Path, tmp_path_factory: pytest.TempPathFactory):
    with DevProcess(tmp_path_factory.mktemp("dev"), template=code / "template.yaml") as process:
        yield process


def test_a_saved_edit_is_served_by_the_next_invocation_with_state_kept(dev: DevProcess, code: Path) -> None:
    api, key = dev.info.api_url, dev.info.api_key
    headers = {"Authorization": f"Bearer {key}"}
    # State before the edit: a payment, its events, its charge.
    created = httpx.post(f"{api}/v1/payments", headers={**headers, "Idempotency-Key": "before-reload"}, timeout=30,
                         json={"amount": 700, "currency": "EUR", "payment_method": {"type": "card", "token": "tok_success"}})
    assert created.status_code == 202
    payment = created.json()["id"]
    wait_for(lambda: httpx.get(f"{api}/v1/payments/{payment}", headers=headers).json()["status"] == "COMPLETED",
             what="the payment completed")
    assert health_summary(api) == "Health check"

    edit(code / "functions" / "api" / "app.py", ORIGINAL_SUMMARY, 'summary="Health check, edited"')
    wait_for(lambda: health_summary(api) == "Health check, edited", timeout=20, what="the edit served")

    # Nothing else restarted: the same gateway, its payment and events, its idempotency keys.
    assert dev.process.poll() is None
    assert httpx.get(f"{api}/v1/payments/{payment}", headers=headers).json()["status"] == "COMPLETED"
    replay = httpx.post(f"{api}/v1/payments", headers={**headers, "Idempotency-Key": "before-reload"}, timeout=30,
                        json={"amount": 700, "currency": "EUR", "payment_method": {"type": "card", "token": "tok_success"}})
    assert replay.json()["id"] == payment and replay.headers["Idempotent-Replayed"] == "true"
    assert "reloaded ApiFunction" in dev.output()


def test_a_layer_change_reloads_every_function_that_uses_it(dev: DevProcess, code: Path) -> None:
    api = dev.info.api_url
    edit(code / "layers" / "core" / "paygate" / "schemas" / "openapi.py", 'TITLE = "paygate"',
         'TITLE = "paygate, reloaded"')
    wait_for(lambda: httpx.get(f"{api}/openapi.json", timeout=30).json()["info"]["title"] == "paygate, reloaded",
             timeout=20, what="the layer's change served")
    line = wait_for(lambda: next((x for x in dev.output().splitlines() if "(openapi.py)" in x), None),
                    what="the reload line")
    assert all(name in line for name in ("ApiFunction", "ProcessorFunction", "RelayFunction")), line


def test_a_module_that_no_longer_imports_fails_until_the_next_save(dev: DevProcess, code: Path) -> None:
    api = dev.info.api_url
    app = code / "functions" / "api" / "app.py"
    good = app.read_text()
    app.write_text(good + "\ndef broken(:\n")
    wait_for(lambda: httpx.get(f"{api}/health", timeout=30).status_code == 502, timeout=20, what="the broken module")
    log = Path(dev.info.logs_dir) / "ApiFunction.log"
    text = wait_for(lambda: (t := log.read_text()) and "SyntaxError" in t and t, what="the traceback in the log")
    assert "Runtime.ImportModuleError" in text and "app.py" in text
    assert httpx.get(f"{api}/health", timeout=30).status_code == 502  # still, until a save fixes it

    app.write_text(good)
    wait_for(lambda: httpx.get(f"{api}/health", timeout=30).status_code == 200, timeout=20, what="the fix served")


def test_a_changed_template_is_reloaded_or_says_a_restart_is_needed(dev: DevProcess, code: Path) -> None:
    template, api = code / "template.yaml", dev.info.api_url
    original = template.read_text()
    log = Path(dev.info.logs_dir) / "ApiFunction.log"
    try:
        # A function's environment and the API's routes change in place.
        edit(template, "POWERTOOLS_SERVICE_NAME: api\n", "POWERTOOLS_SERVICE_NAME: api-edited\n")
        headers = {"Authorization": f"Bearer {dev.info.api_key}", "Idempotency-Key": "probe"}
        body = {"amount": 100, "currency": "EUR", "payment_method": {"type": "card", "token": "tok_success"}}
        wait_for(lambda: httpx.post(f"{api}/v1/payments", headers=headers, json=body, timeout=30).status_code == 202
                 and '"service":"api-edited"' in log.read_text(), timeout=20, what="the new environment")
        edit(template, 'Properties: { Path: "/health", Method: get }', 'Properties: { Path: "/health", Method: post }')
        answer = wait_for(lambda: (r := httpx.get(f"{api}/health", timeout=30)).status_code == 405 and r,
                          timeout=20, what="the new route")
        assert answer.headers["Allow"] == "POST"
        assert "template.yaml reloaded: ApiFunction" in dev.output()
        assert "template.yaml reloaded: the API's routes" in dev.output()
        # A new queue cannot be made under a running gateway: said, nothing applied.
        edit(template, "\nResources:\n", "\nResources:\n  ExtraQueue:\n    Type: AWS::SQS::Queue\n")
        wait_for(lambda: "restart paygate dev to apply" in dev.output(), timeout=20, what="the restart notice")
        assert "queues" in dev.output().rsplit("template.yaml changed", 1)[1]
    finally:
        template.write_text(original)
    wait_for(lambda: httpx.get(f"{api}/health", timeout=30).status_code == 200, timeout=20,
             what="the original route back")


def test_no_reload_keeps_serving_the_code_it_started_with(tmp_path: Path) -> None:
    (tmp_path / "checkout").mkdir()
    code = copy_of_the_gateway(tmp_path / "checkout").parent
    with DevProcess(tmp_path / "dev", template=code / "template.yaml", extra_args=["--no-reload"]) as dev:
        api = dev.info.api_url
        assert health_summary(api) == "Health check"
        edit(code / "functions" / "api" / "app.py", ORIGINAL_SUMMARY, 'summary="Health check, edited"')
        # With reload on, this is served within a second (the test above); here it never is.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert health_summary(api) == "Health check"
            time.sleep(0.2)
        assert "reloaded" not in dev.output()


def test_debug_answers_dap_on_the_port_printed_and_in_dev_json(tmp_path: Path) -> None:
    with DevProcess(tmp_path / "dev", extra_args=["--debug", "ApiFunction", "--no-reload"]) as dev:
        printed = wait_for(lambda: re.search(r"debugger: ApiFunction on 127\.0\.0\.1:(\d+)", dev.output()),
                           what="the debugger line")
        port = int(printed.group(1))
        assert dev.info.debug == {"ApiFunction": port}
        client = DapClient(port)
        try:
            answer = client.request("initialize", clientID="paygate-tests", adapterID="python")
            assert answer["success"] and answer["command"] == "initialize"
            assert answer["body"]["supportsConfigurationDoneRequest"]
        finally:
            client.sock.close()
        # It does not wait for a debugger: the API answers, through the one warm worker.
        assert httpx.get(f"{dev.info.api_url}/health", timeout=30).status_code == 200


def test_invoke_debug_wait_holds_the_function_and_suspends_its_timeout(tmp_path: Path) -> None:
    """SlowFunction's Timeout is 1 s; held by a debugger, its 2 s invocation is not cut off."""
    event = tmp_path / "slow.json"
    event.write_text(json.dumps({"queryStringParameters": {"sleep": "2"}}))
    command = [sys.executable, "-m", "paygate_local.cli", "invoke", "SlowFunction", str(event), "--template",
               str(FIXTURE), "--debug", "--debug-wait"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        port = None
        for line in process.stderr:  # type: ignore[union-attr]
            found = re.search(r"debugger: SlowFunction on 127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        assert port, "no debugger line"
        assert process.poll() is None  # waiting for a client before its init
        client = DapClient(port)
        client.attach()
        # The invocation runs on (2 s, twice its Timeout) and ends; the debugger is told, and lets go.
        while client.read().get("event") not in ("exited", "terminated"):
            pass
        client.sock.close()
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-2000:]
    assert json.loads(out)["statusCode"] == 200
