"""The runtime's checkpoints (``paygate dev`` with a state file), so that a restart, even after a
crash, resumes where the gateway was.

With the embedded moto, its state is restored into the freshly provisioned tables and queues at
start, and every change is durable before it is answered (``backends/moto/state.py``): a crash
loses nothing anyone was told of. A checkpoint follows the first change after the last one by
``CHECKPOINT_INTERVAL`` and compacts: it drops the stream records every mapping is done with. With
any other backend (which keeps its own state) the checkpoint saves where each stream mapping has
got to (``event_sources/mappings.py``). An idle gateway writes nothing and does not wake up.
"""

from __future__ import annotations

import logging
import threading

from paygate_local.backends.moto.state import MotoCheckpointer, Restored
from paygate_local.event_sources.mappings import EventSources
from paygate_local.statefile import StateFile
from paygate_local.template import Stack

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL = 0.5


class Checkpoints:
    """``changed`` is set by whatever has something to save (moto's hooks, the stream pollers)."""

    def __init__(self, state: StateFile | None, event_sources: EventSources, changed: threading.Event):
        self.state = state
        self.event_sources = event_sources
        self.changed = changed
        self.checkpointer: MotoCheckpointer | None = None
        self.restored: Restored | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def restore(self, stack: Stack, *, account_id: str, region: str) -> None:
        """The embedded backend's saved state, back in its freshly provisioned tables and queues."""
        if self.state is None:
            return
        self.checkpointer = MotoCheckpointer(
            self.state, account_id=account_id, region=region,
            tables=[t.name for t in stack.tables()], queues=[q.name for q in stack.queues()],
            changed=self.changed)
        self.restored = self.checkpointer.restore()
        self.checkpointer.install()
        log.info("state restored in %.2f s: %d items, %d stream records, %d messages", self.restored.seconds,
                 self.restored.items, self.restored.stream_records, self.restored.messages)

    def save(self) -> bool:
        """Save what changed since the last checkpoint (False: nothing had)."""
        self.changed.clear()
        if self.checkpointer is not None:
            # Before the backend is locked: never ahead of it.
            return self.checkpointer.checkpoint(self.event_sources.finished_stream_positions())
        if self.state is None:
            return False
        return self.event_sources.save_positions(self.state)

    def start(self) -> None:
        if self.state is None:
            return

        def loop() -> None:
            while not self._stop.is_set():
                self.changed.wait()  # an idle gateway does not wake up
                if self._stop.wait(CHECKPOINT_INTERVAL):
                    return  # the last one is the stop's
                try:
                    self.save()
                except Exception:  # noqa: BLE001 - the next one saves it all again
                    log.exception("checkpoint failed")

        self._thread = threading.Thread(target=loop, name="checkpoints", daemon=True)
        self._thread.start()

    def stop(self, final: bool) -> None:
        """End the loop; ``final``: save a last checkpoint (a graceful stop), else let go of the
        backend's state as it is (the next start resumes from the last checkpoint)."""
        if self._thread is not None:
            self._stop.set()
            self.changed.set()
            self._thread.join(timeout=10)
            self._thread = None
        if final and self.state is not None:
            self.save()
        if self.checkpointer is not None and not final:
            self.checkpointer.close()
