"""The studio's Qt user interface: windows, panels, vispy canvases in Qt and workers."""
