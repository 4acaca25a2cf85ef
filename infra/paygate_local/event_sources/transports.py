"""How the pollers reach SQS and DynamoDB Streams: two transports behind one small interface.

- In process (``moto_transports.py``): when ``paygate dev`` runs moto's server itself, the pollers
  call moto's backend objects directly (no HTTP round trip, no boto3) and, when there is nothing to
  take, wait on the notifications ``moto_patches`` hooks into moto (a message sent, deleted or made
  visible; a stream record appended) or until the moment the next delayed or invisible message is
  due. An idle gateway then does no work at all.
- Remote (``boto_transports.py``): any other backend (LocalStack, ``--backend URL``) is read through
  boto3 the way Lambda's pollers read AWS: SQS long polling (WaitTimeSeconds up to 20 s), DynamoDB
  streams polled four times a second.

Lambda's event source mapping semantics (batching, partial failures, FIFO order, retries, bisect,
on-failure destinations) live once in ``sqs.py`` and ``streams.py``, on top of either transport.

Every request a transport makes is counted in the runtime's ``Meter`` by its AWS operation name, as
AWS would bill it (one long poll is one ReceiveMessage, however long it waited).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

LONG_POLL_SECONDS = 20  # what Lambda's SQS pollers ask for
STREAM_POLL_INTERVAL = 0.25  # Lambda reads a DynamoDB stream shard four times a second
SHARD_REFRESH_INTERVAL = 5.0
# A bound on any wait in process, so that a poller re-checks its stop flag even if a wake-up
# were lost (none should be: stop() wakes every channel the runtime uses).
MAX_IDLE_WAIT = 60.0


def arn_parts(arn: str) -> tuple[str, str, str]:
    """arn:aws:<service>:<region>:<account>:<resource> -> (region, account, resource)."""
    parts = arn.split(":", 5)
    return parts[3], parts[4], parts[5]


# ------------------------------------------------------------------------------------ SQS


class SqsTransport(Protocol):
    queue_arn: str
    fifo: bool
    # moto's gap: a FIFO group's messages redelivered after their visibility timeout may come out of
    # order, so the poller makes a group's later failed messages visible at once (sqs.py). Elsewhere
    # (LocalStack, AWS) the group stays blocked while its first failed message is in flight, as SQS
    # documents, and releasing them would let them overtake it: LocalStack makes the group visible again.
    reorders_fifo_redelivery: bool

    def receive(self, count: int, wait_seconds: float, stop: threading.Event) -> list[dict]:
        """Up to ``count`` (<= 10) messages in ReceiveMessage's response shape, waiting up to
        ``wait_seconds`` for the first one."""

    def delete(self, receipt_handles: list[str]) -> list[dict]:
        """Delete (<= 10 per request); returns the failures."""

    def change_visibility(self, entries: list[tuple[str, int]]) -> list[dict]:
        """(receipt handle, seconds) pairs; returns the failures."""

    def wake(self) -> None:
        """Make a waiting ``receive`` return early (used when stopping)."""


class SqsSender(Protocol):
    def send(self, queue_arn: str, body: str, group_id: str | None = None,
             deduplication_id: str | None = None) -> None: ...


# ------------------------------------------------------------------------------------ streams


@dataclass(frozen=True)
class ShardInfo:
    shard_id: str
    parent_id: str | None
    open: bool


class StreamTransport(Protocol):
    stream_arn: str
    json_ready: bool  # records hold JSON types only (no datetimes, no bytes)
    # ApproximateCreationDateTime to the second, as AWS gives it. LocalStack's (DynamoDB Local's) is
    # rounded down to the minute: a record's age then counts from when the poller first read it.
    exact_creation_times: bool

    def shards(self) -> list[ShardInfo]: ...

    def iterator(self, shard_id: str, iterator_type: str, sequence_number: str | None = None) -> Any:
        """A position in the shard: TRIM_HORIZON, LATEST, or AFTER_SEQUENCE_NUMBER."""

    def read(self, iterator: Any, limit: int) -> tuple[list[dict], Any]:
        """(records, next iterator or None when the shard is closed and read to its end)."""

    def version(self) -> int:
        """A change counter to pass to ``wait`` (0 when the transport cannot tell)."""

    def wait(self, seen: int, timeout: float, stop: threading.Event) -> None:
        """Until new records may be there, or ``timeout`` s."""

    def refresh_due(self) -> bool:
        """Whether the shard list may have changed since the last ``shards()``."""

    def wake(self) -> None: ...


class TrimmedPosition(Exception):
    """The iterator expired or points before the oldest record: get a new one."""
