"""Geometry building blocks: head-pose alignment, bounded least squares, rotations, temporal filters."""
