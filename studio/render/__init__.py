"""Render layer: vispy scenes of the rig (:mod:`studio.render.face_scene`) and the offscreen renderer
(:mod:`studio.render.offscreen`). Imports vispy, numpy and :mod:`studio.core`; never Qt widgets."""
