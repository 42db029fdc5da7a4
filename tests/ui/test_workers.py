"""The one worker door: every failure of a job reaches ``errored`` and then ``finished``, in the GUI thread."""

from __future__ import annotations

import pytest

from studio.core.errors import StudioError
from studio.ui.workers import job_worker, one_line

pytestmark = pytest.mark.qt


def _failing_job(error: BaseException):
    yield ("working", 0, 1)
    raise error


def _failing_function(error: BaseException):
    raise error


@pytest.mark.parametrize("work", [_failing_job, _failing_function])
@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (StudioError("session.json: unreadable"), "session.json: unreadable"),
        (RuntimeError("CUDA out of memory\nmore details"), "RuntimeError: CUDA out of memory"),  # superqt drops these
        (ValueError("bad shape"), "bad shape"),
    ],
)
def test_every_failure_is_reported_then_the_worker_finishes(qtbot, work, error, expected):
    worker = job_worker(work, error)
    errors: list[BaseException] = []
    worker.errored.connect(errors.append)
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start()
    assert len(errors) == 1 and one_line(errors[0]) == expected


def test_a_job_yields_progress_and_returns_its_result(qtbot):
    def job(n):
        for i in range(n):
            yield (i + 1, n)
        return n * 10

    worker = job_worker(job, 3)
    progress, results = [], []
    worker.yielded.connect(progress.append)
    worker.returned.connect(results.append)
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start()
    assert progress == [(1, 3), (2, 3), (3, 3)] and results == [30]
