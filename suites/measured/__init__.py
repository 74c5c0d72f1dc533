"""Measured suites: the charger judged by what a power analyser measures, not only the wire."""
