"""From pictures to controls: MediaPipe, reconstruction, the landmark embedding, gaze, the tracker, the
performer neutral, frame sources, take and live tracking."""
