"""Per-charger credentials from the environment or a secrets file outside the repository."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from pki import LabPki
from security_helpers import SecureBench, basic, boot_over, refused_status, spec

from testbench.errors import BenchError
from testbench.lab.model import CsmsSettings
from testbench.redact import redact_text
from testbench.secrets import SECRETS_ENV, Secrets, find_repository_root

REPO = Path(__file__).resolve().parents[2]
FILE_PASSWORD = "from-the-secrets-file-0123"
ENV_NAME = "TB_SEC_TEST_FILE_CHARGER_PASSWORD"


def _write(folder: Path, text: str, mode: int = 0o600) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secrets.toml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def _secrets_file(folder: Path) -> Path:
    return _write(folder, f'''
[chargers.cp-file]
password = "{FILE_PASSWORD}"

[chargers.cp-cert]
client_cert = "certs/cp-cert.pem"
client_key = "/abs/cp-cert.key"
''')


def test_password_comes_from_the_environment_first_then_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_NAME, raising=False)
    secrets = Secrets.load(_secrets_file(tmp_path / "outside"))
    charger = spec("cp-file", "2.0.1", security_profile=1, password_env=ENV_NAME)
    assert secrets.password(charger) == FILE_PASSWORD
    monkeypatch.setenv(ENV_NAME, "from-the-environment-42")
    assert secrets.password(charger) == "from-the-environment-42"
    assert secrets.password(spec("other", "1.6", security_profile=1)) is None
    where = secrets.password_source(charger)
    assert ENV_NAME in where and "[chargers.cp-file] password" in where
    assert FILE_PASSWORD not in repr(secrets) + repr(secrets.charger("cp-file"))


def test_passwords_handed_out_are_registered_for_redaction(tmp_path: Path) -> None:
    secrets = Secrets.load(_secrets_file(tmp_path / "outside"))
    assert FILE_PASSWORD not in redact_text(f"debug: password is {FILE_PASSWORD}")
    assert secrets.charger("cp-file").password == FILE_PASSWORD


def test_client_certificate_paths_resolve_against_the_file(tmp_path: Path) -> None:
    path = _secrets_file(tmp_path / "outside")
    cert, key = Secrets.load(path).client_certificate("cp-cert") or (None, None)
    assert cert == path.resolve().parent / "certs" / "cp-cert.pem"
    assert key == Path("/abs/cp-cert.key")
    assert Secrets.load(path).client_certificate("cp-file") is None


def test_the_environment_variable_names_the_file(tmp_path: Path) -> None:
    path = _secrets_file(tmp_path / "outside")
    secrets = Secrets.load(environ={SECRETS_ENV: str(path)})
    assert secrets.charger("cp-file").password == FILE_PASSWORD
    assert Secrets.load(environ={}).path is None  # no file: environment only


def test_a_file_inside_a_repository_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "some-repo"
    (repo / ".git").mkdir(parents=True)
    path = _secrets_file(repo / "config")
    with pytest.raises(BenchError) as info:
        Secrets.load(path)
    text = str(info.value)
    assert "inside the repository" in text and str(repo) in text and "move it outside" in text


def test_a_file_inside_this_project_is_refused(tmp_path: Path) -> None:
    assert find_repository_root(REPO / "testbench") is not None
    path = REPO / "reports" / f"secrets-test-{os.getpid()}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text('[chargers.x]\npassword = "nope-nope-nope"\n', encoding="utf-8")
    os.chmod(path, 0o600)
    try:
        with pytest.raises(BenchError, match="inside the repository"):
            Secrets.load(path)
    finally:
        path.unlink()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o644, 0o604, 0o666, 0o601])
def test_a_file_other_users_can_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path / "outside", '[chargers.x]\npassword = "p-p-p-p-p"\n', mode)
    with pytest.raises(BenchError) as info:
        Secrets.load(path)
    assert f"mode {mode:04o}" in str(info.value) and f"chmod 600 {path.resolve()}" in str(
        info.value)


@pytest.mark.parametrize("text, problem", [
    ("[chargers.x\npassword = 1", "not valid TOML"),
    ('password = "top-level"', "unknown top-level key(s) password"),
    ('chargers = "x"', "'chargers' must be a table"),
    ('[chargers.x]\npasword = "typo-typo"', "unknown key(s) pasword"),
    ("[chargers.x]\npassword = 12345678", "password must be a non-empty string"),
    ('[chargers.x]\npassword = ""', "password must be a non-empty string"),
    ('[chargers.x]\nclient_key = "k.pem"', "client_key but no client_cert"),
    ("[chargers.x]\nclient_cert = 5", "client_cert must be a file path string"),
])
def test_malformed_files_say_what_is_wrong_without_showing_values(
        tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path / "outside", text)
    with pytest.raises(BenchError) as info:
        Secrets.load(path)
    assert problem in str(info.value) and str(path.resolve()) in str(info.value)
    assert "12345678" not in str(info.value) and "typo-typo" not in str(info.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="does not exist"):
        Secrets.load(tmp_path / "nope.toml")
    with pytest.raises(BenchError, match=r"\$TESTBENCH_SECRETS"):
        Secrets.load(environ={SECRETS_ENV: str(tmp_path / "nope.toml")})


def test_the_central_system_takes_passwords_from_testbench_secrets(
        make_secure_bench: Callable[..., SecureBench], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_NAME, raising=False)
    monkeypatch.setenv(SECRETS_ENV, str(_secrets_file(tmp_path / "outside")))
    bench = make_secure_bench(
        CsmsSettings(),
        {"cp-file": spec("cp-file", "2.0.1", security_profile=1, password_env=ENV_NAME)},
        secrets=None)  # the central system loads $TESTBENCH_SECRETS itself
    url = bench.url("cp-file")
    assert boot_over(url, "2.0.1", headers=basic("cp-file", FILE_PASSWORD))["status"] == (
        "Accepted")
    assert refused_status(url, "2.0.1", headers=basic("cp-file", "guess-guess")) == 401


def test_without_any_password_the_refusal_says_where_to_put_one(
        make_secure_bench: Callable[..., SecureBench], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    monkeypatch.delenv(ENV_NAME, raising=False)
    bench = make_secure_bench(
        CsmsSettings(),
        {"cp-none": spec("cp-none", "1.6", security_profile=1, password_env=ENV_NAME)})
    assert refused_status(bench.url("cp-none"), "1.6",
                          headers=basic("cp-none", "anything-at-all")) == 401
    refusal = bench.csms.charger("cp-none").state.last_refusal or ""
    assert ENV_NAME in refusal and "secrets file" in refusal


def test_a_bad_secrets_file_stops_the_central_system_with_a_bench_error(
        make_secure_bench: Callable[..., SecureBench], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRETS_ENV, str(_write(tmp_path / "outside", "x = 1", 0o644)))
    with pytest.raises(BenchError, match="chmod 600"):
        make_secure_bench(CsmsSettings(), {"cp": spec("cp", "1.6")}, secrets=None)


def test_simulated_charger_uses_the_client_certificate_of_the_secrets_file(
        pki: LabPki, tmp_path: Path) -> None:
    """The sim's link code builds a charger-private context with its client certificate."""
    import ssl

    from testbench.sim.link import with_client_certificate

    cert = pki.clients["p3"]
    path = _write(tmp_path / "outside", f'[chargers.p3]\nclient_cert = "{cert.cert}"\n'
                                        f'client_key = "{cert.key}"\n')
    shared = ssl.create_default_context(cafile=str(pki.ca.path))
    ctx = with_client_certificate(shared, "p3", Secrets.load(path))
    assert ctx is not None and ctx is not shared
    assert all(ca in ctx.get_ca_certs() for ca in shared.get_ca_certs())
    assert with_client_certificate(shared, "nobody", Secrets.load(path)) is shared
