"""The testbench pytest plugin (entry point ``pytest11: testbench``)."""
