"""``python -m testbench.sim``: run the simulated lab."""

from testbench.sim import main

raise SystemExit(main())
