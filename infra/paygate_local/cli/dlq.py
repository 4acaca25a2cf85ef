"""`paygate dlq`: what the dead-letter queues hold, and replaying the relay's after a fault is fixed.

    paygate dlq list   [--state-dir .paygate]
    paygate dlq replay [--state-dir .paygate] [--max N]

The relay's DLQ (``RelayDLQ``, its stream mapping's on-failure destination) holds, per failed batch,
where the batch was in the stream (``DDBStreamBatchInfo``: shard, first and last sequence numbers), as
Lambda writes it. ``replay`` reads those records again (from the message itself when ``paygate dev``
put them there, else from the stream, which keeps them 24 hours on AWS) and publishes what they ask for
with the relay's own code (``paygate.services.relay``), then deletes the message. What was published
before is published again under the same deduplication ids and webhook ids, and every consumer is
idempotent, so a replay never moves a payment twice. A message whose records are gone from the stream
is left where it is, and said.

The other DLQs are drained as they fill by their own functions (DeadLetterFunction settles a dead
command by what the provider knows; WebhookDeadLetterFunction keeps a dead webhook where the merchant
sees it, ``failed_deliveries``); ``list`` shows what they hold at the moment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Iterator

import typer

from paygate_local.cli.options import DEFAULT_STATE_DIR, StateDir, Template, require_dev, template_path
from paygate_local.merchants import client_kwargs

RELAY_DLQ = "RelayDLQ"

app = typer.Typer(help="the dead-letter queues of a running `paygate dev`", no_args_is_help=True)


@app.command("list")
def list_command(state_dir: StateDir = DEFAULT_STATE_DIR, template: Template = None) -> int:
    """How many messages each dead-letter queue holds."""
    sqs, _ = _clients(state_dir)
    for lid, visible, in_flight in queue_depths(sqs, _dlq_urls(sqs, template_path(template))):
        print(f"{lid:28} {visible:6} waiting {in_flight:6} in flight")
    return 0


@app.command("replay")
def replay_command(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    template: Template = None,
    max: Annotated[int, typer.Option("--max", help="at most this many DLQ messages")] = 1000,
) -> int:
    """Publish again what the relay failed to (RelayDLQ), once the fault is fixed."""
    from paygate.adapters.dynamodb.stream import PaymentChanges
    from paygate.adapters.sqs import SqsPublisher
    from paygate.services.relay import relay
    from paygate_local.template import Stack

    sqs, streams = _clients(state_dir)
    path = template_path(template)
    urls = _dlq_urls(sqs, path)
    names = {q.logical_id: q.name for q in Stack.from_file(path, parameter_overrides={"Mode": "dev"}).queues()}
    commands_url = sqs.get_queue_url(QueueName=names["CommandsQueue"])["QueueUrl"]
    webhooks_url = sqs.get_queue_url(QueueName=names["WebhooksQueue"])["QueueUrl"]
    publisher = SqsPublisher(sqs)
    done = replay_relay(
        sqs=sqs, streams=streams, dlq_url=urls[RELAY_DLQ], max_messages=max,
        relay=lambda records: relay(records, decoder=PaymentChanges(), publisher=publisher,
                                    commands_queue_url=commands_url, webhooks_queue_url=webhooks_url))
    print(f"replayed {done.replayed_batches} failed relay batches ({done.replayed_records} stream records)")
    for why in done.left:
        print(f"left in {RELAY_DLQ}: {why}")
    return 0 if not done.left else 1


def _clients(state_dir: str) -> tuple[Any, Any]:
    """SQS and DynamoDB Streams of the running gateway's backend."""
    import boto3

    info = require_dev(state_dir)
    kwargs = client_kwargs(info.aws_endpoint_url, info.region)
    return boto3.client("sqs", **kwargs), boto3.client("dynamodbstreams", **kwargs)


def _dlq_urls(sqs: Any, template: Path) -> dict[str, str]:
    return {lid: sqs.get_queue_url(QueueName=name)["QueueUrl"] for lid, name in dead_letter_queues(template).items()}


@dataclass
class Replay:
    replayed_batches: int = 0
    replayed_records: int = 0
    left: list[str] = field(default_factory=list)  # why each message left in the DLQ is there


def read_range(streams: Any, info: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream records from ``startSequenceNumber`` to ``endSequenceNumber`` of one shard."""
    try:
        iterator = streams.get_shard_iterator(StreamArn=info["streamArn"], ShardId=info["shardId"],
                                              ShardIteratorType="AT_SEQUENCE_NUMBER",
                                              SequenceNumber=info["startSequenceNumber"])["ShardIterator"]
    except Exception:  # noqa: BLE001 - trimmed or unknown: the caller says so
        return []
    end = int(info["endSequenceNumber"])
    found: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=100)
        records = page.get("Records") or []
        for record in records:
            if int(record["dynamodb"]["SequenceNumber"]) > end:
                return found
            found.append(record)
        if not records:
            return found
        iterator = page.get("NextShardIterator")
    return found


def replay_relay(*, sqs: Any, streams: Any, dlq_url: str, relay: Any, max_messages: int = 1000) -> Replay:
    """Each failed batch in the relay's DLQ through ``relay(records) -> first unsent or None``."""
    done = Replay()
    seen = 0
    while seen < max_messages:
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=60).get("Messages") or []
        if not messages:
            break
        for message in messages:
            seen += 1
            body = json.loads(message["Body"])
            info = body.get("DDBStreamBatchInfo") or {}
            records = body.get("records") or read_range(streams, info)
            if not records:
                done.left.append(f"{message['MessageId']}: its records are no longer in the stream "
                                 f"({info.get('shardId')} {info.get('startSequenceNumber')}..)")
                continue
            first_unsent = relay(records)
            if first_unsent is not None:
                done.left.append(f"{message['MessageId']}: publishing failed again from {first_unsent}")
                continue
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            done.replayed_batches += 1
            done.replayed_records += len(records)
    return done


def queue_depths(sqs: Any, urls: dict[str, str]) -> Iterator[tuple[str, int, int]]:
    for name, url in urls.items():
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        yield name, int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def dead_letter_queues(template: Path) -> dict[str, str]:
    """Logical id -> queue name of every queue some other queue or mapping dead-letters into."""
    from paygate_local.template import Stack

    stack = Stack.from_file(template, parameter_overrides={"Mode": "dev"})
    names = {q.logical_id: q.name for q in stack.queues()}
    dlqs = {lid for q in stack.queues() for lid in q.depends_on}
    dlqs |= {lid for lid in names if lid.endswith("DLQ")}
    return {lid: names[lid] for lid in sorted(dlqs) if lid in names}
