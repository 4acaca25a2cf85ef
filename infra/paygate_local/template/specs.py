"""What the runtime runs, as plain data: functions, their routes, mappings and schedules, tables, queues.

Every field is resolved (no intrinsic left); ``Stack`` builds these from the CloudFormation the SAM
transform produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from paygate_local.template.document import TemplateError


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
    maximum_record_age: int = -1  # seconds; -1: until the record expires (24 h on AWS)
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
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions: at most this many at once

    def check(self) -> list[str]:
        """TemplateError when the code is not there; a note per event not run locally."""
        if not self.code_dir.is_dir():
            raise TemplateError(f"{self.logical_id}: CodeUri {self.code_dir} is not a directory")
        return [f"{self.logical_id}: event {name} of type {etype} is not run locally"
                for name, etype in self.other_events.items()]

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
