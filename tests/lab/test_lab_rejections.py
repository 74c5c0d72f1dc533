"""Each way a lab file can be wrong yields a LabConfigError naming file, table, key and fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testbench.errors import LabConfigError
from testbench.lab.faults import CHARGER_FAULTS, EV_FAULTS
from testbench.lab.loader import LabConfigErrors, load_lab

Lab = dict[str, Any]

C0 = 'chargers[0] (id "c16")'
C1 = 'chargers[1] (id "c201")'
E0 = 'evs[0] (id "ev1")'
E1 = 'evs[1] (id "ev2")'
S0 = 'stations[0] (id "bay-1")'
I0 = 'stations.bay-1.instruments[0] (name "evio-a")'
I1 = 'stations.bay-1.instruments[1] (name "evio-b")'


def charger(lab: Lab, index: int = 0) -> dict[str, Any]:
    return lab["chargers"][index]


def ev(lab: Lab, index: int = 0) -> dict[str, Any]:
    return lab["evs"][index]


def station(lab: Lab) -> dict[str, Any]:
    return lab["stations"][0]


def instrument(lab: Lab, index: int = 0) -> dict[str, Any]:
    return lab["stations"][0]["instruments"][index]


def real_lab(lab: Lab) -> None:
    lab["lab"].update(mode="real", time_scale=1.0)
    lab["csms"]["port"] = 9000


def with_tls(lab: Lab) -> None:
    lab["csms"].update(tls_cert="certs/csms.pem", tls_key="certs/csms.key")


def second_station(lab: Lab) -> None:
    lab["chargers"].append({"id": "c21", "vendor": "Gridline", "model": "BX7",
                            "firmware": "0.9.3", "ocpp_version": "2.1"})
    lab["stations"].append({"id": "bay-2", "chargers": ["c21"], "evs": ["ev1"]})


def do(*steps: Callable[[Lab], object]) -> Callable[[Lab], None]:
    def apply(lab: Lab) -> None:
        for step in steps:
            step(lab)
    return apply


# (mutation, table, key, fragment of the problem, fragment of the fix)
CASES = [
    # unknown keys, with the closest known key suggested
    pytest.param(lambda lab: lab["lab"].update(time_scal=2.0),
                 "lab", "time_scal", "unknown key", "time_scale", id="unknown-key-lab"),
    pytest.param(lambda lab: charger(lab).update(max_curent_a=16),
                 C0, "max_curent_a", "unknown key", "max_current_a", id="unknown-key-charger"),
    pytest.param(lambda lab: instrument(lab).update(resorce="x"),
                 I0, "resorce", "unknown key", "resource", id="unknown-key-instrument"),
    pytest.param(lambda lab: station(lab)["limits"].update(max_volts=10),
                 "stations.bay-1.limits", "max_volts", "unknown key", "max_voltage_v",
                 id="unknown-key-station-limits"),
    pytest.param(lambda lab: lab.update(charger=[]),
                 "charger", None, "unknown table", "chargers", id="unknown-top-level-table"),
    pytest.param(lambda lab: charger(lab).update(colour="red"),
                 C0, "colour", "unknown key", "keys known here", id="unknown-key-no-match"),
    # wrong types
    pytest.param(lambda lab: charger(lab).update(max_current_a="32"),
                 C0, "max_current_a", 'got the string "32"', "max_current_a = 32",
                 id="string-for-number"),
    pytest.param(lambda lab: charger(lab).update(phases=True),
                 C0, "phases", "true (a boolean)", "phases = 3", id="bool-is-not-int"),
    pytest.param(lambda lab: lab["lab"].update(time_scale=False),
                 "lab", "time_scale", "false (a boolean)", "time_scale =", id="bool-for-number"),
    pytest.param(lambda lab: lab["csms"].update(port=9000.0),
                 "csms", "port", "expected a whole number", "port = 9000", id="float-for-int"),
    pytest.param(lambda lab: charger(lab).update(ocpp_version=1.6),
                 C0, "ocpp_version", "got the number 1.6", 'ocpp_version = "1.6"',
                 id="number-for-string"),
    pytest.param(lambda lab: charger(lab).update(bidirectional="yes"),
                 C0, "bidirectional", "expected true or false", "bidirectional = false",
                 id="string-for-bool"),
    pytest.param(lambda lab: charger(lab).update(iso15118="-2"),
                 C0, "iso15118", "expected a list of strings", 'iso15118 = ["-2"]',
                 id="string-for-list"),
    pytest.param(lambda lab: instrument(lab).update(options="fast"),
                 I0, "options", "expected a table", "options = {}", id="string-for-table"),
    pytest.param(lambda lab: lab.update(chargers=lab["chargers"][0]),
                 "chargers", None, "single table", "[[chargers]]", id="table-for-array"),
    pytest.param(lambda lab: lab.update(lab=[{"name": "x"}]),
                 "lab", None, "expected the table [lab]", "write [lab] once",
                 id="array-for-table"),
    # out-of-range values
    pytest.param(lambda lab: lab["lab"].update(time_scale=0.0),
                 "lab", "time_scale", "greater than 0", "time_scale =", id="time-scale-zero"),
    pytest.param(lambda lab: lab["lab"].update(time_scale=-2.0),
                 "lab", "time_scale", "greater than 0, got -2.0", "1.0 is real time",
                 id="time-scale-negative"),
    pytest.param(lambda lab: lab["lab"].update(time_scale=float("nan")),
                 "lab", "time_scale", "finite", "time_scale =", id="time-scale-nan"),
    pytest.param(lambda lab: charger(lab).update(max_power_w=10**400),
                 C0, "max_power_w", "far out of range", "max_power_w = 22000",
                 id="huge-integer"),
    pytest.param(lambda lab: lab["csms"].update(port=70000),
                 "csms", "port", "between 0 and 65535", "port = 9000", id="port-too-high"),
    pytest.param(lambda lab: lab["csms"].update(port=-1),
                 "csms", "port", "between 0 and 65535, got -1", "port =", id="port-negative"),
    pytest.param(lambda lab: charger(lab).update(phases=2),
                 C0, "phases", "must be 1 or 3, got 2", "phases = 1 or phases = 3",
                 id="charger-phases"),
    pytest.param(lambda lab: ev(lab).update(phases=0),
                 E0, "phases", "must be 1 or 3", "phases = 3", id="ev-phases"),
    pytest.param(lambda lab: charger(lab).update(security_profile=4),
                 C0, "security_profile", "between 0 and 3", "TLS", id="security-profile"),
    pytest.param(lambda lab: charger(lab).update(max_current_a=-5.0),
                 C0, "max_current_a", "greater than 0", "max_current_a = 32",
                 id="charger-negative-current"),
    pytest.param(lambda lab: ev(lab).update(min_current_a=-1.0),
                 E0, "min_current_a", "0 or more", "min_current_a = 6",
                 id="ev-negative-min-current"),
    pytest.param(lambda lab: station(lab)["limits"].update(max_current_a=-1),
                 "stations.bay-1.limits", "max_current_a", "greater than 0", "max_current_a =",
                 id="negative-limit"),
    pytest.param(lambda lab: lab["safety"].update(max_power_w=0),
                 "safety", "max_power_w", "greater than 0", "max_power_w =", id="zero-safety"),
    pytest.param(lambda lab: ev(lab).update(min_current_a=20.0, max_current_a=10.0),
                 E0, "min_current_a", "above max_current_a", "min_current_a <= max_current_a",
                 id="ev-min-above-max"),
    pytest.param(lambda lab: charger(lab).update(evse_count=0),
                 C0, "evse_count", "at least 1", "evse_count = 1", id="evse-count"),
    pytest.param(lambda lab: ev(lab).update(initial_soc_pct=120),
                 E0, "initial_soc_pct", "between 0 and 100", "initial_soc_pct =", id="soc"),
    # invalid enums and names
    pytest.param(lambda lab: lab["lab"].update(mode="simulated"),
                 "lab", "mode", '"simulated" is not an allowed value', '"sim", "real"',
                 id="mode"),
    pytest.param(lambda lab: charger(lab).update(ocpp_version="2.0"),
                 C0, "ocpp_version", "not an allowed value", 'ocpp_version = "2.0.1"',
                 id="ocpp-version"),
    pytest.param(lambda lab: charger(lab).update(boot_policy="accepted"),
                 C0, "boot_policy", "not an allowed value", 'boot_policy = "Accepted"',
                 id="boot-policy"),
    pytest.param(lambda lab: charger(lab).update(current_type="ac"),
                 C0, "current_type", "not an allowed value", 'current_type = "AC"',
                 id="current-type"),
    pytest.param(lambda lab: ev(lab).update(iso15118=["-2", "15118-20"]),
                 E0, "iso15118", '"15118-20" is not an allowed value', '"-2", "-20", "DIN"',
                 id="iso15118-entry"),
    pytest.param(lambda lab: ev(lab).update(iso15118=["-2", "-2"]),
                 E0, "iso15118", "listed twice", 'list "-2" once', id="iso15118-duplicate"),
    pytest.param(lambda lab: charger(lab).update(id="my charger"),
                 'chargers[0] (id "my charger")', "id", "is not valid", "letters, digits",
                 id="id-with-space"),
    pytest.param(lambda lab: lab["csms"].update(path_prefix="ocpp/"),
                 "csms", "path_prefix", '"ocpp/" is not valid', 'path_prefix = "/ocpp"',
                 id="path-prefix"),
    pytest.param(lambda lab: charger(lab).update(vendor=""),
                 C0, "vendor", "is empty", 'vendor = "Voltiq"', id="empty-string"),
    pytest.param(lambda lab: charger(lab).update(model="W22 Professional Edition"),
                 C0, "model", "OCPP 1.6 BootNotification allows at most 20", "shorten it",
                 id="boot-model-too-long"),
    # fault personalities
    pytest.param(lambda lab: charger(lab).update(faults=["ignores-rest"]),
                 C0, "faults", 'unknown charger fault "ignores-rest"',
                 'did you mean "ignores-reset"', id="unknown-charger-fault"),
    pytest.param(lambda lab: ev(lab).update(faults=["sleeps"]),
                 E0, "faults", 'unknown EV fault "sleeps"', next(iter(EV_FAULTS)),
                 id="unknown-ev-fault"),
    pytest.param(lambda lab: ev(lab).update(faults=["ignores-reset"]),
                 E0, "faults", "it is a charger fault", "valid EV faults",
                 id="charger-fault-on-ev"),
    # missing things
    pytest.param(lambda lab: charger(lab).pop("vendor"),
                 C0, "vendor", "is missing", 'add vendor = "Voltiq"', id="missing-key"),
    pytest.param(lambda lab: lab.pop("lab"),
                 "lab", None, "[lab] table is missing", 'name = "my-lab"', id="missing-lab"),
    pytest.param(lambda lab: lab["lab"].pop("name"),
                 "lab", "name", "is missing", 'add name = "my-lab"', id="missing-lab-name"),
    pytest.param(lambda lab: station(lab).update(evs=[]),
                 S0, "evs", "lists no EVs", "list at least one", id="station-without-evs"),
    # dangling references
    pytest.param(lambda lab: station(lab).update(chargers=["c16", "c201", "c99"]),
                 S0, "chargers", 'names charger "c99", which no [[chargers]] entry declares',
                 'declare it in a [[chargers]] table with id = "c99"',
                 id="station-unknown-charger"),
    pytest.param(lambda lab: station(lab).update(evs=["ev2", "ev-1"]),
                 S0, "evs", 'names EV "ev-1"', 'did you mean "ev1"', id="station-unknown-ev"),
    pytest.param(do(second_station, lambda lab: instrument(lab).update(charger="c21")),
                 I0, "charger", 'names charger "c21", which is not at station "bay-1"',
                 'add "c21" to the chargers of station "bay-1"',
                 id="instrument-charger-elsewhere"),
    # duplicates
    pytest.param(lambda lab: charger(lab, 1).update(id="c16"),
                 'chargers[1] (id "c16")', "id", 'id "c16" is already used by ' + C0,
                 "unique id", id="duplicate-charger"),
    pytest.param(lambda lab: ev(lab, 1).update(id="ev1"),
                 'evs[1] (id "ev1")', "id", "already used by " + E0, "unique id",
                 id="duplicate-ev"),
    pytest.param(do(second_station, lambda lab: lab["stations"][1].update(id="bay-1")),
                 'stations[1] (id "bay-1")', "id", "already used by " + S0, "unique id",
                 id="duplicate-station"),
    pytest.param(lambda lab: instrument(lab, 1).update(name="evio-a", role="rfid"),
                 'stations.bay-1.instruments[1] (name "evio-a")', "name",
                 "already used by " + I0, "unique name", id="duplicate-instrument-name"),
    pytest.param(lambda lab: instrument(lab, 1).update(charger="c16"),
                 I1, "role", 'a second "ev_emulator" instrument for charger "c16"',
                 "bind each to a different charger", id="ambiguous-role"),
    pytest.param(do(second_station, lambda lab: lab["stations"][1].update(chargers=["c16"])),
                 'stations[1] (id "bay-2")', "chargers", "already at " + S0,
                 'remove "c16" from one of the stations', id="charger-in-two-stations"),
    # security and secrets
    pytest.param(lambda lab: charger(lab).update(security_profile=1),
                 C0, "password_env", "basic auth", 'password_env = "C16_PASSWORD"',
                 id="profile-without-password-env"),
    pytest.param(lambda lab: charger(lab).update(password="hunter2"),
                 C0, "password", "secret is written in the file", 'password_env = "ENV_VAR_NAME"',
                 id="literal-password"),
    pytest.param(lambda lab: charger(lab).update(security_profile=1, password="hunter2"),
                 C0, "password", "secret is written in the file", 'password_env = "C16_PASSWORD"',
                 id="literal-password-with-profile"),
    pytest.param(lambda lab: instrument(lab)["options"].update(login_password="x")
                 if "options" in instrument(lab) else instrument(lab).update(
                     options={"login_password": "x"}),
                 I0, "options.login_password", "secret is written", "login_password_env",
                 id="secret-in-instrument-options"),
    pytest.param(lambda lab: charger(lab).update(security_profile=1, password_env="MY-PASS"),
                 C0, "password_env", '"MY-PASS" is not valid', "an environment variable name",
                 id="bad-env-var-name"),
    pytest.param(lambda lab: charger(lab).update(security_profile=2, password_env="P"),
                 C0, "security_profile", "needs TLS", "add tls_cert and tls_key",
                 id="profile-2-without-tls"),
    pytest.param(do(with_tls, lambda lab: charger(lab, 1).update(security_profile=2,
                                                                 password_env="P")),
                 C0, "security_profile", "plain ws://", "security_profile = 2",
                 id="profile-0-with-tls"),
    pytest.param(do(with_tls, lambda lab: charger(lab).update(security_profile=3),
                    lambda lab: charger(lab, 1).update(security_profile=2, password_env="P")),
                 C0, "security_profile", "no tls_ca", "add tls_ca", id="profile-3-without-ca"),
    pytest.param(lambda lab: lab["csms"].update(tls_cert="certs/csms.pem"),
                 "csms", "tls_key", "both a certificate and its private key", "add tls_key",
                 id="tls-cert-without-key"),
    # mode rules
    pytest.param(do(real_lab, lambda lab: lab["lab"].update(time_scale=10.0)),
                 "lab", "time_scale", "real lab runs in real time", "time_scale = 1.0",
                 id="real-lab-time-scale"),
    pytest.param(do(real_lab, lambda lab: charger(lab).update(faults=["ignores-reset"])),
                 C0, "faults", "fault personalities are for simulated devices",
                 "remove faults", id="real-lab-charger-faults"),
    pytest.param(do(real_lab, lambda lab: ev(lab, 1).update(faults=["never-requests-energy"])),
                 E1, "faults", "for simulated devices", 'mode = "sim"', id="real-lab-ev-faults"),
    pytest.param(do(real_lab, lambda lab: lab.pop("csms")),
                 "csms", "port", "real lab needs a fixed port", "port = 9000",
                 id="real-lab-without-csms"),
    pytest.param(do(real_lab, lambda lab: lab["csms"].update(port=0)),
                 "csms", "port", "real lab needs a fixed port", "port = 9000",
                 id="real-lab-any-port"),
]


@pytest.mark.parametrize(("mutate", "table", "key", "problem", "fix"), CASES)
def test_rejection_names_file_table_key_and_fix(
    base_lab: Lab, write_lab: Callable[[Lab | str], Path],
    mutate: Callable[[Lab], object], table: str, key: str | None, problem: str, fix: str,
) -> None:
    mutate(base_lab)
    path = write_lab(base_lab)
    with pytest.raises(LabConfigError) as caught:
        load_lab(path)
    error = caught.value
    assert isinstance(error, LabConfigErrors)
    assert [(p.table, p.key) for p in error.problems] == [(table, key)], error
    assert error.path == str(path)
    assert (error.table, error.key) == (table, key)
    assert problem in error.problem
    assert fix in error.fix
    message = str(error)
    assert message.startswith(f"{path}: [{table}]" + (f" {key}:" if key else ":"))
    assert f"Fix: {error.fix}" in message


def test_base_lab_is_valid(base_lab: Lab, write_lab: Callable[[Lab | str], Path]) -> None:
    lab = load_lab(write_lab(base_lab))
    assert sorted(lab.chargers) == ["c16", "c201"]
    assert len(lab.pairings()) == 4


@pytest.mark.parametrize("setup", [
    pytest.param(do(real_lab), id="real-lab"),
    pytest.param(do(with_tls, lambda lab: [charger(lab, i).update(security_profile=2,
                                                                  password_env="PW")
                                           for i in (0, 1)]), id="profile-2-with-tls"),
    pytest.param(do(with_tls, lambda lab: lab["csms"].update(tls_ca="ca.pem"),
                    lambda lab: [charger(lab, i).update(security_profile=3) for i in (0, 1)]),
                 id="profile-3-with-ca-no-password"),
    pytest.param(do(second_station), id="ev-shared-by-two-stations"),
    pytest.param(lambda lab: instrument(lab, 1).update(role="rfid", charger="c16"),
                 id="two-roles-on-one-charger"),
    pytest.param(lambda lab: lab["csms"].update(path_prefix=""), id="empty-path-prefix"),
    pytest.param(lambda lab: charger(lab).update(faults=list(CHARGER_FAULTS)),
                 id="every-charger-fault"),
])
def test_near_misses_are_accepted(
    base_lab: Lab, write_lab: Callable[[Lab | str], Path], setup: Callable[[Lab], object]
) -> None:
    """The rules above are not so broad that they refuse valid labs next to them."""
    setup(base_lab)
    load_lab(write_lab(base_lab))


def test_all_problems_are_collected(
    base_lab: Lab, write_lab: Callable[[Lab | str], Path]
) -> None:
    base_lab["lab"]["time_scale"] = 0
    charger(base_lab)["phases"] = 2
    ev(base_lab, 1)["faults"] = ["bogus"]
    station(base_lab)["chargers"] = ["c16", "c201", "nope"]
    path = write_lab(base_lab)
    with pytest.raises(LabConfigErrors) as caught:
        load_lab(path)
    error = caught.value
    assert [(p.table, p.key) for p in error.problems] == [
        ("lab", "time_scale"), (C0, "phases"), (E1, "faults"), (S0, "chargers")]
    assert (error.table, error.key) == ("lab", "time_scale")  # the first problem's fields
    message = str(error)
    assert message.startswith(f"{path}: 4 problems:")
    for item in error.problems:
        assert f"[{item.table}] {item.key}: {item.problem}. Fix: {item.fix}" in message


def test_syntax_error_gives_line_and_column(write_lab: Callable[[Lab | str], Path]) -> None:
    path = write_lab('[lab]\nname = "x"\nmode = sim\n')
    with pytest.raises(LabConfigError) as caught:
        load_lab(path)
    error = caught.value
    assert error.path == str(path)
    assert error.table == "lab"
    assert "line 3, column 8" in error.problem
    assert "TOML syntax error" in error.problem
    assert "quote text values" in error.fix
    assert "line 3, column 8" in str(error)


def test_duplicate_table_is_a_syntax_error(write_lab: Callable[[Lab | str], Path]) -> None:
    path = write_lab('[lab]\nname = "x"\n[csms]\nport = 1\n[lab]\nmode = "sim"\n')
    with pytest.raises(LabConfigError) as caught:
        load_lab(path)
    assert "line 5" in caught.value.problem
    assert "remove the duplicate" in caught.value.fix


def test_unterminated_string_at_end_of_file(write_lab: Callable[[Lab | str], Path]) -> None:
    path = write_lab('[lab]\nname = "x\n')
    with pytest.raises(LabConfigError) as caught:
        load_lab(path)
    assert "TOML syntax error" in caught.value.problem


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "lab.toml"
    with pytest.raises(LabConfigError) as caught:
        load_lab(path)
    error = caught.value
    assert error.path == str(path)
    assert error.table == "file"
    assert "not found" in error.problem
    assert "lab.toml" in error.fix


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(LabConfigError) as caught:
        load_lab(tmp_path)
    assert "folder" in caught.value.problem
    assert str(tmp_path / "lab.toml") in caught.value.fix


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_bytes(b'[lab]\nname = "caf\xe9"\n')
    with pytest.raises(LabConfigError) as caught:
        load_lab(path)
    assert "UTF-8" in caught.value.problem
