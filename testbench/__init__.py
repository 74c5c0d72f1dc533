"""testbench: a pytest-based HIL interoperability test bench for EV charging."""

__version__ = "0.1.0"
