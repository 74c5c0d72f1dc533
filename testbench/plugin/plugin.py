"""pytest plugin entry point (being built)."""
