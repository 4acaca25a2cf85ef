"""Two costs of moto's SQS model that grow with a queue's length, made flat for the run (same
answers): receipt handles counted rather than drawn 200 letters at a time, ``Queue.attributes`` built whole (every message looked at, for its counts) where one key is
read (``send_message`` reads ContentBasedDeduplication on every message sent), and moto's clock read
through datetime per message per check, here the virtual clock's current value."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any, Callable, Iterator


class LazyAttributes(Mapping):
    """``Queue.attributes``, each value computed when read, with moto's own rules."""

    def __init__(self, queue: Any, names: list[str]):
        self.queue, self.names = queue, names

    def __getitem__(self, key: str) -> Any:
        from moto.sqs.models import camelcase_to_underscores

        if key not in self.names:
            raise KeyError(key)
        if key == "Policy":
            return self.queue.policy
        if key == "RedrivePolicy":
            import json

            return json.dumps(self.queue.redrive_policy)
        value = getattr(self.queue, camelcase_to_underscores(key))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def _attributes(queue: Any) -> LazyAttributes:
    names = list(queue.BASE_ATTRIBUTES)
    if queue.fifo_queue:
        names += queue.FIFO_ATTRIBUTES
    if queue.kms_master_key_id:
        names += queue.KMS_ATTRIBUTES
    if queue.policy:
        names.append("Policy")
    if queue.redrive_policy:
        names.append("RedrivePolicy")
    return LazyAttributes(queue, names)


@contextmanager
def flat_sqs(now: Callable[[], float]) -> Iterator[None]:
    from moto.sqs import models

    saved = (models.Queue.attributes, models.unix_time, models.unix_time_millis, models.generate_receipt_handle)
    handles = iter(range(1, 1 << 62))
    models.generate_receipt_handle = lambda: f"rh-{next(handles):012d}"  # type: ignore[assignment]
    models.Queue.attributes = property(_attributes)  # type: ignore[assignment]
    models.unix_time = lambda dt=None: now() if dt is None else saved[1](dt)  # type: ignore[assignment]
    models.unix_time_millis = lambda dt=None: now() * 1000.0 if dt is None else saved[2](dt)  # type: ignore[assignment]
    try:
        yield
    finally:
        (models.Queue.attributes, models.unix_time, models.unix_time_millis,
         models.generate_receipt_handle) = saved  # type: ignore[assignment]
