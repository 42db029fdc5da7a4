"""Argument parsing shared by several commands."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence


def finite_number(option: str, text: str | float, limit: float | None = None) -> float:
    """``text`` as a finite number (within ±``limit`` when given); a one-line ``ValueError`` naming ``option``."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{option}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{option}: {text!r} is not a finite number")
    if limit is not None and abs(value) > limit:
        raise ValueError(f"{option}: {value:g} is outside ±{limit:g}")
    return value


def parse_controls(pairs: Sequence[str]) -> dict[str, float]:
    """``["jawOpen=0.6", ...]`` → ``{"jawOpen": 0.6, ...}``; a one-line ``ValueError`` for a malformed pair or a
    value that is not a finite number in [0, 1]."""
    controls: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"control {pair!r} must be written NAME=VALUE, e.g. jawOpen=0.6")
        number = finite_number(f"--control {name}", value)
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"--control {name}: {number:g} is outside [0, 1]")
        controls[name] = number
    return controls


def progress_bar(args: argparse.Namespace, description: str, unit: str = "step"):
    """A tqdm bar on stderr (none with ``--quiet``) and the ``on_progress`` that moves it with a job's
    ``(what, done, total)``: ``bar, show = progress_bar(args, "training")``, then ``with bar: run_job(job, show)``."""
    from tqdm import tqdm

    bar = tqdm(desc=description, unit=unit, file=sys.stderr, disable=args.quiet, delay=1.0)

    def show(progress: tuple[str, int, int]) -> None:
        what, done, total = progress
        bar.total = total
        bar.set_description(what[:70])
        bar.update(done - bar.n)

    return bar, show
