"""template.yaml is valid SAM, every handler imports, and the local runtime serves every event in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def test_cfn_lint_passes():
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_sam_transform_succeeds():
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    from paygate_local.template import load_template

    class NoIam(ManagedPolicyLoader):
        def __init__(self):
            pass

        def load(self):
            return {}

    template = load_template(TEMPLATE)
    # `sam package` uploads local code and writes S3 URIs in its place; do the same on the copy.
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://paygate-artifacts/{props[key].strip('/')}.zip"
    try:
        out = transform(template, {}, NoIam())
    except InvalidDocumentException as exc:
        pytest.fail("; ".join(str(cause) for cause in exc.causes))
    types = {r["Type"] for r in out["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::Lambda::EventSourceMapping", "AWS::ApiGateway::RestApi",
            "AWS::Lambda::LayerVersion"} <= types


def _stack():
    from paygate_local.template import Stack
    return Stack.from_file(TEMPLATE, parameter_overrides={"Mode": "dev"})


@pytest.mark.parametrize("logical_id", [f.logical_id for f in _stack().functions()])
def test_every_handler_imports_in_its_own_environment(logical_id):
    # A fresh interpreter with only the function's code dir and layers on its path, like Lambda.
    spec = _stack().function(logical_id)
    module, _, attr = spec.handler.rpartition(".")
    code = (f"import importlib, sys; sys.path[:0] = {[str(p) for p in spec.python_paths]!r}; "
            f"m = importlib.import_module({module!r}); assert callable(getattr(m, {attr!r}))")
    env = {**os.environ, **spec.environment, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/")
    assert result.returncode == 0, result.stderr


def test_the_local_runtime_serves_every_event_in_the_template():
    functions = _stack().functions()
    unsupported = {f.logical_id: f.other_events for f in functions if f.other_events}
    assert unsupported == {}
    served = sum(len(f.api_routes) + len(f.sqs_mappings) + len(f.stream_mappings) + len(f.schedules)
                 for f in functions)
    declared = sum(len((r.get("Properties") or {}).get("Events") or {})
                   for r in _stack().template["Resources"].values() if r["Type"] == "AWS::Serverless::Function")
    assert served == declared


def test_every_queue_has_a_dead_letter_queue_and_every_mapping_reports_partial_failures():
    stack = _stack()
    queues = {q.logical_id: q for q in stack.queues()}
    dlqs = {lid for q in queues.values() for lid in q.depends_on}
    for lid, q in queues.items():
        assert lid in dlqs or "RedrivePolicy" in q.properties or lid.endswith("DLQ"), lid
    for f in stack.functions():
        for m in f.sqs_mappings:
            assert m.report_batch_item_failures, (f.logical_id, m.event)
        for m in f.stream_mappings:
            assert m.report_batch_item_failures and m.bisect_on_error and m.on_failure_arn
            assert 0 <= m.maximum_retry_attempts <= 100


def test_every_sample_event_is_valid_json_and_named_for_a_function():
    names = {f.code_dir.name for f in _stack().functions()}
    files = list((ROOT / "events").glob("*/*.json"))
    assert files
    for path in files:
        assert path.parent.name in names, path
        json.loads(path.read_text())
