"""Instrument contracts, drivers (one module per model family) and their simulated twins."""
