"""Argument parsing shared by several commands."""

from __future__ import annotations

from collections.abc import Sequence


def parse_controls(pairs: Sequence[str]) -> dict[str, float]:
    """``["jawOpen=0.6", ...]`` → ``{"jawOpen": 0.6, ...}``; a one-line ``ValueError`` for a malformed pair."""
    controls: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"control {pair!r} must be written NAME=VALUE, e.g. jawOpen=0.6")
        controls[name] = float(value)
    return controls
