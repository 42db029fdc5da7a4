"""Tool windows: the rig inspector and live tracking."""
