"""The one door through which the UI runs work off the GUI thread: :func:`job_worker`.

Long work is a generator job of the core (GUIDE §2): it yields progress, checks for cancellation and returns
its result. :func:`job_worker` wraps one (or a plain function, for short one-off work such as building a
retarget target) in a superqt worker: ``yielded`` carries the progress, ``returned`` the result, ``errored``
every failure and ``finished`` comes last, always. Every page and tool window starts its workers here.

superqt's worker takes a ``RuntimeError`` raised by the work for a deleted Qt object: it warns and ends
*without* ``errored`` or ``finished``, so a page would wait forever. The studio's own errors are
:class:`~studio.core.errors.StudioError` (never a ``RuntimeError``); a third-party one (torch, OpenCV) is
re-raised here as a ``StudioError`` with its one line, so it is reported like any other failure.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from typing import Any

from superqt.utils import WorkerBase, create_worker

from studio.core.errors import StudioError

__all__ = ["job_worker", "one_line"]


def one_line(error: BaseException) -> str:
    """An error's first line (its type's name when it has no message), for a status line."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _reported(error: RuntimeError) -> StudioError:
    return StudioError(f"{type(error).__name__}: {one_line(error)}")


def _guarded_job(function: Callable[..., Generator], *args: Any, **kwargs: Any) -> Generator:
    try:
        return (yield from function(*args, **kwargs))
    except RuntimeError as error:
        raise _reported(error) from error


def _guarded_call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except RuntimeError as error:
        raise _reported(error) from error


def job_worker(function: Callable[..., Any], *args: Any, **kwargs: Any) -> WorkerBase:
    """A not yet started superqt worker running ``function(*args, **kwargs)``.

    Parameters
    ----------
    function : callable
        A generator job (its yields become ``yielded``; ``quit()`` stops it at its next yield) or a plain
        function.
    *args, **kwargs
        Its arguments.

    Returns
    -------
    superqt.utils.GeneratorWorker or superqt.utils.FunctionWorker
        Connect its signals, then ``start()`` it. Errors reach ``errored`` (never re-raised in the GUI thread),
        then ``finished``.
    """
    guarded = _guarded_job if inspect.isgeneratorfunction(function) else _guarded_call
    return create_worker(guarded, function, *args, _start_thread=False, _ignore_errors=True, **kwargs)
