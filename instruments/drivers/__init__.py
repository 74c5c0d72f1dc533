"""Instrument drivers, one module per model family. Each registers itself by name."""
