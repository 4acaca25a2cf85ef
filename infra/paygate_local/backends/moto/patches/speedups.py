"""Pure functions moto recomputes on every request, remembered or made cheaper; same answers.

moto's server lists its own package directory (about 150 stat calls) on every request to find the
service a request is for; the list never changes while it runs, so it is computed once. The list of
a response class's methods (inspect.getmembers, ~300 members) and the snake_case of an action name,
asked on every request (and, for SQS, on every queue attribute read), are remembered. moto's SQS
reads the clock as datetime arithmetic, once per message per check of its visibility: ``time.time()``.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from paygate_local.backends.moto.patches.patching import Patch


def install(patch: Patch) -> None:
    from moto import backends
    from moto.core import responses, utils
    from moto.sqs import models as sqs_models
    from moto.sqs.models import SQSBackend

    modules = tuple(backends.list_of_moto_modules())
    patch(backends, "list_of_moto_modules", lambda: modules)

    patch(responses, "method_names_from_class", functools.lru_cache(maxsize=None)(utils.method_names_from_class))
    snake_case = functools.lru_cache(maxsize=4096)(utils.camelcase_to_underscores)
    patch(responses, "camelcase_to_underscores", snake_case)
    patch(sqs_models, "camelcase_to_underscores", snake_case)

    # Two datetimes built per call, and a receive checks every message of the queue a few times over
    # (through Queue.attributes, for each message it returns): under load that was a third of the
    # backend's CPU. time.time() is the same number.
    patch(sqs_models, "unix_time", lambda dt=None: time.time() if dt is None else _unix_time(dt))
    patch(sqs_models, "unix_time_millis",
          lambda dt=None: time.time() * 1000.0 if dt is None else _unix_time(dt) * 1000.0)

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        # The same test as moto's, without building every attribute of the queue to read one.
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > time.time()
    patch(SQSBackend, "is_message_valid_based_on_retention_period", is_message_valid_based_on_retention_period)


def _unix_time(dt: Any) -> float:
    from moto.core.utils import unix_time

    return unix_time(dt)
