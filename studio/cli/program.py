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

from studio.cli import bench, dataset, expression, gui, retarget, session, shoot, tracking, train
from studio.cli.assets import add_assets_parser
from studio.core.errors import StudioError

#: What a command may fail with on bad input or a missing resource: one line for the user, no traceback. Every
#: error of the studio is a StudioError; bad arguments and unreadable files surface as ValueError, KeyError or
#: OSError from the libraries underneath.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (StudioError, ValueError, KeyError, OSError)


def build_parser() -> argparse.ArgumentParser:
    """The ``main.py`` argument parser with all subcommands."""
    parser = argparse.ArgumentParser(prog="main.py", description="Simon Says Studio")
    gui.add_studio_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_assets_parser(commands)
    for area in (tracking, gui, retarget, session, shoot, expression, train, dataset, bench):
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
        if os.environ.get("STUDIO_DEBUG") or not isinstance(error, EXPECTED_ERRORS):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
