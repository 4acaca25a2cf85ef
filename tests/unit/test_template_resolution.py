"""Pure template resolution of the local runtime (paygate_local.template): no sockets, no backend."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from paygate_local.template import (
    ApiRoute,
    Schedule,
    SqsMapping,
    Stack,
    StreamMapping,
    TemplateError,
    load_template,
    merge_globals,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "runtime" / "template.yaml"
REAL_TEMPLATE = REPO / "template.yaml"


def stack_from(text: str, tmp_path: Path, **kwargs) -> Stack:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text))
    return Stack.from_file(path, **kwargs)


MINI = """
Parameters:
  Env: {Type: String, Default: prod, AllowedValues: [prod, dev]}
  Count: {Type: Number, Default: 5}
  Names: {Type: CommaDelimitedList, Default: "a,b,c"}
  NoDefault: {Type: String}
Conditions:
  IsDev: !Equals [!Ref Env, dev]
  NotDev: !Not [!Condition IsDev]
  Both: !And [!Condition NotDev, !Equals [!Ref Count, 5]]
  Either: !Or [!Condition IsDev, !Equals ["x", "y"]]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-table-${Env}"
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Unnamed:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Fifo:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: !Ref Count}
  Dlq:
    Type: AWS::SQS::Queue
    Properties: {QueueName: my-dlq}
  DevOnly:
    Type: AWS::SQS::Queue
    Condition: IsDev
"""


@pytest.fixture
def mini(tmp_path: Path) -> Stack:
    return stack_from(MINI, tmp_path, parameter_overrides={"NoDefault": "given"})


def test_parameters_defaults_overrides_and_checks(tmp_path: Path) -> None:
    stack = stack_from(MINI, tmp_path, parameter_overrides={"NoDefault": "x", "Env": "dev"})
    assert stack.resolve({"Ref": "Env"}) == "dev"
    assert stack.resolve({"Ref": "Count"}) == "5"  # CloudFormation hands numbers over as strings
    assert stack.resolve({"Ref": "Names"}) == ["a", "b", "c"]
    with pytest.raises(TemplateError, match="without a default"):
        stack_from(MINI, tmp_path)
    with pytest.raises(TemplateError, match="not one of"):
        stack_from(MINI, tmp_path, parameter_overrides={"NoDefault": "x", "Env": "qa"})
    with pytest.raises(TemplateError, match="unknown parameter"):
        stack_from(MINI, tmp_path, parameter_overrides={"NoDefault": "x", "Nope": "1"})


def test_pseudo_parameters(tmp_path: Path) -> None:
    stack = stack_from(MINI, tmp_path, stack_name="s1", region="eu-west-1", account_id="111122223333",
                       parameter_overrides={"NoDefault": "x"})
    assert stack.resolve({"Fn::Sub": "${AWS::StackName}:${AWS::Region}:${AWS::AccountId}:"
                                      "${AWS::Partition}:${AWS::URLSuffix}"}) == \
        "s1:eu-west-1:111122223333:aws:amazonaws.com"


def test_physical_names(mini: Stack) -> None:
    assert mini.physical_name("Table") == "paygate-table-prod"
    assert mini.physical_name("Unnamed") == "paygate-Unnamed"
    assert mini.physical_name("Fifo") == "paygate-Fifo.fifo"
    assert mini.physical_name("Dlq") == "my-dlq"


def test_getatt_and_ref_per_type(mini: Stack) -> None:
    assert mini.resolve({"Fn::GetAtt": ["Dlq", "Arn"]}) == "arn:aws:sqs:us-east-1:123456789012:my-dlq"
    assert mini.resolve({"Fn::GetAtt": "Dlq.QueueName"}) == "my-dlq"
    assert mini.resolve({"Ref": "Table"}) == "paygate-table-prod"
    assert mini.resolve({"Fn::GetAtt": ["Table", "Arn"]}) == \
        "arn:aws:dynamodb:us-east-1:123456789012:table/paygate-table-prod"
    # Before provisioning: deterministic placeholders; afterwards: what the backend said.
    assert mini.resolve({"Ref": "Dlq"}).endswith("/123456789012/my-dlq")
    mini.set_attribute("Dlq", "QueueUrl", "http://127.0.0.1:1/123456789012/my-dlq")
    mini.set_attribute("Table", "StreamArn", "arn:stream")
    assert mini.resolve({"Ref": "Dlq"}) == "http://127.0.0.1:1/123456789012/my-dlq"
    assert mini.resolve({"Fn::GetAtt": ["Table", "StreamArn"]}) == "arn:stream"
    with pytest.raises(TemplateError):
        mini.resolve({"Fn::GetAtt": ["Dlq", "Nope"]})
    with pytest.raises(TemplateError):
        mini.resolve({"Ref": "Missing"})


def test_sub_join_select_split_if(mini: Stack) -> None:
    assert mini.resolve({"Fn::Sub": ["${A}-${Dlq.QueueName}-${!Literal}", {"A": {"Ref": "Env"}}]}) == \
        "prod-my-dlq-${Literal}"
    assert mini.resolve({"Fn::Join": [",", ["a", {"Ref": "Count"}, 7]]}) == "a,5,7"
    assert mini.resolve({"Fn::Select": [1, {"Ref": "Names"}]}) == "b"
    assert mini.resolve({"Fn::Split": ["/", "x/y"]}) == ["x", "y"]
    assert mini.resolve({"Fn::If": ["IsDev", "d", "p"]}) == "p"
    assert mini.condition("NotDev") and mini.condition("Both") and not mini.condition("Either")
    assert mini.resolve({"a": {"Fn::If": ["IsDev", 1, {"Ref": "AWS::NoValue"}]}, "b": 2}) == {"b": 2}
    assert mini.resolve([1, {"Ref": "AWS::NoValue"}, 3]) == [1, 3]


def test_conditions_exclude_resources(tmp_path: Path) -> None:
    prod = stack_from(MINI, tmp_path, parameter_overrides={"NoDefault": "x"})
    dev = stack_from(MINI, tmp_path, parameter_overrides={"NoDefault": "x", "Env": "dev"})
    assert "DevOnly" not in [q.logical_id for q in prod.queues()]
    assert "DevOnly" in [q.logical_id for q in dev.queues()]


def test_queues_come_after_their_dead_letter_queues(mini: Stack) -> None:
    order = [q.logical_id for q in mini.queues()]
    assert order.index("Dlq") < order.index("Fifo")
    fifo = next(q for q in mini.queues() if q.logical_id == "Fifo")
    assert fifo.fifo and fifo.depends_on == ("Dlq",)
    assert fifo.properties["RedrivePolicy"] == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:my-dlq", "maxReceiveCount": "5"}


def test_merge_globals_sam_rules() -> None:
    glob = {"Timeout": 30, "Layers": [{"Ref": "L1"}],
            "Environment": {"Variables": {"A": "g", "B": "g"}}, "Tracing": {"Ref": "X"}}
    local = {"Timeout": 5, "Layers": [{"Ref": "L2"}], "Environment": {"Variables": {"B": "f"}},
             "Tracing": "Active"}
    merged = merge_globals(glob, local)
    assert merged["Timeout"] == 5
    assert merged["Layers"] == [{"Ref": "L1"}, {"Ref": "L2"}]
    assert merged["Environment"] == {"Variables": {"A": "g", "B": "f"}}
    assert merged["Tracing"] == "Active"
    assert glob["Environment"]["Variables"]["B"] == "g"  # the globals are not modified


def test_fixture_functions_resolve(tmp_path: Path) -> None:
    stack = Stack.from_file(FIXTURE, parameter_overrides={"Mode": "dev", "RecordDir": "/r"})
    functions = {f.logical_id: f for f in stack.functions()}
    echo = functions["EchoFunction"]
    assert echo.name == "paygate-EchoFunction"
    assert echo.handler == "app.handler"
    assert (echo.timeout, echo.memory_size) == (20.0, 384)  # Timeout from Globals, memory its own
    assert echo.code_dir == FIXTURE.parent / "functions" / "echo"
    assert echo.python_paths == [echo.code_dir, FIXTURE.parent / "layer"]
    env = echo.environment
    assert env["SHARED"] == "from-function" and env["GREETING"] == "hello"
    assert env["MODE_LABEL"] == "development"
    assert env["ITEMS_TABLE"] == "paygate-ItemsTable"
    assert env["JOBS_DLQ_ARN"] == "arn:aws:sqs:us-east-1:123456789012:paygate-JobsDLQ.fifo"
    assert env["JOINED"] == "hello|paygate-jobs.fifo"
    assert env["STACK_INFO"] == "paygate/us-east-1/123456789012"
    # Every function on the runtime make setup prepares an environment for (.venv/lambda/python3.12).
    assert {f.runtime for f in functions.values()} == {"python3.12"}
    assert functions["SlowFunction"].timeout == 1.0
    assert functions["SlowFunction"].environment["SHARED"] == "from-globals"

    routes = {(r.method, r.path) for r in echo.api_routes}
    assert ("GET", "/things/{id}") in routes and ("ANY", "/files/{proxy+}") in routes

    (jobs,) = functions["JobsFunction"].sqs_mappings
    assert jobs.queue_arn == "arn:aws:sqs:us-east-1:123456789012:paygate-jobs.fifo"
    assert jobs.queue_logical_id == "JobsQueue"
    assert jobs.batch_size == 10 and jobs.report_batch_item_failures

    (items,) = functions["StreamFunction"].stream_mappings
    assert items.table_logical_id == "ItemsTable"
    assert items.maximum_retry_attempts == 2 and items.bisect_on_error
    assert items.on_failure_arn == "arn:aws:sqs:us-east-1:123456789012:paygate-stream-failures"
    assert items.starting_position == "TRIM_HORIZON" and items.batch_size == 10


def test_bad_yaml_is_reported_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("Resources:\n  X: { Path: /a/{id}, Method: get }\n")
    with pytest.raises(TemplateError, match="bad.yaml"):
        load_template(path)


def test_real_template_resolves_every_function_and_event() -> None:
    """The project's own template.yaml: every function's environment and every event resolve."""
    stack = Stack.from_file(REAL_TEMPLATE, parameter_overrides={"Mode": "dev"})
    functions = stack.functions()
    assert functions, "template.yaml declares no functions"
    table_names = {t.name for t in stack.tables()}
    queue_arns = {q.arn for q in stack.queues()}
    for spec in functions:
        assert spec.handler and spec.timeout > 0 and spec.memory_size > 0
        assert re.fullmatch(r"python3\.\d+", spec.runtime or ""), (spec.logical_id, spec.runtime)
        assert spec.layer_dirs, f"{spec.logical_id} has no layer"
        for name, value in spec.environment.items():
            assert isinstance(value, str) and "${" not in value, (spec.logical_id, name, value)
        for name, value in spec.environment.items():
            if name.endswith("_TABLE"):
                assert value in table_names, (spec.logical_id, name, value)
        assert not spec.other_events, f"{spec.logical_id}: unsupported events {spec.other_events}"
        for mapping in spec.sqs_mappings:
            assert mapping.queue_arn in queue_arns, (spec.logical_id, mapping)
        for mapping in spec.stream_mappings:
            assert mapping.table_logical_id in {t.logical_id for t in stack.tables()}
            if mapping.on_failure_arn:
                assert mapping.on_failure_arn in queue_arns
        for route in spec.api_routes:
            assert route.path.startswith("/") and route.method
    # Every queue's redrive target is a queue of the template.
    for queue in stack.queues():
        policy = queue.properties.get("RedrivePolicy")
        if policy:
            assert policy["deadLetterTargetArn"] in queue_arns
            assert int(policy["maxReceiveCount"]) >= 1


# ------------------------------------------------------------------ the SAM transform (aws-sam-translator)

RICH = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  CodeDir: {Type: String, Default: code}
Globals:
  Function:
    Runtime: python3.12
    CodeUri: !Sub "${CodeDir}/"
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties: {StageName: v1-beta}
  Queue:
    Type: AWS::SQS::Queue
  Simple:
    Type: AWS::Serverless::SimpleTable
    Properties: {PrimaryKey: {Name: id, Type: Number}}
  Changes:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      AutoPublishAlias: live
      Events:
        Root: {Type: Api, Properties: {Path: /, Method: get, RestApiId: !Ref Api}}
        Anything: {Type: Api, Properties: {Path: "/x/{proxy+}", Method: any, RestApiId: !Ref Api}}
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 7
            MaximumBatchingWindowInSeconds: 2
            Enabled: false
            ScalingConfig: {MaximumConcurrency: 3}
        Feed:
          Type: DynamoDB
          Properties: {Stream: !GetAtt Changes.StreamArn, StartingPosition: LATEST, MaximumRetryAttempts: 4}
        Nightly: {Type: Schedule, Properties: {Schedule: "cron(0 3 * * ? *)", Enabled: false}}
        Often: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(2 minutes)}}
        Kin:
          Type: Kinesis
          Properties: {Stream: "arn:aws:kinesis:us-east-1:123456789012:stream/s", StartingPosition: LATEST}
"""


def sam_stack(text: str, tmp_path: Path, **kwargs) -> Stack:
    return stack_from(text, tmp_path, cache_dir=tmp_path / "cache", **kwargs)


def test_routes_mappings_and_schedules_come_from_the_transformed_cloudformation(tmp_path: Path) -> None:
    stack = sam_stack(RICH, tmp_path)
    types = {r["Type"] for r in stack.resources.values()}
    assert {"AWS::Lambda::Function", "AWS::Lambda::Alias", "AWS::ApiGateway::RestApi",
            "AWS::Events::Rule", "AWS::Scheduler::Schedule"} <= types
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    (worker,) = stack.functions()
    assert worker.code_dir == tmp_path / "code"  # Globals' CodeUri, its !Sub resolved
    assert (worker.runtime, worker.timeout, worker.memory_size) == ("python3.12", 3.0, 128)
    # The explicit API's stage is not alphanumeric (its permissions' ids are hashed): names still found.
    assert set(worker.api_routes) == {ApiRoute("Worker", "Root", "/", "GET"),
                                      ApiRoute("Worker", "Anything", "/x/{proxy+}", "ANY")}
    # The mappings name the function through its alias (AutoPublishAlias).
    assert worker.sqs_mappings == [SqsMapping(
        "Worker", "Jobs", "arn:aws:sqs:us-east-1:123456789012:paygate-Queue", "Queue", batch_size=7,
        batching_window=2.0, report_batch_item_failures=False, enabled=False, maximum_concurrency=3)]
    assert worker.stream_mappings == [StreamMapping(
        "Worker", "Feed", stack.get_att("Changes", "StreamArn"), "Changes", starting_position="LATEST",
        maximum_retry_attempts=4)]
    assert set(worker.schedules) == {Schedule("Worker", "Nightly", "cron(0 3 * * ? *)", enabled=False),
                                     Schedule("Worker", "Often", "rate(2 minutes)", enabled=True)}
    assert worker.other_events == {"Kin": "Kinesis"}
    (simple,) = [t for t in stack.tables() if t.logical_id == "Simple"]
    assert simple.properties["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert simple.properties["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "N"}]
    # What a deployer checks the deployed stack against: the template as written.
    assert stack.declared("AWS::Serverless::Function", "AWS::Serverless::SimpleTable") == {
        "Simple": "AWS::Serverless::SimpleTable", "Worker": "AWS::Serverless::Function"}


def test_a_template_samtranslator_rejects_is_a_template_error_with_its_message(tmp_path: Path) -> None:
    text = RICH.replace("Queue: !GetAtt Queue.Arn", "BatchSize: 1")
    with pytest.raises(TemplateError, match=r"template\.yaml.*Missing required property 'Queue'"):
        sam_stack(text, tmp_path)


def test_inline_code_cannot_run_locally(tmp_path: Path) -> None:
    stack = sam_stack("""
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Inline:
            Type: AWS::Serverless::Function
            Properties: {Handler: index.handler, Runtime: python3.12, InlineCode: "def handler(e, c): pass"}
    """, tmp_path)
    with pytest.raises(TemplateError, match="Inline: CodeUri must be a local directory, got inline code"):
        stack.functions()


def _counting_transforms(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from paygate_local.template import sam

    calls: list[str] = []
    real = sam.translate

    def counted(*args, **kwargs):
        calls.append(kwargs["source"])
        return real(*args, **kwargs)

    monkeypatch.setattr(sam, "translate", counted)
    return calls


def test_the_transform_is_cached_by_the_template_and_the_parameters_it_looks_at(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_transforms(monkeypatch)
    text = RICH.replace("CodeDir: {Type: String, Default: code}",
                        "CodeDir: {Type: String, Default: code}\n  Alias: {Type: String, Default: live}\n"
                        "  Other: {Type: String, Default: x}").replace("AutoPublishAlias: live",
                                                                       "AutoPublishAlias: !Ref Alias")
    first = sam_stack(text, tmp_path)
    assert len(calls) == 1 and len(list((tmp_path / "cache").glob("*.json"))) == 1
    second = sam_stack(text, tmp_path)
    assert len(calls) == 1, "the second load must not transform again"
    assert second.cloudformation == first.cloudformation
    assert second.functions() == first.functions()
    # A parameter the transform does not look up (the runtime resolves it): the same result serves.
    assert sam_stack(text, tmp_path, parameter_overrides={"Other": "y"}).functions() == first.functions()
    assert len(calls) == 1
    # One it does (the alias's name makes the alias's logical id): another transform, kept beside.
    other = sam_stack(text, tmp_path, parameter_overrides={"Alias": "blue"})
    assert len(calls) == 2 and "WorkerAliasblue" in other.resources and "WorkerAliaslive" in first.resources
    assert other.functions()[0].sqs_mappings == first.functions()[0].sqs_mappings
    sam_stack(text, tmp_path)
    sam_stack(text, tmp_path, parameter_overrides={"Alias": "blue"})
    assert len(calls) == 2
    # Another template, or a code path the parameters change: another transform.
    sam_stack(text.replace("BatchSize: 7", "BatchSize: 8"), tmp_path)
    assert len(calls) == 3
    (tmp_path / "code2").mkdir()
    assert sam_stack(text, tmp_path, parameter_overrides={"CodeDir": "code2"}).functions()[0].code_dir == \
        tmp_path / "code2"
    assert len(calls) == 4


@pytest.mark.parametrize("garbage", ["", "{not json", "[]", '{"format": 1, "key": "other", "cloudformation": {}}'])
def test_a_corrupt_cache_entry_is_ignored_and_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       garbage: str) -> None:
    calls = _counting_transforms(monkeypatch)
    expected = sam_stack(RICH, tmp_path).functions()
    (entry,) = (tmp_path / "cache").glob("*.json")
    entry.write_text(garbage)
    assert sam_stack(RICH, tmp_path).functions() == expected
    assert len(calls) == 2
    assert sam_stack(RICH, tmp_path).functions() == expected  # the entry was written again
    assert len(calls) == 2


def test_an_unwritable_cache_only_costs_the_transform(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    stack = stack_from(RICH, tmp_path, cache_dir=blocked / "cache")
    assert [f.logical_id for f in stack.functions()] == ["Worker"]


def test_the_cache_lives_in_the_users_cache_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from paygate_local.template.cache import default_cache_dir

    monkeypatch.delenv("PAYGATE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "paygate" / "sam-transform"
    monkeypatch.setenv("PAYGATE_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine" / "sam-transform"
