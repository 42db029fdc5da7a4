"""The studio's core: pure numpy/torch code, no Qt, vispy or pyqtgraph."""
