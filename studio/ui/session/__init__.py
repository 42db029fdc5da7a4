"""The session window and its pages (Capture, Calibration, Takes, Review) and the demo walkthrough."""
