"""Long work as generator jobs (GUIDE §2): a job yields progress, checks for cancellation, returns its result.

A *job* is a generator function: each ``yield`` reports progress (for instance a ``(done, total)`` tuple)
and is a point where the work can stop; the result is the generator's ``return`` value. The GUI drives
jobs with superqt's ``create_worker`` (its ``yielded`` signal carries the progress, ``returned`` the result,
and ``quit()`` stops the generator at its next ``yield``); scripts, the CLI and tests drive them with
:func:`run_job`. Jobs that take a ``cancel`` argument check it between units of work (see
:func:`is_cancelled`) and raise :class:`JobCancelled` when it is set.

Example
-------
>>> def count(n, cancel=None):
...     for i in range(n):
...         if is_cancelled(cancel):
...             raise JobCancelled("counting cancelled")
...         yield (i + 1, n)
...     return n
>>> run_job(count(3))
3
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Protocol, TypeVar, runtime_checkable

Result = TypeVar("Result")


class JobCancelled(Exception):
    """A job stopped because its ``cancel`` flag was set (one-line message).

    Attributes
    ----------
    partial : object or None
        What the job had computed when it stopped (documented by each job), or ``None``.
    """

    def __init__(self, message: str = "cancelled", partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial


@runtime_checkable
class CancelFlag(Protocol):
    """Anything with ``is_set() -> bool``, such as :class:`threading.Event`."""

    def is_set(self) -> bool: ...


#: What a job accepts as ``cancel``: a callable returning True to stop, an event-like flag, or ``None``.
Cancel = Callable[[], bool] | CancelFlag | None


def is_cancelled(cancel: Cancel) -> bool:
    """Whether ``cancel`` asks the job to stop.

    Parameters
    ----------
    cancel : callable, object with ``is_set()``, or None
        ``None`` never cancels; a :class:`threading.Event`-like flag cancels once set; a callable cancels
        when it returns a truthy value.
    """
    if cancel is None:
        return False
    if isinstance(cancel, CancelFlag):
        return bool(cancel.is_set())
    return bool(cancel())


def run_job(job: Generator[Any, Any, Result], on_progress: Callable[[Any], None] | None = None) -> Result:
    """Drive a generator job to completion and return its result.

    Parameters
    ----------
    job : Generator
        A started-or-not generator object (call the job function first: ``run_job(reconstruct(...))``).
    on_progress : callable, optional
        Called with every value the job yields (for a progress bar or log line).

    Returns
    -------
    object
        The job's ``return`` value.

    Raises
    ------
    Exception
        Whatever the job raises (for instance :class:`JobCancelled`).
    """
    while True:
        try:
            progress = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(progress)
