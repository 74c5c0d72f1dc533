"""OCPP core suites (1.6J and 2.0.1/2.1), version-neutral procedures."""
