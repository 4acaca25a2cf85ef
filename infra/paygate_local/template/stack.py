"""A template bound to a stack name, region, account and parameter values, read as CloudFormation.

The local runtime reads *everything* from ``template.yaml``: which tables and queues exist, what
each function's environment is, which HTTP routes and event source mappings point at which
function. ``Stack`` runs the SAM transform on the template (aws-sam-translator, as CloudFormation
does on AWS and in MiniStack; cached), then reads the CloudFormation it produced into plain data
(``FunctionSpec``, ``TableSpec``, ...) with every intrinsic function resolved. It does no I/O
besides reading the template and the transform's cache, so it can be unit tested without sockets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paygate_local.template.document import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    FUNCTION_TYPE,
    LAYER_TYPES,
    QUEUE_TYPE,
    SAM_DEFAULT_MEMORY,
    SAM_DEFAULT_TIMEOUT,
    TABLE_TYPES,
    TemplateError,
    load_template,
)
from paygate_local.template.events import FunctionEvents, read_events
from paygate_local.template.intrinsics import Resolver, bind_parameters, references, scalar_str, truthy
from paygate_local.template.sam import local_code, needs_transform, package_local_code, transform
from paygate_local.template.specs import FunctionSpec, QueueSpec, TableSpec


class Stack(Resolver):
    """``template`` is the template as written; ``cloudformation`` what the SAM transform made of
    it (the template itself, its code paths packaged, when it declares no transform); ``resources``
    are the latter's, and every intrinsic resolves against them."""

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
        source: str | None = None,
        cache_dir: str | Path | None = None,
    ):
        super().__init__(stack_name=stack_name, region=region, account_id=account_id,
                         endpoint_url=endpoint_url)
        self.template = template
        self.template_dir = Path(template_dir).resolve()
        self.parameters = bind_parameters(template.get("Parameters") or {}, parameter_overrides or {})
        # Until the transform is done, intrinsics resolve against the template as written: only a
        # code path written as one (CodeUri: !Sub ...) needs that, and only parameters are in it.
        self.resources = template.get("Resources") or {}
        self.conditions = template.get("Conditions") or {}
        packaged = package_local_code(template, self.resolve)
        if needs_transform(template):
            packaged = transform(packaged, self.parameters, region, cache_dir=cache_dir,
                                 source=source or str(self.template_dir / "template.yaml"))
        self.cloudformation = packaged
        self.resources = packaged.get("Resources") or {}
        self.conditions = packaged.get("Conditions") or {}

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Stack:
        path = Path(path)
        return cls(load_template(path), path.parent, source=str(path), **kwargs)

    # ---------------------------------------------------------------- the template as written

    def declared(self, *types: str) -> dict[str, str]:
        """Logical id -> type of the template's resources of these types *as written* (before the
        transform: ``AWS::Serverless::Function``, ``CoreLayer`` rather than ``CoreLayer<hash>``),
        conditions applied: what a deployer looks for in the stack CloudFormation made of it."""
        found = {}
        for lid, resource in (self.template.get("Resources") or {}).items():
            condition = (resource or {}).get("Condition")
            if resource.get("Type") in types and (condition is None or self.condition(condition)):
                found[lid] = resource["Type"]
        return found

    # ---------------------------------------------------------------- resources

    def tables(self) -> list[TableSpec]:
        return [TableSpec(lid, self.physical_name(lid), self.get_att(lid, "Arn"),
                          self.resolve(self.properties(lid)) or {})
                for lid in self.logical_ids(*TABLE_TYPES)]

    def tables_with_streams(self) -> set[str]:
        """The logical ids of the tables whose stream is on."""
        return {t.logical_id for t in self.tables()
                if (t.properties.get("StreamSpecification") or {}).get("StreamViewType")}

    def queues(self) -> list[QueueSpec]:
        """Queues ordered so that every queue comes after the queues it refers to (its DLQ)."""
        specs = {}
        for lid in self.logical_ids(QUEUE_TYPE):
            raw = self.properties(lid)
            deps = tuple(d for d in sorted(references(raw)) if d in self.resources
                         and self.resource_type(d) == QUEUE_TYPE and d != lid)
            props = self.resolve(raw) or {}
            specs[lid] = QueueSpec(lid, self.physical_name(lid), self.get_att(lid, "Arn"),
                                   truthy(props.get("FifoQueue")), props, deps)
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
        """A function's Layers entry -> the layer's local directory (None for foreign ARNs)."""
        if isinstance(layer, dict) and set(layer) == {"Ref"} and layer["Ref"] in self.resources:
            lid = layer["Ref"]
            if self.resource_type(lid) in LAYER_TYPES:
                path = local_code(self.properties(lid).get("Content"))
                if path is not None:
                    return (self.template_dir / path).resolve()
        return None

    def functions(self) -> list[FunctionSpec]:
        events = read_events(self, self.template)
        return [self.function(lid, events) for lid in self.logical_ids(FUNCTION_TYPE)]

    def function(self, logical_id: str, events: dict[str, FunctionEvents] | None = None) -> FunctionSpec:
        if self.resource_type(logical_id) != FUNCTION_TYPE:
            raise TemplateError(f"{logical_id} is not an {FUNCTION_TYPE}")
        raw = self.properties(logical_id)
        code_dir = local_code(raw.get("Code"))
        if code_dir is None:
            shown = "inline code" if "ZipFile" in (raw.get("Code") or {}) else repr(raw.get("Code"))
            raise TemplateError(f"{logical_id}: CodeUri must be a local directory, got {shown}")
        handler = self.resolve(raw.get("Handler"))
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{logical_id}: Handler must look like module.function, got {handler!r}")
        env_vars = self.resolve(((raw.get("Environment") or {}).get("Variables")) or {}) or {}
        layer_dirs = [d for d in (self.layer_dir(layer) for layer in raw.get("Layers") or []) if d]
        if events is None:
            events = read_events(self, self.template)
        found = events.get(logical_id) or FunctionEvents()
        return FunctionSpec(
            logical_id=logical_id,
            name=self.physical_name(logical_id),
            arn=self.get_att(logical_id, "Arn"),
            code_dir=(self.template_dir / code_dir).resolve(),
            handler=handler,
            runtime=self.resolve(raw.get("Runtime")),
            timeout=float(self.resolve(raw.get("Timeout", SAM_DEFAULT_TIMEOUT))),
            memory_size=int(self.resolve(raw.get("MemorySize", SAM_DEFAULT_MEMORY))),
            layer_dirs=layer_dirs,
            environment={k: scalar_str(v) for k, v in env_vars.items() if v is not None},
            api_routes=list(found.api_routes),
            sqs_mappings=list(found.sqs_mappings),
            stream_mappings=list(found.stream_mappings),
            schedules=list(found.schedules),
            other_events=dict(found.other_events),
            reserved_concurrency=(None if raw.get("ReservedConcurrentExecutions") is None
                                  else int(self.resolve(raw["ReservedConcurrentExecutions"]))),
        )

    def outputs(self) -> dict[str, Any]:
        """Outputs that resolve locally (those naming e.g. the implicit ServerlessRestApi do not)."""
        out = {}
        for name, decl in (self.cloudformation.get("Outputs") or {}).items():
            try:
                out[name] = self.resolve((decl or {}).get("Value"))
            except TemplateError:
                continue
        return out
