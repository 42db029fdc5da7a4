"""The studio's command line: one argparse program with subcommands; no subcommand opens the GUI.

Every GUI action that computes something has a twin here, so benchmarks and scripted pipelines run
without a window. Each area registers its own commands (:mod:`studio.cli.assets`, :mod:`.tracking`,
:mod:`.gui`, :mod:`.retarget`, :mod:`.session`, :mod:`.bench`); heavy modules are imported inside the
command that needs them to keep start-up fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from studio.cli import bench, gui, retarget, session, tracking
from studio.cli.assets import add_assets_parser

# Errors that mean bad input or a missing resource (one line for the user), by module; checked only after a
# command failed, so the check imports nothing that the command did not already load.
_EXPECTED_ERRORS = {
    "studio.core.assets": ("AssetUnavailableError", "AssetVerificationError"),
    "studio.core.rig.rig": ("RigFileError",),
    "studio.core.rig.definition": ("RigDefinitionError",),
    "studio.core.tracking.frame_sources": ("FrameSourceError",),
    "studio.core.tracking.tracker": ("TrackingError",),
    "studio.core.jobs": ("JobCancelled",),
    "studio.core.io.curves": ("TakeFileError",),
    "studio.core.session.folder": ("SessionError",),
    "studio.core.capture.burst": ("CaptureError",),
    "studio.core.capture.expression_sets": ("ExpressionSetError",),
    "studio.core.retarget.targets": ("TargetError",),
}


def _expected_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ValueError, KeyError, OSError]
    for module_name, names in _EXPECTED_ERRORS.items():
        module = sys.modules.get(module_name)
        errors.extend(getattr(module, name) for name in names if module is not None and hasattr(module, name))
    return tuple(errors)


def build_parser() -> argparse.ArgumentParser:
    """The ``main.py`` argument parser with all subcommands."""
    parser = argparse.ArgumentParser(prog="main.py", description="Simon Says Studio")
    gui.add_studio_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_assets_parser(commands)
    for area in (tracking, gui, retarget, session, bench):
        area.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code.

    Expected failures (missing assets, bad files, bad arguments) print one line and no traceback; set
    ``STUDIO_DEBUG=1`` to see the traceback instead.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as error:
        if os.environ.get("STUDIO_DEBUG") or not isinstance(error, _expected_errors()):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
