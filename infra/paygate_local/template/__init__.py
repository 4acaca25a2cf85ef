"""Load a SAM template and resolve it into local, concrete resources.

The local runtime reads *everything* from ``template.yaml``: which tables and queues exist, what
each function's environment is, which HTTP routes and event source mappings point at which
function. This module turns the template into plain data (``Stack``, ``FunctionSpec``, ...) with
every intrinsic function resolved, and does no I/O besides reading the template file, so it can be
unit tested without sockets.

Two facts are only known once the backend exists: a queue's URL (it contains the backend's host)
and a table's stream ARN (it contains a creation timestamp). Until the provisioner reports them
with ``Stack.set_attribute``, they resolve to deterministic placeholders.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cfn_tools

DEFAULT_STACK_NAME = "paygate"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"

# SAM's defaults for AWS::Serverless::Function when neither the function nor Globals set them.
SAM_DEFAULT_TIMEOUT = 3
SAM_DEFAULT_MEMORY = 128
SAM_DEFAULT_STAGE = "Prod"

# The property that carries an explicit physical name, per resource type.
NAME_PROPERTIES = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::SimpleTable": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
}

TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
QUEUE_TYPE = "AWS::SQS::Queue"
FUNCTION_TYPE = "AWS::Serverless::Function"
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")

_NO_VALUE = object()  # what AWS::NoValue resolves to; removed from the enclosing map or list


class TemplateError(ValueError):
    """The template cannot be loaded or an intrinsic cannot be resolved locally."""


def load_template(path: str | Path) -> dict:
    """Parse a CloudFormation/SAM YAML (or JSON) template, short tags (``!Ref``, ``!Sub``...) included."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = cfn_tools.load_yaml(text)
    except Exception as exc:  # yaml.YAMLError and friends: say which file
        raise TemplateError(f"{path}: not a valid YAML template: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path}: a template needs a Resources map")
    return _plain(data)


def _plain(value: Any) -> Any:
    """cfn_tools returns ODicts; plain dicts and lists are easier to copy, compare and print."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def merge_globals(global_props: dict, props: dict) -> dict:
    """SAM's Globals rules: maps merge (resource wins), lists are global entries then the resource's,
    anything else (and any intrinsic) is taken from the resource."""
    merged = copy.deepcopy(global_props)
    for key, value in props.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict) and not (
            _is_intrinsic(current) or _is_intrinsic(value)
        ):
            merged[key] = merge_globals(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = current + copy.deepcopy(value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _is_intrinsic(value: Any) -> bool:
    if not (isinstance(value, dict) and len(value) == 1):
        return False
    key = next(iter(value))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


# ------------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class ApiRoute:
    """One ``Api`` event: an HTTP method and path template served by a function."""

    function: str  # logical id
    event: str  # event name in the template
    path: str  # e.g. /v1/payments/{id} or /files/{proxy+}
    method: str  # upper case, or ANY


@dataclass(frozen=True)
class SqsMapping:
    """One ``SQS`` event: an event source mapping from a queue to a function."""

    function: str
    event: str
    queue_arn: str
    queue_logical_id: str | None
    batch_size: int = 10
    batching_window: float = 0
    report_batch_item_failures: bool = False
    enabled: bool = True
    maximum_concurrency: int | None = None


@dataclass(frozen=True)
class Schedule:
    """One ``Schedule`` event: EventBridge invoking the function at a rate."""

    function: str
    event: str
    expression: str  # rate(5 minutes) or cron(...)
    enabled: bool = True

    def interval(self) -> float | None:
        """Seconds between runs of a rate() expression; None for cron() (not run locally)."""
        return rate_seconds(self.expression)


_RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float | None:
    """``rate(N unit)`` -> seconds (EventBridge: minute(s), hour(s), day(s)); None for anything else."""
    text = expression.strip()
    if not (text.startswith("rate(") and text.endswith(")")):
        return None
    parts = text[5:-1].split()
    if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in _RATE_UNITS or int(parts[0]) < 1:
        raise TemplateError(f"invalid schedule expression {expression!r}: rate(<positive integer> <unit>)")
    return float(int(parts[0]) * _RATE_UNITS[parts[1]])


@dataclass(frozen=True)
class StreamMapping:
    """One ``DynamoDB`` event: an event source mapping from a table's stream to a function."""

    function: str
    event: str
    stream_arn: str
    table_logical_id: str | None
    starting_position: str = "TRIM_HORIZON"
    batch_size: int = 100
    batching_window: float = 0
    maximum_retry_attempts: int = -1  # -1: until the record expires, like Lambda
    bisect_on_error: bool = False
    report_batch_item_failures: bool = False
    on_failure_arn: str | None = None
    enabled: bool = True


@dataclass
class FunctionSpec:
    """Everything needed to run one function locally, all intrinsics resolved."""

    logical_id: str
    name: str  # physical name (FunctionName or <stack>-<LogicalId>)
    arn: str
    code_dir: Path
    handler: str
    runtime: str | None
    timeout: float
    memory_size: int
    layer_dirs: list[Path]
    environment: dict[str, str]
    api_routes: list[ApiRoute] = field(default_factory=list)
    sqs_mappings: list[SqsMapping] = field(default_factory=list)
    stream_mappings: list[StreamMapping] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    other_events: dict[str, str] = field(default_factory=dict)  # event name -> unsupported type

    @property
    def python_paths(self) -> list[Path]:
        """sys.path entries in Lambda's order: the code first, then the layers."""
        paths = [self.code_dir]
        for layer in self.layer_dirs:
            # `sam build` puts a python layer's content under python/; unbuilt sources sit at the root.
            paths.append(layer / "python" if (layer / "python").is_dir() else layer)
        return paths


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    arn: str
    properties: dict  # resolved CloudFormation properties


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    arn: str
    fifo: bool
    properties: dict  # resolved CloudFormation properties
    depends_on: tuple[str, ...] = ()  # other queues it references (its DLQ)


# ------------------------------------------------------------------------------------- stack


class Stack:
    """A template bound to a stack name, region, account and parameter values."""

    def __init__(
        self,
        template: dict,
        template_dir: str | Path = ".",
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        parameter_overrides: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
    ):
        self.template = template
        self.template_dir = Path(template_dir).resolve()
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.endpoint_url = endpoint_url
        self.resources: dict[str, dict] = template.get("Resources") or {}
        self.parameters = self._bind_parameters(parameter_overrides or {})
        self._attributes: dict[tuple[str, str], str] = {}
        self._conditions: dict[str, bool] = {}
        self._local = threading.local()  # per-thread cycle detection: pollers resolve concurrently

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Stack:
        path = Path(path)
        return cls(load_template(path), path.parent, **kwargs)

    # ---------------------------------------------------------------- parameters

    def _bind_parameters(self, overrides: dict[str, Any]) -> dict[str, Any]:
        declared = self.template.get("Parameters") or {}
        unknown = set(overrides) - set(declared)
        if unknown:
            raise TemplateError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        missing = []
        for name, decl in declared.items():
            decl = decl or {}
            if name in overrides:
                value = overrides[name]
            elif "Default" in decl:
                value = decl["Default"]
            else:
                missing.append(name)
                continue
            allowed = decl.get("AllowedValues")
            if allowed is not None and str(value) not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            ptype = str(decl.get("Type", "String"))
            if ptype == "CommaDelimitedList" or ptype.startswith("List<"):
                value = value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]
            else:
                # CloudFormation hands every scalar parameter to intrinsics as a string.
                value = _scalar_str(value)
            values[name] = value
        if missing:
            raise TemplateError(f"parameter(s) without a default need a value: {', '.join(missing)}")
        return values

    # ---------------------------------------------------------------- names and attributes

    def resource_type(self, logical_id: str) -> str:
        try:
            return self.resources[logical_id]["Type"]
        except KeyError:
            raise TemplateError(f"unknown resource {logical_id!r}") from None

    def properties(self, logical_id: str) -> dict:
        """A resource's properties with Globals merged in (not yet resolved)."""
        resource = self.resources[logical_id]
        props = resource.get("Properties") or {}
        rtype = resource.get("Type")
        glob = self.template.get("Globals") or {}
        section = {
            FUNCTION_TYPE: "Function",
            "AWS::Serverless::Api": "Api",
            "AWS::Serverless::SimpleTable": "SimpleTable",
        }.get(rtype)
        if section and section in glob:
            props = merge_globals(glob[section] or {}, props)
        return props

    def physical_name(self, logical_id: str) -> str:
        """The explicit name property if there is one, else ``<stack>-<LogicalId>`` (deterministic,
        unlike CloudFormation's random suffix, so that restarts find the same resources)."""
        rtype = self.resource_type(logical_id)
        prop = NAME_PROPERTIES.get(rtype)
        props = self.resources[logical_id].get("Properties") or {}
        if prop and props.get(prop) is not None:
            resolving = self._local.__dict__.setdefault("resolving", set())
            if logical_id in resolving:
                raise TemplateError(f"{logical_id}'s name refers to itself")
            resolving.add(logical_id)
            try:
                return str(self.resolve(props[prop]))
            finally:
                resolving.discard(logical_id)
        name = f"{self.stack_name}-{logical_id}"
        if rtype == QUEUE_TYPE and _truthy(props.get("FifoQueue")):
            name += ".fifo"
        return name

    def set_attribute(self, logical_id: str, attribute: str, value: str) -> None:
        """Record a fact only the backend knows (a queue's URL, a table's stream ARN)."""
        self._attributes[(logical_id, attribute)] = value

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if (logical_id, attribute) in self._attributes:
            return self._attributes[(logical_id, attribute)]
        rtype = self.resource_type(logical_id)
        name = self.physical_name(logical_id)
        partition, region, account = "aws", self.region, self.account_id
        if rtype == QUEUE_TYPE:
            if attribute == "Arn":
                return f"arn:{partition}:sqs:{region}:{account}:{name}"
            if attribute == "QueueName":
                return name
            if attribute == "QueueUrl":
                base = (self.endpoint_url or f"https://sqs.{region}.amazonaws.com").rstrip("/")
                return f"{base}/{account}/{name}"
        elif rtype in TABLE_TYPES:
            arn = f"arn:{partition}:dynamodb:{region}:{account}:table/{name}"
            if attribute == "Arn":
                return arn
            if attribute == "StreamArn":
                # Placeholder until the provisioner reports the real label.
                return f"{arn}/stream/1970-01-01T00:00:00.000"
        elif rtype in (FUNCTION_TYPE, "AWS::Lambda::Function"):
            if attribute == "Arn":
                return f"arn:{partition}:lambda:{region}:{account}:function:{name}"
        elif rtype in LAYER_TYPES:
            if attribute == "Arn":
                return f"arn:{partition}:lambda:{region}:{account}:layer:{name}:1"
        raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not supported locally")

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/"
            f"{self.stack_name}/00000000-0000-0000-0000-000000000000",
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name not in self.resources:
            raise TemplateError(f"Ref {name!r}: no such parameter or resource")
        rtype = self.resource_type(name)
        if rtype == QUEUE_TYPE:
            return self.get_att(name, "QueueUrl")
        if rtype in LAYER_TYPES:
            return self.get_att(name, "Arn")
        return self.physical_name(name)

    # ---------------------------------------------------------------- intrinsics

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function inside ``value`` (recursively)."""
        result = self._resolve(value)
        return None if result is _NO_VALUE else result

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self._resolve(v) for v in value) if r is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(self._resolve(arg))
            if key.startswith("Fn::"):
                handler = getattr(self, "_fn_" + key[4:].lower(), None)
                if handler is None:
                    raise TemplateError(f"{key} is not supported locally")
                return handler(arg)
        return {k: r for k, r in ((k, self._resolve(v)) for k, v in value.items()) if r is not _NO_VALUE}

    def _fn_getatt(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        logical_id, attribute = (self._resolve(a) for a in arg)
        return self.get_att(logical_id, attribute)

    _SUB_VAR = re.compile(r"\$\{([^}]*)\}")

    def _fn_sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self._resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):  # ${!Literal} is an escaped ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return _scalar_str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                return _scalar_str(self._fn_getatt(name))
            return _scalar_str(self.ref(name))

        return self._SUB_VAR.sub(replace, text)

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = arg
        items = self._resolve(items)
        return str(delimiter).join(_scalar_str(i) for i in items)

    def _fn_select(self, arg: Any) -> Any:
        index, items = self._resolve(arg[0]), self._resolve(arg[1])
        return items[int(index)]

    def _fn_split(self, arg: Any) -> list[str]:
        delimiter, text = arg
        return str(self._resolve(text)).split(delimiter)

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(str(self._resolve(arg)).encode()).decode()

    def _fn_tojsonstring(self, arg: Any) -> str:
        return json.dumps(self._resolve(arg), separators=(",", ":"))

    def _fn_if(self, arg: Any) -> Any:
        name, if_true, if_false = arg
        return self._resolve(if_true if self.condition(name) else if_false)

    def _fn_equals(self, arg: Any) -> bool:
        left, right = (self._resolve(a) for a in arg)
        return _scalar_str(left) == _scalar_str(right)

    def _fn_and(self, arg: Any) -> bool:
        return all(self._truth(a) for a in arg)

    def _fn_or(self, arg: Any) -> bool:
        return any(self._truth(a) for a in arg)

    def _fn_not(self, arg: Any) -> bool:
        return not self._truth(arg[0])

    def _truth(self, value: Any) -> bool:
        if isinstance(value, dict) and set(value) == {"Condition"}:
            return self.condition(value["Condition"])
        return bool(self._resolve(value))

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = self._truth(conditions[name])
        return self._conditions[name]

    def included(self, logical_id: str) -> bool:
        """False when the resource has a Condition that is false."""
        cond = self.resources[logical_id].get("Condition")
        return cond is None or self.condition(cond)

    # ---------------------------------------------------------------- resources

    def logical_ids(self, *types: str) -> list[str]:
        return [
            lid for lid, res in self.resources.items()
            if res.get("Type") in types and self.included(lid)
        ]

    def tables(self) -> list[TableSpec]:
        specs = []
        for lid in self.logical_ids(*TABLE_TYPES):
            props = self.resolve(self.properties(lid)) or {}
            if self.resource_type(lid) == "AWS::Serverless::SimpleTable":
                props = _simple_table_as_table(props)
            specs.append(TableSpec(lid, self.physical_name(lid), self.get_att(lid, "Arn"), props))
        return specs

    def queues(self) -> list[QueueSpec]:
        """Queues ordered so that every queue comes after the queues it refers to (its DLQ)."""
        specs = {}
        for lid in self.logical_ids(QUEUE_TYPE):
            raw = self.properties(lid)
            deps = tuple(d for d in sorted(references(raw)) if d in self.resources
                         and self.resource_type(d) == QUEUE_TYPE and d != lid)
            props = self.resolve(raw) or {}
            specs[lid] = QueueSpec(lid, self.physical_name(lid), self.get_att(lid, "Arn"),
                                   _truthy(props.get("FifoQueue")), props, deps)
        ordered: list[QueueSpec] = []
        seen: set[str] = set()

        def visit(lid: str, path: tuple[str, ...]) -> None:
            if lid in seen:
                return
            if lid in path:
                raise TemplateError(f"queues refer to each other in a cycle: {' -> '.join(path + (lid,))}")
            for dep in specs[lid].depends_on:
                if dep in specs:
                    visit(dep, path + (lid,))
            seen.add(lid)
            ordered.append(specs[lid])

        for lid in specs:
            visit(lid, ())
        return ordered

    def layer_dir(self, layer: Any) -> Path | None:
        """A function's Layers entry -> the layer's ContentUri directory (None for foreign ARNs)."""
        if isinstance(layer, dict) and set(layer) == {"Ref"} and layer["Ref"] in self.resources:
            lid = layer["Ref"]
            if self.resource_type(lid) in LAYER_TYPES:
                props = self.properties(lid)
                uri = self.resolve(props.get("ContentUri") or props.get("Content"))
                if isinstance(uri, str):
                    return (self.template_dir / uri).resolve()
        return None

    def functions(self) -> list[FunctionSpec]:
        return [self.function(lid) for lid in self.logical_ids(FUNCTION_TYPE)]

    def function(self, logical_id: str) -> FunctionSpec:
        if self.resource_type(logical_id) != FUNCTION_TYPE:
            raise TemplateError(f"{logical_id} is not an {FUNCTION_TYPE}")
        raw = self.properties(logical_id)
        code_uri = self.resolve(raw.get("CodeUri"))
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: CodeUri must be a local directory, got {code_uri!r}")
        handler = self.resolve(raw.get("Handler"))
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{logical_id}: Handler must look like module.function, got {handler!r}")
        env_vars = self.resolve(((raw.get("Environment") or {}).get("Variables")) or {}) or {}
        layer_dirs = [d for d in (self.layer_dir(layer) for layer in raw.get("Layers") or []) if d]
        spec = FunctionSpec(
            logical_id=logical_id,
            name=self.physical_name(logical_id),
            arn=self.get_att(logical_id, "Arn"),
            code_dir=(self.template_dir / code_uri).resolve(),
            handler=handler,
            runtime=self.resolve(raw.get("Runtime")),
            timeout=float(self.resolve(raw.get("Timeout", SAM_DEFAULT_TIMEOUT))),
            memory_size=int(self.resolve(raw.get("MemorySize", SAM_DEFAULT_MEMORY))),
            layer_dirs=layer_dirs,
            environment={k: _scalar_str(v) for k, v in env_vars.items() if v is not None},
        )
        for event_name, event in (raw.get("Events") or {}).items():
            self._add_event(spec, event_name, event or {})
        return spec

    def _add_event(self, spec: FunctionSpec, name: str, event: dict) -> None:
        etype = event.get("Type")
        raw_props = event.get("Properties") or {}
        props = self.resolve(raw_props) or {}
        responses = props.get("FunctionResponseTypes") or []
        report = "ReportBatchItemFailures" in responses
        enabled = _truthy(props.get("Enabled", True))
        if etype == "Api":
            method = str(props.get("Method", "any")).upper()
            spec.api_routes.append(ApiRoute(spec.logical_id, name, _normalise_path(props["Path"]),
                                             method))
        elif etype == "SQS":
            scaling = props.get("ScalingConfig") or {}
            spec.sqs_mappings.append(SqsMapping(
                function=spec.logical_id,
                event=name,
                queue_arn=str(props["Queue"]),
                queue_logical_id=_referenced_id(raw_props.get("Queue")),
                batch_size=int(props.get("BatchSize", 10)),
                batching_window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures=report,
                enabled=enabled,
                maximum_concurrency=(int(scaling["MaximumConcurrency"])
                                     if "MaximumConcurrency" in scaling else None),
            ))
        elif etype == "DynamoDB":
            on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {})
            spec.stream_mappings.append(StreamMapping(
                function=spec.logical_id,
                event=name,
                stream_arn=str(props["Stream"]),
                table_logical_id=_referenced_id(raw_props.get("Stream")),
                starting_position=str(props.get("StartingPosition", "TRIM_HORIZON")),
                batch_size=int(props.get("BatchSize", 100)),
                batching_window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                bisect_on_error=_truthy(props.get("BisectBatchOnFunctionError", False)),
                report_batch_item_failures=report,
                on_failure_arn=on_failure.get("Destination"),
                enabled=enabled,
            ))
        elif etype in ("Schedule", "ScheduleV2"):
            expression = str(props.get("Schedule") or props.get("ScheduleExpression") or "")
            rate_seconds(expression)  # a malformed rate() fails here, at start, as a deploy would
            state = props.get("State")
            spec.schedules.append(Schedule(spec.logical_id, name, expression,
                                           enabled=enabled and str(state or "ENABLED").upper() == "ENABLED"))
        else:
            spec.other_events[name] = str(etype)

    def outputs(self) -> dict[str, Any]:
        """Outputs that resolve locally (those naming e.g. the implicit ServerlessRestApi do not)."""
        out = {}
        for name, decl in (self.template.get("Outputs") or {}).items():
            try:
                out[name] = self.resolve((decl or {}).get("Value"))
            except TemplateError:
                continue
        return out


# ------------------------------------------------------------------------------------- helpers


def references(value: Any) -> set[str]:
    """Logical ids that ``value`` refers to through Ref, Fn::GetAtt or Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg.split(".", 1)[0] if isinstance(arg, str) else str(arg[0]))
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                if isinstance(text, str):
                    for var in Stack._SUB_VAR.findall(text):
                        if not var.startswith("!"):
                            found.add(var.split(".", 1)[0])
                if isinstance(arg, list) and len(arg) > 1:
                    found |= references(arg[1])
            else:
                found |= references(arg)
    return found


def _referenced_id(raw: Any) -> str | None:
    """The logical id behind ``!GetAtt X.Arn`` / ``!Ref X``, if the value is written that way."""
    if isinstance(raw, dict) and len(raw) == 1:
        (key, arg), = raw.items()
        if key == "Fn::GetAtt":
            return arg.split(".", 1)[0] if isinstance(arg, str) else str(arg[0])
        if key == "Ref" and isinstance(arg, str):
            return arg
    return None


def _simple_table_as_table(props: dict) -> dict:
    key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
    type_code = {"String": "S", "Number": "N", "Binary": "B"}.get(key.get("Type", "String"), "S")
    table = {
        "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": type_code}],
        "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if props.get("TableName"):
        table["TableName"] = props["TableName"]
    return table


def _normalise_path(path: str) -> str:
    path = "/" + str(path).strip().strip("/")
    return path


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _scalar_str(value: Any) -> str:
    """How CloudFormation turns a scalar into a string (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        raise TemplateError(f"expected a scalar, got {value!r}")
    return str(value)
