"""The scenario suites a lab runs: the product's test cases."""
