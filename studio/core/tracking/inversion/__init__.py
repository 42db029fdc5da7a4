"""The learned tracker of paper 002: a face crop (RGB, and a normal map made from MediaPipe's mesh) → the rig's
controls, by a network trained on the studio's own renders.

- :mod:`.crops` — the face crop every user of the network makes the same way (training data, takes, live,
  captures) and the normal map of MediaPipe's mesh in that crop;
- :mod:`.network` — the two-branch network (and its RGB-only variant), its losses, the weights file;
- :mod:`.training` — the training job (``python main.py train inversion``) and the held-out figures;
- :mod:`.tracker` — :class:`NetworkTracker`: frames (with MediaPipe's observations) → controls.
"""
