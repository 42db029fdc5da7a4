"""The studio's one error root: :class:`StudioError`.

Every error the studio raises for bad input, a missing resource or a failed job is a :class:`StudioError`
subclass named after its area (``SessionError``, ``FrameSourceError``, ``RigFileError``, ...), defined beside
the code that raises it, with a **one-line message** that names the file, source or session and what is
wrong: that line is what the command line prints (``error: …``) and what a page shows in its status line.
Wrong arguments to a function (a shape, a NaN) stay ``ValueError``/``TypeError``: those are bugs, not input.

Not a ``RuntimeError``: superqt's generator workers take a ``RuntimeError`` for a deleted Qt object and drop
it without reporting (``studio.ui.workers`` guards against third-party ones).
"""

from __future__ import annotations

__all__ = ["StudioError"]


class StudioError(Exception):
    """Bad input, a missing resource or a failed job, told in one line (see the module docstring)."""
