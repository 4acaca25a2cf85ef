"""The metrics AWS publishes by itself for Lambda and SQS, published by the runtime into the local backend.

On AWS the Lambda service puts ``AWS/Lambda`` ``Invocations`` and ``Errors`` (dimension
``FunctionName``) for every function, and SQS puts ``AWS/SQS`` ``ApproximateNumberOfMessagesVisible``,
``...NotVisible`` and ``...Delayed`` (dimension ``QueueName``) for every queue once a minute. Neither moto
nor LocalStack does it for functions that run in ``paygate dev`` (LocalStack runs none of them; moto
publishes nothing), so the alarms on them (alarms.py) would never see a datapoint. ``AwsMetrics`` does:
each round (``publish``) it takes the invocations and errors the Lambda service counted since the last
round (the runtime's meter, counters.py), reads the queues' depths with GetQueueAttributes and sends what
is new in one PutMetricData a namespace: a queue's depths when they changed since they were last sent or a
minute has passed (as SQS does), a function's counts when it was invoked since the last round.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable

log = logging.getLogger(__name__)

QUEUE_METRICS = {
    "ApproximateNumberOfMessagesVisible": "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible": "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed": "ApproximateNumberOfMessagesDelayed",
}
QUEUE_REPEAT_SECONDS = 60.0  # SQS publishes every queue's depth once a minute


class AwsMetrics:
    """``queues``: queue name -> URL; ``client(service)``: a boto3 client of the backend;
    ``lambda_counts()``: function name -> (invocations, errors) so far (the runtime's meter)."""

    def __init__(self, queues: dict[str, str], client: Callable[[str], Any],
                 lambda_counts: Callable[[], dict[str, tuple[int, int]]],
                 depths: Callable[[str], tuple[int, int, int]] | None = None):
        """``depths(queue name)``: (visible, not visible, delayed) read without a request (moto in this
        process: ``moto_depths``); None: GetQueueAttributes."""
        self.queues, self._client, self._lambda_counts = dict(queues), client, lambda_counts
        self._depths_of = depths
        self._sent_counts: dict[str, tuple[int, int]] = {}  # what earlier rounds published, by function
        self._depths: dict[str, tuple[tuple[int, ...], float]] = {}  # queue -> (depths, when last sent)
        self._sqs: Any = None
        self._cloudwatch: Any = None
        self.put_calls = 0

    def publish(self, now: datetime) -> None:
        counts = self._lambda_counts()
        lambda_data = []
        for name, (invocations, errors) in sorted(counts.items()):
            before = self._sent_counts.get(name, (0, 0))
            if invocations > before[0]:
                lambda_data += [_datum("Invocations", "FunctionName", name, invocations - before[0], now),
                                _datum("Errors", "FunctionName", name, errors - before[1], now)]
        sqs_data = self._queue_data(now)
        try:
            for namespace, data in (("AWS/Lambda", lambda_data), ("AWS/SQS", sqs_data)):
                for start in range(0, len(data), 1000):
                    self._cw().put_metric_data(Namespace=namespace, MetricData=data[start:start + 1000])
                    self.put_calls += 1
        except Exception:
            self._depths.clear()  # sent again next round; the invocations too, since not marked sent
            raise
        self._sent_counts = counts

    def _queue_data(self, now: datetime) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = []
        seconds = now.timestamp()
        for name, url in self.queues.items():
            try:
                if self._depths_of is not None:
                    depths = self._depths_of(name)
                else:
                    attributes = self._sqs_client().get_queue_attributes(
                        QueueUrl=url, AttributeNames=list(QUEUE_METRICS.values()))["Attributes"]
                    depths = tuple(int(attributes.get(a, 0)) for a in QUEUE_METRICS.values())
            except Exception as exc:  # noqa: BLE001 - a queue deleted behind our back: said, not fatal
                log.warning("queue %s: depth not read: %s", name, exc)
                continue
            previous = self._depths.get(name)
            if previous and previous[0] == depths and seconds - previous[1] < QUEUE_REPEAT_SECONDS:
                continue
            self._depths[name] = (depths, seconds)
            data.extend(_datum(metric, "QueueName", name, value, now)
                        for metric, value in zip(QUEUE_METRICS, depths, strict=True))
        return data

    def _sqs_client(self) -> Any:
        if self._sqs is None:
            self._sqs = self._client("sqs")
        return self._sqs

    def _cw(self) -> Any:
        if self._cloudwatch is None:
            self._cloudwatch = self._client("cloudwatch")
        return self._cloudwatch


def _datum(metric: str, dimension: str, value_of: str, value: float, now: datetime) -> dict[str, Any]:
    return {"MetricName": metric, "Dimensions": [{"Name": dimension, "Value": value_of}], "Timestamp": now,
            "Value": float(value), "Unit": "Count"}


def moto_depths(account_id: str, region: str) -> Callable[[str], tuple[int, int, int]]:
    """A queue's (visible, not visible, delayed) from the moto backend running in this process, as
    GetQueueAttributes counts them, without a request (a round then costs no call when nothing changed)."""
    from moto.sqs.models import sqs_backends

    from paygate_local.backends.moto import patches as moto_patches

    def depths(name: str) -> tuple[int, int, int]:
        queue = sqs_backends[account_id][region].get_queue(name)
        with moto_patches.sqs_lock:
            return (queue.approximate_number_of_messages, queue.approximate_number_of_messages_not_visible,
                    queue.approximate_number_of_messages_delayed)

    return depths
