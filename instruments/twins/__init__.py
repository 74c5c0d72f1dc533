"""Simulated twins of lab instruments: servers speaking the instruments' real wire protocols.

They run inside the simulated lab process (``testbench.sim``) and are reached only over
the wire, through the same drivers that talk to the hardware. Nothing outside the
simulated lab may import this package.
"""
