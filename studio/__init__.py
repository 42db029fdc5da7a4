"""Simon Says Studio: capture, calibrate and retarget facial performance.

Layers (checked by import-linter, see ``pyproject.toml``):

- :mod:`studio.core` and :mod:`studio.core.assets` -- pure numpy/torch code: rigs, tracking, calibration,
  formats, sessions, asset resolution. Never imports Qt, vispy or pyqtgraph.
- :mod:`studio.render` -- vispy scenes and the offscreen renderer. No Qt widgets.
- :mod:`studio.ui` -- PySide6 windows, pyqtgraph panels, vispy canvases embedded in Qt, workers.
"""

__version__ = "0.1.0"
