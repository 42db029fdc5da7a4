"""Rigs as data: the blendshape rig, its definition, rig state (head pose, eyeballs), the inspector's model,
the performer model, control curves and animator metrics."""
