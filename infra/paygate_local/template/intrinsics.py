"""CloudFormation's intrinsic functions, resolved locally: Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If...

``Resolver`` works on one template's resources, parameters and conditions (for ``Stack``, the
CloudFormation the SAM transform produced). Two facts are only known once the backend exists: a
queue's URL (it contains the backend's host) and a table's stream ARN (it contains a creation
timestamp). Until the provisioner reports them with ``set_attribute``, they resolve to
deterministic placeholders.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any

from paygate_local.template.document import (
    FUNCTION_TYPE,
    LAYER_TYPES,
    LOG_GROUP_TYPE,
    NAME_PROPERTIES,
    QUEUE_TYPE,
    REST_API_TYPE,
    ROLE_TYPE,
    SAM_FUNCTION_TYPE,
    TABLE_TYPES,
    TOPIC_TYPE,
    TemplateError,
)

_NO_VALUE = object()  # what AWS::NoValue resolves to; removed from the enclosing map or list
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


def bind_parameters(declared: dict, overrides: dict[str, Any]) -> dict[str, Any]:
    """Parameter values as CloudFormation hands them to intrinsics: overrides, else defaults, checked
    against AllowedValues; scalars as strings, list types as lists."""
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
            value = scalar_str(value)
        values[name] = value
    if missing:
        raise TemplateError(f"parameter(s) without a default need a value: {', '.join(missing)}")
    return values


class Resolver:
    """Intrinsics over ``resources``, ``parameters`` and ``conditions`` (set by the subclass)."""

    resources: dict[str, dict]
    parameters: dict[str, Any]
    conditions: dict[str, Any]

    def __init__(self, *, stack_name: str, region: str, account_id: str, endpoint_url: str | None) -> None:
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.endpoint_url = endpoint_url
        self._attributes: dict[tuple[str, str], str] = {}
        self._conditions: dict[str, bool] = {}
        self._local = threading.local()  # per-thread cycle detection: pollers resolve concurrently

    # ---------------------------------------------------------------- names and attributes

    def resource_type(self, logical_id: str) -> str:
        try:
            return self.resources[logical_id]["Type"]
        except KeyError:
            raise TemplateError(f"unknown resource {logical_id!r}") from None

    def properties(self, logical_id: str) -> dict:
        """A resource's properties as CloudFormation gets them (for Stack: after the SAM transform,
        Globals merged in; not yet resolved)."""
        return self.resources[logical_id].get("Properties") or {}

    def logical_ids(self, *types: str) -> list[str]:
        return [
            lid for lid, res in self.resources.items()
            if res.get("Type") in types and self.included(lid)
        ]

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
        if rtype == QUEUE_TYPE and truthy(props.get("FifoQueue")):
            name += ".fifo"
        return name

    def set_attribute(self, logical_id: str, attribute: str, value: str) -> None:
        """Record a fact only the backend knows (a queue's URL, a table's stream ARN)."""
        self._attributes[(logical_id, attribute)] = value

    def adopt_attributes(self, other: Resolver) -> None:
        """What the backend told ``other`` (the same stack, read again from its template)."""
        self._attributes.update(other._attributes)

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
        elif rtype in (FUNCTION_TYPE, SAM_FUNCTION_TYPE):
            if attribute == "Arn":
                return f"arn:{partition}:lambda:{region}:{account}:function:{name}"
        elif rtype in LAYER_TYPES:
            if attribute == "Arn":
                return f"arn:{partition}:lambda:{region}:{account}:layer:{name}:1"
        elif rtype == ROLE_TYPE:  # a function's execution role, as the transform writes it
            if attribute == "Arn":
                return f"arn:{partition}:iam::{account}:role/{name}"
        elif rtype == TOPIC_TYPE:
            if attribute == "TopicArn":
                return f"arn:{partition}:sns:{region}:{account}:{name}"
            if attribute == "TopicName":
                return name
        elif rtype == LOG_GROUP_TYPE:
            if attribute == "Arn":
                return f"arn:{partition}:logs:{region}:{account}:log-group:{name}:*"
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
        if rtype == TOPIC_TYPE:
            return self.get_att(name, "TopicArn")
        if rtype == REST_API_TYPE:  # an id API Gateway makes up; the local gateway has none
            raise TemplateError(f"Ref {name}: a REST API's id is not known locally")
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

    _SUB_VAR = _SUB_VAR

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
                return scalar_str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                return scalar_str(self._fn_getatt(name))
            return scalar_str(self.ref(name))

        return _SUB_VAR.sub(replace, text)

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = arg
        items = self._resolve(items)
        return str(delimiter).join(scalar_str(i) for i in items)

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
        return scalar_str(left) == scalar_str(right)

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
            if name not in self.conditions:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = self._truth(self.conditions[name])
        return self._conditions[name]

    def included(self, logical_id: str) -> bool:
        """False when the resource has a Condition that is false."""
        cond = self.resources[logical_id].get("Condition")
        return cond is None or self.condition(cond)


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
                    for var in _SUB_VAR.findall(text):
                        if not var.startswith("!"):
                            found.add(var.split(".", 1)[0])
                if isinstance(arg, list) and len(arg) > 1:
                    found |= references(arg[1])
            else:
                found |= references(arg)
    return found


def referenced_id(raw: Any) -> str | None:
    """The logical id behind ``!GetAtt X.Arn`` / ``!Ref X``, if the value is written that way."""
    if isinstance(raw, dict) and len(raw) == 1:
        (key, arg), = raw.items()
        if key == "Fn::GetAtt":
            return arg.split(".", 1)[0] if isinstance(arg, str) else str(arg[0])
        if key == "Ref" and isinstance(arg, str):
            return arg
    return None


def is_intrinsic(value: Any) -> bool:
    if not (isinstance(value, dict) and len(value) == 1):
        return False
    key = next(iter(value))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def scalar_str(value: Any) -> str:
    """How CloudFormation turns a scalar into a string (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        raise TemplateError(f"expected a scalar, got {value!r}")
    return str(value)
