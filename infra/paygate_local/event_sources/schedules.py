"""Schedules (a function's ``Schedule`` events): the function invoked with EventBridge's scheduled
event at the rule's rate."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from paygate_local.event_sources.loop import Invoke, PollLoop, note
from paygate_local.template import Schedule


class SchedulePoller(PollLoop):
    """A ``Schedule`` event: the function invoked with EventBridge's scheduled event, once per
    interval, first one interval after the start. It sleeps on the stop event between runs: an idle
    gateway does not wake up for it more than the schedule says."""

    def __init__(self, schedule: Schedule, interval: float, *, invoke: Invoke, region: str, account_id: str,
                 stop: threading.Event, log_path: Path | None = None):
        super().__init__(f"schedule-{schedule.function}-{schedule.event}", stop, log_path)
        self.schedule, self.interval, self.invoke = schedule, interval, invoke
        self.region, self.account_id = region, account_id
        self.invocations = 0
        self._due = time.monotonic() + interval

    def wake(self) -> None:
        pass  # it waits on the stop event itself

    def step(self) -> bool | None:
        if self._stop_event.wait(max(0.0, self._due - time.monotonic())):
            return False
        self._due = max(self._due + self.interval, time.monotonic())
        result = self.invoke(self.schedule.function, scheduled_event(self.schedule, self.region, self.account_id))
        self.invocations += 1
        if not result.ok:
            note(self.log_path, "WARNING", "scheduled invocation failed", event=self.schedule.event,
                 error=result.error)
        return None


def scheduled_event(schedule: Schedule, region: str, account_id: str) -> dict[str, Any]:
    """What EventBridge sends a function on a schedule."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": account_id, "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account_id}:rule/{schedule.function}-{schedule.event}"],
        "detail": {},
    }
