"""Create the template's DynamoDB tables, SQS queues, log groups, SNS topics, CloudWatch alarms and
dashboards in the backend.

Idempotent: a table or queue that exists already is kept (queue attributes are updated), so
restarting against a long-running backend such as LocalStack works. After provisioning, the
facts only the backend knows (queue URLs, stream ARNs) are recorded on the ``Stack``.

Event source mappings and Lambda functions are deliberately *not* created in the backend: moto's
own mapping deletes messages and clears streams behind our pollers' backs.

What the hardening of the template becomes locally: point-in-time recovery is switched on where the
backend knows it (moto and LocalStack answer UpdateContinuousBackups; nothing is backed up); the tables'
and queues' encryption settings are passed as written (both backends keep them, neither encrypts); a log
group gets its retention (moto keeps it and never expires anything); a customer KMS key, reserved
concurrency, API access logs and throttling are not applied (there is no KMS key, and the local Lambda
service and API Gateway run each function's workers as its event sources need them). Subscriptions to
the alarm topic are not made: nothing local ever calls an address outside 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from botocore.exceptions import ClientError

from paygate_local.backends.backend import Backend
from paygate_local.observability.alarms import ALARM_TYPE, put_request
from paygate_local.template import QueueSpec, Stack, TableSpec

log = logging.getLogger(__name__)

# CloudFormation queue properties that map one to one onto SQS attributes.
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoThroughputLimit",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
)


def provision(stack: Stack, backend: Backend) -> None:
    """Create every table (then its TTL) and every queue (dead-letter queues first)."""
    dynamodb = backend.client("dynamodb")
    sqs = backend.client("sqs")
    for table in stack.tables():
        stream_arn = ensure_table(dynamodb, table)
        if stream_arn:
            if getattr(backend, "is_localstack", False):
                # Writes made before LocalStack's stream is ENABLED never reach it.
                wait_table_stream_ready(dynamodb, backend.client("dynamodbstreams"), table.name)
            stack.set_attribute(table.logical_id, "StreamArn", stream_arn)
    for queue in stack.queues():
        url = ensure_queue(sqs, queue)
        stack.set_attribute(queue.logical_id, "QueueUrl", url)
    provision_observability(stack, backend)


DASHBOARD_TYPE = "AWS::CloudWatch::Dashboard"
LOG_GROUP_TYPE = "AWS::Logs::LogGroup"
TOPIC_TYPE = "AWS::SNS::Topic"


def provision_observability(stack: Stack, backend: Backend) -> None:
    """Log groups (with their retention), SNS topics, alarms and dashboards."""
    groups = stack.logical_ids(LOG_GROUP_TYPE)
    if groups:
        logs = backend.client("logs")
        for logical_id in groups:
            ensure_log_group(logs, stack.resolve(stack.properties(logical_id)))
    for logical_id in stack.logical_ids(TOPIC_TYPE):
        name = stack.physical_name(logical_id)
        try:
            backend.client("sns").create_topic(Name=name)
        except Exception as exc:  # noqa: BLE001 - a backend without SNS: the alarms still work, unsent
            log.warning("topic %s not created (%s): alarm actions will not be published", name, exc)
    alarms = stack.logical_ids(ALARM_TYPE)
    dashboards = stack.logical_ids(DASHBOARD_TYPE)
    if alarms or dashboards:
        cloudwatch = backend.client("cloudwatch")
        for logical_id in alarms:
            cloudwatch.put_metric_alarm(**put_request(stack.resolve(stack.properties(logical_id))))
        for logical_id in dashboards:
            props = stack.resolve(stack.properties(logical_id))
            cloudwatch.put_dashboard(DashboardName=props["DashboardName"], DashboardBody=props["DashboardBody"])


def ensure_log_group(logs: Any, props: dict[str, Any]) -> None:
    """Create the group unless it exists, and set its retention (its KMS key is not applied locally)."""
    name = props["LogGroupName"]
    try:
        logs.create_log_group(logGroupName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    if props.get("RetentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))


# ------------------------------------------------------------------------------------ tables


def table_request(table: TableSpec) -> dict[str, Any]:
    """CloudFormation table properties -> a CreateTable request."""
    props = table.properties
    request: dict[str, Any] = {
        "TableName": table.name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            indexes = []
            for index in props[key]:
                entry = {k: index[k] for k in ("IndexName", "KeySchema", "Projection") if k in index}
                if request["BillingMode"] == "PROVISIONED" and key == "GlobalSecondaryIndexes":
                    entry["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"))
                indexes.append(entry)
            request[key] = indexes
    sse = props.get("SSESpecification") or {}
    if str(sse.get("SSEEnabled", "")).lower() == "true":  # else: DynamoDB's own key, as when none is said
        request["SSESpecification"] = {"Enabled": True, "SSEType": sse.get("SSEType", "KMS"),
                                       **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if sse.get("KMSMasterKeyId") else {})}
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    return request


def _throughput(value: dict | None) -> dict[str, int]:
    value = value or {}
    return {
        "ReadCapacityUnits": int(value.get("ReadCapacityUnits", 5)),
        "WriteCapacityUnits": int(value.get("WriteCapacityUnits", 5)),
    }


def ensure_table(dynamodb: Any, table: TableSpec, timeout: float = 30.0) -> str | None:
    """Create the table unless it exists, wait until it is ACTIVE, apply TTL; returns its stream ARN."""
    try:
        dynamodb.create_table(**table_request(table))
        log.info("created table %s", table.name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
        log.info("table %s exists already", table.name)
    description = _wait_active(dynamodb, table.name, timeout)
    ttl = table.properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("AttributeName"):
        _ensure_ttl(dynamodb, table.name, ttl)
    pitr = table.properties.get("PointInTimeRecoverySpecification") or {}
    if str(pitr.get("PointInTimeRecoveryEnabled", "")).lower() == "true":
        _ensure_pitr(dynamodb, table.name)
    return description.get("LatestStreamArn")


def _ensure_pitr(dynamodb: Any, name: str) -> None:
    """Point-in-time recovery on, where the backend knows it (said once when it does not)."""
    try:
        dynamodb.update_continuous_backups(TableName=name,
                                           PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    except ClientError as exc:
        log.warning("table %s: point-in-time recovery not set by the backend: %s", name, exc)


def _wait_active(dynamodb: Any, name: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        description = dynamodb.describe_table(TableName=name)["Table"]
        if description.get("TableStatus") == "ACTIVE":
            return description
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {name} is still {description.get('TableStatus')}")
        time.sleep(0.1)


def _ensure_ttl(dynamodb: Any, name: str, ttl: dict) -> None:
    wanted = bool(ttl.get("Enabled", True))
    current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    enabled = current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
    if enabled == wanted and (not wanted or current.get("AttributeName") == ttl["AttributeName"]):
        return
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": wanted},
    )


def wait_table_stream_ready(dynamodb: Any, streams: Any, table_name: str, timeout: float = 30.0,
                            margin: float = 0.25) -> str | None:
    """Wait until the table's stream is ENABLED and has a shard, then ``margin`` seconds more.

    With LocalStack's default (``v1``) streams, a table is ACTIVE before the kinesis-mock stream
    behind its DynamoDB stream is: writes made in that window never reach the stream (kinesis-mock
    logs "Stream ... is not currently ACTIVE or UPDATING"). DescribeStream reports ENABLING until
    then, so waiting for ENABLED closes the window; the margin is for good measure. With moto, on
    AWS and with LocalStack's ``v2`` streams the stream is ENABLED at once and this returns after
    ``margin``. Returns the stream ARN, or None when the table has no stream.
    """
    deadline = time.monotonic() + timeout
    while True:
        table = dynamodb.describe_table(TableName=table_name)["Table"]
        arn = table.get("LatestStreamArn")
        if not (table.get("StreamSpecification") or {}).get("StreamEnabled") and not arn:
            return None
        if arn and table.get("TableStatus") == "ACTIVE":
            description = streams.describe_stream(StreamArn=arn)["StreamDescription"]
            if description.get("StreamStatus") == "ENABLED" and description.get("Shards"):
                break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the stream of table {table_name} is not ENABLED after {timeout:.0f} s")
        time.sleep(0.1)
    if margin > 0:
        time.sleep(margin)
    return arn


# ------------------------------------------------------------------------------------ queues


def queue_attributes(queue: QueueSpec) -> dict[str, str]:
    """CloudFormation queue properties -> CreateQueue attributes (all strings, as SQS wants)."""
    props = queue.properties
    attributes: dict[str, str] = {}
    if queue.fifo:
        attributes["FifoQueue"] = "true"
    for key in _QUEUE_ATTRIBUTES:
        if props.get(key) is not None:
            attributes[key] = _attr_str(props[key])
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        policy = props.get(key)
        if policy:
            policy = dict(policy)
            if "maxReceiveCount" in policy:
                policy["maxReceiveCount"] = int(policy["maxReceiveCount"])
            attributes[key] = json.dumps(policy)
    return attributes


def _attr_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ensure_queue(sqs: Any, queue: QueueSpec) -> str:
    """Create the queue, or bring an existing one's attributes in line; returns its URL."""
    attributes = queue_attributes(queue)
    try:
        url = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
        log.info("created queue %s", queue.name)
        return url
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code not in ("QueueAlreadyExists", "QueueNameExists",
                        "AWS.SimpleQueueService.QueueNameExists"):
            raise
    url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
    mutable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
    if mutable:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)
    log.info("queue %s exists already; attributes updated", queue.name)
    return url
