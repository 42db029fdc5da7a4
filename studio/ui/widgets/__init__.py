"""Reusable Qt widgets: the rig view, control panels, choosers."""
