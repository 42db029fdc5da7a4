"""Generator jobs in superqt workers, with every failure reported.

superqt's ``GeneratorWorker`` takes a ``RuntimeError`` raised inside the generator for a deleted Qt object:
it warns and ends *without* ``errored`` or ``finished``, so a page would wait forever. The studio's own
errors are often ``RuntimeError`` subclasses (``SessionError``, ``FrameSourceError``, ``CaptureError``,
``TrackingError``), so :func:`job_worker` re-raises them as :class:`JobFailed`, which superqt reports.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from superqt.utils import GeneratorWorker, create_worker


def one_line(error: BaseException) -> str:
    """An error's first line (its type's name when it has no message), for a status line."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class JobFailed(Exception):
    """A job failed; the message is the original error's (its ``__cause__``)."""


def _guarded(function: Callable[..., Generator], *args: Any, **kwargs: Any) -> Generator:
    try:
        return (yield from function(*args, **kwargs))
    except RuntimeError as error:
        raise JobFailed(str(error) or type(error).__name__) from error


def job_worker(function: Callable[..., Generator], *args: Any, **kwargs: Any) -> GeneratorWorker:
    """A not yet started superqt worker running ``function(*args, **kwargs)`` (a generator job), whose
    failures all reach ``errored`` (then ``finished``); connect its signals, then ``start()`` it."""
    return create_worker(_guarded, function, *args, _start_thread=False, _ignore_errors=True, **kwargs)
