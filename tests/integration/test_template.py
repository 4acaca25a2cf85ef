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


FIXTURE = ROOT / "tests" / "fixtures" / "runtime" / "template.yaml"


def _declared_id(value) -> str | None:
    """The logical id behind !GetAtt X.Arn as template.yaml writes it."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return target.split(".", 1)[0] if isinstance(target, str) else target[0]
    return None


def _int_or_none(value):
    """A resolved number property (a parameter's value comes as a string), as the runtime reads it."""
    return None if value is None else int(value)


@pytest.mark.parametrize("path, overrides", [(TEMPLATE, {"Mode": "dev"}),
                                             (FIXTURE, {"Mode": "dev", "RecordDir": "/r"})],
                         ids=["template.yaml", "fixture"])
def test_routes_mappings_and_schedules_read_from_the_transform_are_what_the_template_declares(path, overrides):
    """Every Api, SQS, DynamoDB and Schedule event of the template as written, with its properties,
    is exactly what the runtime reads from the CloudFormation aws-sam-translator makes of it."""
    from paygate_local.template import ApiRoute, Schedule, SqsMapping, Stack, StreamMapping

    stack = Stack.from_file(path, parameter_overrides=overrides)
    routes, sqs, streams, schedules = [], [], [], []
    for lid, resource in stack.template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for name, event in (resource["Properties"].get("Events") or {}).items():
            props = event.get("Properties") or {}
            report = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
            if event["Type"] == "Api":
                routes.append(ApiRoute(lid, name, "/" + props["Path"].strip("/"), props["Method"].upper()))
            elif event["Type"] == "SQS":
                sqs.append(SqsMapping(
                    lid, name, stack.resolve(props["Queue"]), _declared_id(props["Queue"]),
                    batch_size=props.get("BatchSize", 10),
                    batching_window=props.get("MaximumBatchingWindowInSeconds", 0),
                    report_batch_item_failures=report, enabled=props.get("Enabled", True),
                    maximum_concurrency=_int_or_none(stack.resolve(
                        (props.get("ScalingConfig") or {}).get("MaximumConcurrency")))))
            elif event["Type"] == "DynamoDB":
                streams.append(StreamMapping(
                    lid, name, stack.resolve(props["Stream"]), _declared_id(props["Stream"]),
                    starting_position=props["StartingPosition"], batch_size=props.get("BatchSize", 100),
                    batching_window=props.get("MaximumBatchingWindowInSeconds", 0),
                    maximum_retry_attempts=props.get("MaximumRetryAttempts", -1),
                    bisect_on_error=props.get("BisectBatchOnFunctionError", False),
                    report_batch_item_failures=report,
                    on_failure_arn=stack.resolve(((props.get("DestinationConfig") or {}).get("OnFailure") or {})
                                                 .get("Destination")),
                    enabled=props.get("Enabled", True)))
            elif event["Type"] == "Schedule":
                schedules.append(Schedule(lid, name, props["Schedule"], enabled=props.get("Enabled", True)))
            else:
                pytest.fail(f"{lid}.{name}: an event type this test does not know: {event['Type']}")
    functions = stack.functions()
    assert routes and (sqs or streams)
    assert sorted(map(repr, (r for f in functions for r in f.api_routes))) == sorted(map(repr, routes))
    assert [m for f in functions for m in f.sqs_mappings] == sqs
    assert [m for f in functions for m in f.stream_mappings] == streams
    assert [s for f in functions for s in f.schedules] == schedules
    assert {f.logical_id: f.other_events for f in functions if f.other_events} == {}
