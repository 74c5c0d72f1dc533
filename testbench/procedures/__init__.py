"""Version-neutral procedures suites use to drive a charger through the central system."""
