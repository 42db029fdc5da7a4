"""Calibrating rigs to a performer: the landmark solve, mesh propagation and calibration (θ_A → θ_S), and
tracker fine-tuning (θ_S → θ̂_S)."""
