"""A tiny event emitter for pure models (napari's ``EmitterGroup`` habit, without Qt).

Views subscribe with :meth:`Event.connect` in their ``__init__`` and disconnect in ``close()``; models emit
after they change. :meth:`Event.blocked` keeps a view's own write from echoing back to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Event:
    """A named event with an ordered list of callbacks."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []
        self._blocked = 0

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``callback(*args)`` on every emission; returns it (usable as a decorator)."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Stop calling ``callback``; a callback that is not connected is ignored."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        """Call every connected callback with ``args`` unless the event is blocked."""
        if self._blocked:
            return
        for callback in list(self._callbacks):
            callback(*args)

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """Suppress emissions inside the ``with`` block."""
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1
