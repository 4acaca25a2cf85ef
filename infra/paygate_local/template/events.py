"""What invokes each function, read from the CloudFormation the SAM transform produced.

- routes: the REST APIs' ``Body`` (swagger or OpenAPI), each path and method whose
  ``x-amazon-apigateway-integration`` is a Lambda proxy to a function of the template;
- SQS and DynamoDB stream mappings: the ``AWS::Lambda::EventSourceMapping`` resources;
- schedules: ``AWS::Events::Rule`` (``Schedule`` events) and ``AWS::Scheduler::Schedule``
  (``ScheduleV2``) with a schedule expression and the function as a target.

Event names are what the template calls them: SAM names each generated resource after its function
and event (``RelayFunctionOutbox``), and a route's name comes from the Lambda permission SAM makes
for it (``ApiFunctionHealthPermissionProd``). An event the runtime does not run (Kinesis, SNS, an
EventBridge pattern...) is listed in ``other_events``, by the name and type template.yaml gives it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from paygate_local.template.document import (
    ALIAS_TYPES,
    ESM_TYPE,
    FUNCTION_TYPE,
    PERMISSION_TYPE,
    QUEUE_TYPE,
    REST_API_TYPE,
    RULE_TYPE,
    SAM_FUNCTION_TYPE,
    SCHEDULE_TYPE,
    TABLE_TYPES,
)
from paygate_local.template.intrinsics import Resolver, referenced_id, references, truthy
from paygate_local.template.specs import ApiRoute, Schedule, SqsMapping, StreamMapping, rate_seconds

ANY_METHOD = "x-amazon-apigateway-any-method"
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", ANY_METHOD}
# A permission's source ARN: .../${__Stage__}/GET/v1/payments/* (a {param} is a *, ANY is *).
_PERMISSION_ROUTE = re.compile(r"/\$\{__Stage__\}/([^/]+)(/.*)?$")


@dataclass
class FunctionEvents:
    api_routes: list[ApiRoute] = field(default_factory=list)
    sqs_mappings: list[SqsMapping] = field(default_factory=list)
    stream_mappings: list[StreamMapping] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    other_events: dict[str, str] = field(default_factory=dict)

    def served(self) -> set[str]:
        return {e.event for e in (*self.api_routes, *self.sqs_mappings, *self.stream_mappings, *self.schedules)}


def read_events(stack: Resolver, declared: dict) -> dict[str, FunctionEvents]:
    """Function logical id -> what invokes it. ``declared`` is the template as written (only to
    name, in ``other_events``, the events it declares that run nowhere here)."""
    found: dict[str, FunctionEvents] = {}

    def of(function: str) -> FunctionEvents:
        return found.setdefault(function, FunctionEvents())

    _read_routes(stack, of)
    _read_mappings(stack, of)
    _read_schedules(stack, of)
    for lid, resource in (declared.get("Resources") or {}).items():
        if (resource or {}).get("Type") != SAM_FUNCTION_TYPE:
            continue
        events = of(lid)
        served = events.served()
        for name, event in (((resource.get("Properties") or {}).get("Events")) or {}).items():
            if name not in served:
                events.other_events[name] = str((event or {}).get("Type"))
    return found


def function_in(resources: dict[str, dict], value: Any) -> str | None:
    """The function that ``value`` (a Ref, GetAtt or Sub) names, through an alias or version."""
    for lid in sorted(references(value)):
        resource = resources.get(lid) or {}
        if resource.get("Type") == FUNCTION_TYPE:
            return lid
        if resource.get("Type") in ALIAS_TYPES:
            found = function_in(resources, (resource.get("Properties") or {}).get("FunctionName"))
            if found:
                return found
    return None


def event_name(logical_id: str, function: str) -> str:
    """SAM names a generated resource <function><event>; a resource written by hand keeps its id."""
    return logical_id[len(function):] if logical_id.startswith(function) and logical_id != function \
        else logical_id


def normalise_path(path: str) -> str:
    return "/" + str(path).strip().strip("/")


# ------------------------------------------------------------------------------------- routes


def _read_routes(stack: Resolver, of) -> None:
    names = _route_names(stack)
    for api in stack.logical_ids(REST_API_TYPE):
        body = (stack.resources[api].get("Properties") or {}).get("Body")
        if not isinstance(body, dict):
            continue  # BodyS3Location: nothing to read locally
        for raw_path, item in (body.get("paths") or {}).items():
            for key, operation in (item.items() if isinstance(item, dict) else ()):
                if key.lower() not in _METHODS or not isinstance(operation, dict):
                    continue
                integration = operation.get("x-amazon-apigateway-integration") or {}
                if str(integration.get("type", "")).lower() != "aws_proxy":
                    continue  # a mock (CORS preflight) or HTTP integration: not a function's
                function = function_in(stack.resources, integration.get("uri"))
                if function is None:
                    continue
                method, path = ("ANY" if key == ANY_METHOD else key.upper()), normalise_path(raw_path)
                name = names.get((function, "*" if method == "ANY" else method, _as_permitted(path)))
                of(function).api_routes.append(ApiRoute(
                    function, name or operation.get("operationId") or f"{method} {path}", path, method))


def _route_names(stack: Resolver) -> dict[tuple[str, str, str], str]:
    """(function, method or *, path with * for each {param}) -> the Api event's name, from the
    permission SAM made for it: <function><event>Permission<stage>."""
    names = {}
    for lid in stack.logical_ids(PERMISSION_TYPE):
        props = stack.resources[lid].get("Properties") or {}
        if props.get("Principal") != "apigateway.amazonaws.com":
            continue
        function = function_in(stack.resources, props.get("FunctionName"))
        source = props.get("SourceArn")
        text = source.get("Fn::Sub") if isinstance(source, dict) else None
        text = text[0] if isinstance(text, list) and text else text
        route = _PERMISSION_ROUTE.search(text) if isinstance(text, str) else None
        named = re.fullmatch(re.escape(function) + r"(.+)Permission[A-Za-z0-9]*", lid) if function else None
        if route and named:
            names[(function, route.group(1), route.group(2) or "/")] = named.group(1)
    return names


def _as_permitted(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "*", path)


# ------------------------------------------------------------------------------------- mappings


def _read_mappings(stack: Resolver, of) -> None:
    for lid in stack.logical_ids(ESM_TYPE):
        raw = stack.resources[lid].get("Properties") or {}
        function = function_in(stack.resources, raw.get("FunctionName"))
        if function is None:
            continue
        name = event_name(lid, function)
        kind, source_id = _source_of(stack, raw.get("EventSourceArn"))
        if kind is None:
            of(function).other_events[name] = ESM_TYPE
            continue
        props = stack.resolve(raw) or {}
        report = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        enabled = truthy(props.get("Enabled", True))
        window = float(props.get("MaximumBatchingWindowInSeconds", 0))
        if kind == "sqs":
            scaling = props.get("ScalingConfig") or {}
            of(function).sqs_mappings.append(SqsMapping(
                function=function,
                event=name,
                queue_arn=str(props["EventSourceArn"]),
                queue_logical_id=source_id,
                batch_size=int(props.get("BatchSize", 10)),
                batching_window=window,
                report_batch_item_failures=report,
                enabled=enabled,
                maximum_concurrency=(int(scaling["MaximumConcurrency"])
                                     if "MaximumConcurrency" in scaling else None),
            ))
        else:
            on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {})
            of(function).stream_mappings.append(StreamMapping(
                function=function,
                event=name,
                stream_arn=str(props["EventSourceArn"]),
                table_logical_id=source_id,
                starting_position=str(props.get("StartingPosition", "TRIM_HORIZON")),
                batch_size=int(props.get("BatchSize", 100)),
                batching_window=window,
                maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                maximum_record_age=int(props.get("MaximumRecordAgeInSeconds", -1)),
                bisect_on_error=truthy(props.get("BisectBatchOnFunctionError", False)),
                report_batch_item_failures=report,
                on_failure_arn=on_failure.get("Destination"),
                enabled=enabled,
            ))


def _source_of(stack: Resolver, raw: Any) -> tuple[str | None, str | None]:
    """("sqs" | "stream" | None, the queue's or table's logical id) of a mapping's EventSourceArn."""
    source_id = referenced_id(raw)
    if source_id in stack.resources:
        rtype = stack.resource_type(source_id)
        if rtype == QUEUE_TYPE:
            return "sqs", source_id
        if rtype in TABLE_TYPES:
            return "stream", source_id
        return None, source_id  # a Kinesis stream, an MQ broker...
    arn = str(stack.resolve(raw))
    if arn.startswith("arn:") and arn.split(":")[2:3] == ["sqs"]:
        return "sqs", None
    if arn.startswith("arn:") and arn.split(":")[2:3] == ["dynamodb"] and "/stream/" in arn:
        return "stream", None
    return None, None


# ------------------------------------------------------------------------------------- schedules


def _read_schedules(stack: Resolver, of) -> None:
    targets = [(lid, t) for lid in stack.logical_ids(RULE_TYPE)
               for t in (stack.resources[lid].get("Properties") or {}).get("Targets") or []]
    targets += [(lid, (stack.resources[lid].get("Properties") or {}).get("Target") or {})
                for lid in stack.logical_ids(SCHEDULE_TYPE)]
    for lid, target in targets:
        props = stack.resources[lid].get("Properties") or {}
        function = function_in(stack.resources, (target or {}).get("Arn"))
        if function is None or not props.get("ScheduleExpression"):
            continue  # an EventBridge pattern is not a schedule: its event stays in other_events
        expression = str(stack.resolve(props["ScheduleExpression"]))
        rate_seconds(expression)  # a malformed rate() fails here, at start, as a deploy would
        state = stack.resolve(props.get("State"))
        of(function).schedules.append(Schedule(function, event_name(lid, function), expression,
                                               enabled=str(state or "ENABLED").upper() == "ENABLED"))
