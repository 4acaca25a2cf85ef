"""`paygate dev` notices a stop signal whichever of its threads the kernel hands it to."""

from __future__ import annotations

import signal
import threading
import time

from paygate_local.foreground import wait_for_stop

GUARD_SECONDS = 30.0


def test_a_signal_taken_by_another_thread_still_stops_the_main_thread() -> None:
    stopping = threading.Event()
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: stopping.set())
    main = threading.get_ident()
    guard_fired = threading.Event()
    returned = threading.Event()

    def worker() -> None:
        # The C-level handler runs in this thread, as when the kernel picks a runtime thread.
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
        # A regression would leave the main thread asleep: wake it so that the test fails, not hangs.
        if not returned.wait(GUARD_SECONDS):
            guard_fired.set()
            signal.pthread_kill(main, signal.SIGUSR1)

    thread = threading.Thread(target=worker, daemon=True)
    try:
        thread.start()
        wait_for_stop(stopping, safety=10 * GUARD_SECONDS)
        returned.set()
    finally:
        thread.join(GUARD_SECONDS + 5)
        signal.signal(signal.SIGUSR1, previous)
    assert stopping.is_set()
    assert not guard_fired.is_set(), "the main thread slept through a signal taken by another thread"


def test_a_stop_already_asked_for_returns_at_once() -> None:
    stopping = threading.Event()
    stopping.set()
    began = time.monotonic()
    wait_for_stop(stopping, safety=600)
    assert time.monotonic() - began < 60  # it did not sit out the safety timeout
