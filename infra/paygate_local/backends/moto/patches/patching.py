"""What the patches share: applying one so that ``patched()`` can undo it (``Patches``), and finding
the queue an SQS method changes (``queue_itself``, ``queue_by_name``)."""

from __future__ import annotations

from typing import Any, Callable

Patch = Callable[[Any, str, Any], None]  # patch(owner, name, value): undone when patched() ends

_MISSING = object()


class Patches:
    """Attributes set on moto's classes and modules, each with what it replaced."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        self._undo.append((owner, name, owner.__dict__[name] if name in owner.__dict__ else _MISSING))
        setattr(owner, name, value)

    def undo(self) -> None:
        """Put back what was there, the last set first."""
        while self._undo:
            owner, name, original = self._undo.pop()
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def queue_itself(queue: Any, *args: Any, **kwargs: Any) -> Any:
    """The queue a ``Queue`` method changes: its own."""
    return queue


def queue_by_name(backend: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
    """The queue an ``SQSBackend`` method changes: the one it names."""
    return backend.queues.get(queue_name)
