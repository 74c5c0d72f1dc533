"""Secrets stay out of lab.toml: passwords come from the environment variable it names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testbench.errors import LabConfigError
from testbench.lab.loader import load_lab


def _with_password_env(lab: dict[str, Any]) -> dict[str, Any]:
    lab["chargers"][0].update(security_profile=1, password_env="TB_TEST_C16_PASSWORD")
    return lab


def test_password_is_read_from_the_named_environment_variable(
    base_lab: dict[str, Any], write_lab: Callable[[dict[str, Any] | str], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lab = load_lab(write_lab(_with_password_env(base_lab)))
    charger = lab.chargers["c16"]
    monkeypatch.setenv("TB_TEST_C16_PASSWORD", "s3cret-from-env")
    assert charger.password() == "s3cret-from-env"
    monkeypatch.delenv("TB_TEST_C16_PASSWORD")
    assert charger.password() is None
    assert lab.chargers["c201"].password() is None  # no password_env


def test_password_value_never_enters_the_model(
    base_lab: dict[str, Any], write_lab: Callable[[dict[str, Any] | str], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TB_TEST_C16_PASSWORD", "s3cret-from-env")
    lab = load_lab(write_lab(_with_password_env(base_lab)))
    assert "s3cret-from-env" not in repr(lab)


def test_literal_password_is_refused_and_not_echoed(
    base_lab: dict[str, Any], write_lab: Callable[[dict[str, Any] | str], Path]
) -> None:
    base_lab["chargers"][0]["password"] = "hunter2-literal"
    path = write_lab(base_lab)
    with pytest.raises(LabConfigError) as caught:
        load_lab(path)
    error = caught.value
    assert (error.table, error.key) == ('chargers[0] (id "c16")', "password")
    assert 'password_env = "ENV_VAR_NAME"' in error.fix
    assert "hunter2-literal" not in str(error)


@pytest.mark.parametrize("key", ["password", "basic_auth_password", "Password", "secret"])
def test_secret_looking_keys_are_refused(
    base_lab: dict[str, Any], write_lab: Callable[[dict[str, Any] | str], Path], key: str
) -> None:
    base_lab["chargers"][1][key] = "x"
    with pytest.raises(LabConfigError) as caught:
        load_lab(write_lab(base_lab))
    assert caught.value.key == key
    assert "secret" in caught.value.problem
    assert "password_env" in caught.value.fix
