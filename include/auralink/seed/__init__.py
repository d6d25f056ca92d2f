"""Deterministic synthetic data for every table, from a seed, with a scale knob."""
