"""The studio's command line: one argparse program with subcommands; no subcommand opens the GUI.

:func:`main` runs it (``python main.py``, or the installed ``simon-says-studio`` script).
"""

from studio.cli.program import main

__all__ = ["main"]
