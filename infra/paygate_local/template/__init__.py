"""template.yaml, as the local runtime reads it: the SAM transform's CloudFormation, resolved.

- ``document``: reading the file, ``TemplateError``, the resource types;
- ``sam``: the SAM transform by aws-sam-translator (local code paths packaged as ``sam package``
  would), and ``cache``: its results kept by key in the user's cache directory;
- ``intrinsics``: Ref, Fn::GetAtt, Fn::Sub... resolved locally, placeholders for what only the
  backend knows until ``set_attribute``;
- ``events``: routes, event source mappings and schedules read from the CloudFormation;
- ``specs``: the plain data the runtime runs (``FunctionSpec``...); ``stack``: ``Stack``, which
  ties them together.
"""

from __future__ import annotations

from paygate_local.template.document import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    FUNCTION_TYPE,
    LAYER_TYPES,
    NAME_PROPERTIES,
    QUEUE_TYPE,
    SAM_DEFAULT_MEMORY,
    SAM_DEFAULT_STAGE,
    SAM_DEFAULT_TIMEOUT,
    SAM_FUNCTION_TYPE,
    TABLE_TYPES,
    TemplateError,
    load_template,
    merge_globals,
)
from paygate_local.template.intrinsics import references
from paygate_local.template.specs import (
    ApiRoute,
    FunctionSpec,
    QueueSpec,
    Schedule,
    SqsMapping,
    StreamMapping,
    TableSpec,
    rate_seconds,
)
from paygate_local.template.stack import Stack

__all__ = [
    "DEFAULT_ACCOUNT_ID", "DEFAULT_REGION", "DEFAULT_STACK_NAME", "FUNCTION_TYPE", "LAYER_TYPES",
    "NAME_PROPERTIES", "QUEUE_TYPE", "SAM_DEFAULT_MEMORY", "SAM_DEFAULT_STAGE", "SAM_DEFAULT_TIMEOUT",
    "SAM_FUNCTION_TYPE", "TABLE_TYPES", "ApiRoute", "FunctionSpec", "QueueSpec", "Schedule", "SqsMapping",
    "Stack", "StreamMapping", "TableSpec", "TemplateError", "load_template", "merge_globals", "rate_seconds",
    "references",
]
