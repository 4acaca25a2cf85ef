"""The template as a file: reading it, the error it raises, and the resource types the runtime knows."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import cfn_tools

DEFAULT_STACK_NAME = "paygate"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"

# Lambda's defaults when a function sets no Timeout or MemorySize (the SAM transform adds none).
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
    "AWS::IAM::Role": "RoleName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::CloudWatch::Alarm": "AlarmName",
}

# The runtime reads the CloudFormation the SAM transform produces: a function there is an
# AWS::Lambda::Function. SAM_FUNCTION_TYPE is what template.yaml declares (what a deployer checks).
FUNCTION_TYPE = "AWS::Lambda::Function"
SAM_FUNCTION_TYPE = "AWS::Serverless::Function"
TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
QUEUE_TYPE = "AWS::SQS::Queue"
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
REST_API_TYPE = "AWS::ApiGateway::RestApi"
ROLE_TYPE = "AWS::IAM::Role"
TOPIC_TYPE = "AWS::SNS::Topic"
LOG_GROUP_TYPE = "AWS::Logs::LogGroup"
ALARM_TYPE = "AWS::CloudWatch::Alarm"
ESM_TYPE = "AWS::Lambda::EventSourceMapping"
PERMISSION_TYPE = "AWS::Lambda::Permission"
RULE_TYPE = "AWS::Events::Rule"
SCHEDULE_TYPE = "AWS::Scheduler::Schedule"
ALIAS_TYPES = ("AWS::Lambda::Alias", "AWS::Lambda::Version")  # both name their function in FunctionName


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
    """SAM's Globals rules, by samtranslator's own merge: maps merge (resource wins), lists are global
    entries then the resource's, anything else (and any intrinsic) is taken from the resource.

    The transform applies them itself (with each resource type's schema); this is for a reader who
    wants to see one merge. Neither argument is modified."""
    from samtranslator.plugins.globals.globals import GlobalProperties

    return GlobalProperties(copy.deepcopy(global_props)).merge(copy.deepcopy(props))
