"""Allure environment.properties escaping and categories.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from testbench.lab.model import ChargerSpec, CsmsSettings, EVSpec, Lab, LabSettings
from testbench.reporting.allure_env import (
    escape_property_key,
    escape_property_value,
    lab_environment,
    write_categories,
    write_environment,
)


def test_key_escaping() -> None:
    assert escape_property_key("Charger cp-1") == "Charger\\ cp-1"
    assert escape_property_key("a=b:c#d!e") == "a\\=b\\:c\\#d\\!e"
    assert escape_property_key("back\\slash") == "back\\\\slash"


def test_value_escaping() -> None:
    assert escape_property_value("ABB Terra AC, fw 1.8.21") == "ABB Terra AC, fw 1.8.21"
    assert escape_property_value(" lead") == "\\ lead"
    assert escape_property_value("C:\\lab\nnext\tx") == "C\\:\\\\lab\\nnext\\tx"
    assert escape_property_value("Zoé 52 kWh") == "Zo\\u00e9 52 kWh"
    assert escape_property_value("🔌") == "\\ud83d\\udd0c"  # surrogate pair, as Java expects


def test_environment_file_is_ascii_one_line_per_property(tmp_path: Path) -> None:
    path = write_environment(
        tmp_path / "allure-results",
        {"Lab": "sim lab", "EV ev-1": "Renault Zoé\nsw 2", "Run id": "20250101-000000-abcd"},
    )
    raw = path.read_bytes()
    assert raw.isascii()
    lines = raw.decode("ascii").splitlines()
    assert lines[0].startswith("#")
    assert lines[1:] == [
        "EV\\ ev-1=Renault Zo\\u00e9\\nsw 2",
        "Lab=sim lab",
        "Run\\ id=20250101-000000-abcd",
    ]


def _java_unescape(text: str) -> str:
    """Minimal reader of what Properties.load does with our escapes (for a round trip)."""
    out, i = [], 0
    mapping = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1]
            if nxt == "u":
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(mapping.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out).encode("utf-16", "surrogatepass").decode("utf-16")


def test_escaping_round_trips() -> None:
    for text in ("a b=c", " x:y#z!", "tab\there", "naïve ✘ 🔌", "\\\\n"):
        assert _java_unescape(escape_property_key(text)) == text
        assert _java_unescape(escape_property_value(text)) == text


def test_categories_file(tmp_path: Path) -> None:
    path = write_categories(tmp_path, extra=[{"name": "Flaky", "matchedStatuses": ["failed"]}])
    categories = json.loads(path.read_text(encoding="utf-8"))
    names = [c["name"] for c in categories]
    assert names == [
        "Timeout",
        "Instrument fault",
        "Bench error",
        "Device failure",
        "Skipped / not applicable",
        "Flaky",
    ]
    by_name = {c["name"]: c for c in categories}
    assert by_name["Bench error"]["matchedStatuses"] == ["broken"]
    assert "messageRegex" not in by_name["Bench error"]  # every other broken test
    instrument = re.compile(by_name["Instrument fault"]["messageRegex"])
    assert by_name["Instrument fault"]["matchedStatuses"] == ["broken"]
    assert instrument.fullmatch(
        "testbench.errors.InstrumentError: instrument 'pa': command 'MEAS?': no reply: t"
    )
    assert instrument.fullmatch("SafetyLimitError: instrument 'grid': command 'VOLT 900'\nx")
    assert not instrument.fullmatch("testbench.csms.failures.NotConnected: cp-1 not connected")
    assert by_name["Skipped / not applicable"]["matchedStatuses"] == ["skipped"]
    device = re.compile(by_name["Device failure"]["messageRegex"])
    assert device.fullmatch("AssertionError: current 16.2 A above limit 10 A\nmore")
    assert not device.fullmatch("InstrumentError: instrument 'pa': no reply")
    assert not device.fullmatch("failed:\nBenchError: port in use")
    timeout = re.compile(by_name["Timeout"]["messageRegex"])
    assert timeout.fullmatch("Failed: Timeout >300.0s")
    assert timeout.fullmatch("no StatusNotification:\ntimed out after 10 s")
    assert not timeout.fullmatch("AssertionError: wrong status")


def test_lab_environment_lists_versions(tmp_path: Path) -> None:
    lab = Lab(
        path=tmp_path / "lab.toml",
        settings=LabSettings(name="sim-lab", time_scale=10.0),
        csms=CsmsSettings(),
        chargers={"cp-1": ChargerSpec("cp-1", "ACME", "Wall", "1.2.3", "2.0.1")},
        evs={"ev-1": EVSpec("ev-1", "Renault", "Zoé", "R1")},
        stations={},
    )
    props = lab_environment(lab, run_id="r-1")
    assert props["Lab"] == "sim-lab" and props["Lab mode"] == "sim"
    assert props["Time scale"] == "10"
    assert props["Run id"] == "r-1"
    assert props["Charger cp-1"] == "ACME Wall, fw 1.2.3, OCPP 2.0.1"
    assert props["EV ev-1"] == "Renault Zoé, sw R1"
