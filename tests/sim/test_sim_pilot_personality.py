"""EV personality "slow to follow the duty cycle": the lab key and the simulated EV."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from testbench.clock import LabClock
from testbench.errors import LabConfigError
from testbench.lab.loader import load_lab
from testbench.lab.model import ChargerSpec, EVSpec
from testbench.sim.v16 import Charger16

LAB = """
[lab]
name = "follow"
mode = "sim"

[[chargers]]
id = "cp"
vendor = "V"
model = "M"
firmware = "1"
ocpp_version = "1.6"
max_current_a = 32.0
max_power_w = 22000.0

[[evs]]
id = "ev"
make = "E"
model = "Slow"
software = "1"
phases = 1
min_current_a = 8.0
max_current_a = 32.0
{follow}

[[stations]]
id = "bay"
chargers = ["cp"]
evs = ["ev"]
"""


def _load(tmp_path: Path, follow: str) -> EVSpec:
    path = tmp_path / "lab.toml"
    path.write_text(LAB.format(follow=follow), encoding="utf-8")
    return load_lab(path).evs["ev"]


def test_duty_follow_key(tmp_path: Path) -> None:
    assert _load(tmp_path, "").duty_follow_s == 0.0
    assert _load(tmp_path, "duty_follow_s = 3").duty_follow_s == 3.0
    for bad in ("duty_follow_s = -1", "duty_follow_s = 600", 'duty_follow_s = "3"'):
        with pytest.raises(LabConfigError, match="duty_follow_s"):
            _load(tmp_path, bad)


def test_slow_but_conformant_ev_follows_after_its_delay() -> None:
    async def main() -> None:
        clock = LabClock(scale=50.0)
        spec = ChargerSpec(id="cp", vendor="V", model="M", firmware="1", ocpp_version="1.6",
                           max_current_a=32.0, max_power_w=22000.0)
        ev = EVSpec(id="ev", make="E", model="Slow", software="1", phases=1,
                    min_current_a=8.0, max_current_a=32.0, duty_follow_s=3.0)
        charger = Charger16(spec, {"ev": ev}, clock)
        conn = charger.connectors[0]
        charger.select_ev(conn, "ev")
        charger.set_ev_state(conn, "C")
        charger.start_transaction(conn, "T", "ISO14443", trigger="Authorized")
        await clock.asleep(1.5)
        assert conn.current_a == pytest.approx(32.0)  # the first duty cycle at once
        conn.stage.set_limit_a(10.0)
        await clock.asleep(1.5)
        assert charger.duty_cycle_pct(conn) == 16.7 and conn.current_a == pytest.approx(32.0)
        await clock.asleep(3.0)
        assert conn.current_a == pytest.approx(10.0)
        conn.stage.set_limit_a(7.0)  # below its 8 A minimum: it pauses, after its delay
        await clock.asleep(4.0)
        assert conn.current_a == 0.0 and conn.ev_state == "C"
        for task in list(charger._tasks):
            task.cancel()

    asyncio.run(main())
