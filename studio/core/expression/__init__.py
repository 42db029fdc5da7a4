"""Expression intelligence (paper 000): emotions in a rig's controls and their recognition, a generative
expression model, and a learned temporal model for tracked curves."""
