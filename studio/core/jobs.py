"""Long work as generator jobs (GUIDE §2): a job yields progress, checks for cancellation, returns its result.

A *job* is a generator function: each ``yield`` reports progress (for instance a ``(done, total)`` tuple)
and is a point where the work can stop; the result is the generator's ``return`` value. The GUI drives
jobs through its one worker door, ``studio.ui.workers.job_worker`` (a superqt worker: ``yielded`` carries the
progress, ``returned`` the result, and ``quit()`` stops the generator at its next ``yield``); scripts, the
CLI and tests drive them with :func:`run_job`. Failures are :class:`~studio.core.errors.StudioError`
subclasses with one-line messages. Jobs that take a ``cancel`` argument check it between units of work (see
:func:`is_cancelled`) and raise :class:`JobCancelled` when it is set.

Jobs never leave a process-wide setting changed: a job that wants fewer torch threads for its small solves
runs under :func:`torch_threads` (a context manager that restores the caller's setting) or is wrapped in
:func:`with_torch_threads`, which sets the threads only while the job computes and restores them at every
``yield``, so whoever drives the job (a GUI worker, the command line's progress bar) keeps its own.

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

from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from studio.core.errors import StudioError

Result = TypeVar("Result")


class JobCancelled(StudioError):
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


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the ``with`` block with torch's intra-op thread count at ``threads``; restore it afterwards.

    With torch's OpenMP backend the setting belongs to the calling thread (a worker thread's setting does not
    reach the GUI thread), but a job driven on the main thread would change the caller's: this restores it,
    whatever happens in the block. ``None`` leaves the setting alone.
    """
    if threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def with_torch_threads(job: Generator[Any, Any, Result], threads: int | None) -> Generator[Any, Any, Result]:
    """The job, computing with ``threads`` torch threads between its yields (:func:`torch_threads` around each
    step) and with the caller's setting while it waits at a ``yield``; closing or throwing into the wrapper
    reaches the job."""
    value: Any = None
    throwing = False
    while True:
        try:
            with torch_threads(threads):
                progress = job.throw(value) if throwing else job.send(value)
        except StopIteration as stop:
            return stop.value
        try:
            value, throwing = (yield progress), False
        except GeneratorExit:
            job.close()
            raise
        except BaseException as error:  # thrown in by the driver: hand it to the job
            value, throwing = error, True


class DeviceError(StudioError):
    """A compute device that this machine does not have (one line saying what it has)."""


def preferred_device() -> str:
    """Where batched network inference goes when nobody says: ``"cuda"`` when a CUDA GPU is visible, else
    ``"cpu"``. (One live frame's 53-control solve stays on the CPU: it is a few small kernels, which a GPU's
    launch latency would not speed up.)"""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def checked_device(name: str) -> str:
    """``name`` as a torch device string once it is known to exist here (``cpu``, ``cuda``, ``cuda:1``).

    Raises
    ------
    DeviceError
        Not a torch device, or CUDA asked for on a machine (or a torch build) without it.
    """
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise DeviceError(f"device {name!r} is not a torch device (use cpu or cuda)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build of torch" if torch.version.cuda is None else "no CUDA GPU visible"
            raise DeviceError(f"device {name!r}: this machine has {build}; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif device.type != "cpu":
        raise DeviceError(f"device {name!r}: the studio computes on cpu or cuda")
    return str(device)
