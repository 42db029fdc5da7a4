"""One error root for the studio's errors, and jobs that leave the caller's torch threads as they were."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import torch

import studio
from studio.core.errors import StudioError
from studio.core.jobs import JobCancelled, run_job, torch_threads, with_torch_threads


def _studio_exceptions() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(studio.core.__path__, "studio.core."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == info.name:
                found.append(value)
    return found


def test_every_error_of_the_core_is_a_studio_error_and_none_is_a_runtime_error():
    errors = _studio_exceptions()
    assert {e.__name__ for e in errors} >= {"SessionError", "FrameSourceError", "TrackingError", "CaptureError",
                                            "RigFileError", "TargetError", "TakeFileError", "JobCancelled"}
    for error in errors:
        assert issubclass(error, StudioError), error
        assert not issubclass(error, RuntimeError), error  # superqt would drop it (studio.ui.workers)


def _counting_job(seen: list[int], steps: int = 3):
    for step in range(steps):
        seen.append(torch.get_num_threads())
        yield step
    seen.append(torch.get_num_threads())
    return "done"


def test_a_job_computes_with_its_threads_and_the_caller_keeps_its_own():
    caller = torch.get_num_threads()
    seen: list[int] = []
    at_yield: list[int] = []
    result = run_job(with_torch_threads(_counting_job(seen), 1), lambda _: at_yield.append(torch.get_num_threads()))
    assert result == "done"
    assert seen == [1, 1, 1, 1]
    assert at_yield == [caller] * 3 and torch.get_num_threads() == caller


def test_closing_or_throwing_into_the_wrapper_reaches_the_job():
    closed = []

    def job():
        try:
            while True:
                try:
                    yield torch.get_num_threads()
                except KeyError:
                    yield "caught"
        finally:
            closed.append(True)

    wrapped = with_torch_threads(job(), 1)
    assert next(wrapped) == 1
    assert wrapped.throw(KeyError("x")) == "caught"
    wrapped.close()
    assert closed == [True]


def test_torch_threads_restores_after_a_failure():
    caller = torch.get_num_threads()
    with pytest.raises(JobCancelled), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise JobCancelled("stop")
    assert torch.get_num_threads() == caller


def test_a_device_is_checked_before_any_work() -> None:
    import torch

    from studio.core.jobs import DeviceError, checked_device

    assert checked_device("cpu") == "cpu"
    for name, message in (("tpu", "cpu or cuda"), ("banana", "not a torch device")):
        with pytest.raises(DeviceError, match=message):
            checked_device(name)
    if torch.cuda.is_available():
        assert checked_device("cuda").startswith("cuda")
        with pytest.raises(DeviceError, match="CUDA device"):
            checked_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(DeviceError, match="use --device cpu") as failure:
            checked_device("cuda")
        assert "\n" not in str(failure.value)
