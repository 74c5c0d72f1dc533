"""Per-charger credentials: from the environment, or from a secrets file outside the repository.

Secrets never live in ``lab.toml``. A charger's HTTP Basic password (security profiles 1
and 2) comes from the environment variable its ``password_env`` names; when that variable
is not set, from a secrets file::

    # ~/.config/testbench/secrets.toml   (chmod 600, outside any repository)
    [chargers.voltiq-w22]
    password = "0123456789abcdef0123"
    # security profile 3: the charger's client certificate (used by the simulated lab
    # and by test clients; a real charger holds its own)
    client_cert = "certs/voltiq-w22.pem"      # relative to this file
    client_key = "certs/voltiq-w22.key"

The file is named by ``Secrets.load(path)`` (``--secrets PATH``) or the environment
variable ``TESTBENCH_SECRETS``. It is refused, with the reason and the fix, when it lies
inside a repository work tree (it could be committed) or when other users may read it.
Every password handed out is registered for redaction (``testbench.redact``).
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbench.errors import BenchError
from testbench.lab.model import ChargerSpec
from testbench.redact import register_secret

__all__ = ["SECRETS_ENV", "ChargerSecrets", "Secrets", "find_repository_root"]

SECRETS_ENV = "TESTBENCH_SECRETS"
_CHARGER_KEYS = ("password", "client_cert", "client_key")
_VCS_MARKERS = (".git", ".hg", ".svn")


@dataclass(frozen=True)
class ChargerSecrets:
    """What a secrets file holds for one charger (paths absolute)."""

    password: str | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    def __repr__(self) -> str:  # never show the password
        shown = "set" if self.password else None
        return (f"ChargerSecrets(password={shown!r}, client_cert={self.client_cert!r}, "
                f"client_key={self.client_key!r})")


class Secrets:
    """Credentials of a lab's chargers: environment first, then the secrets file (if any)."""

    def __init__(self, chargers: Mapping[str, ChargerSecrets] | None = None,
                 path: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.path = path
        self._chargers = dict(chargers or {})
        self._environ = environ if environ is not None else os.environ
        for cid, entry in self._chargers.items():
            register_secret(entry.password, user=cid)

    def __repr__(self) -> str:
        return f"Secrets(path={self.path!s}, chargers={sorted(self._chargers)})"

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None,
             environ: Mapping[str, str] | None = None) -> Secrets:
        """The secrets of a run: ``path``, else ``$TESTBENCH_SECRETS``, else environment only.

        Raises ``BenchError`` naming the file, the problem and the fix when the file is
        missing, inside a repository, readable by other users, or malformed.
        """
        env = environ if environ is not None else os.environ
        source = "--secrets"
        if path is None or str(path) == "":
            named = env.get(SECRETS_ENV, "").strip()
            if not named:
                return cls(environ=env)
            path, source = named, f"${SECRETS_ENV}"
        return cls(read_secrets_file(Path(path).expanduser(), source), Path(path), env)

    # ------------------------------------------------------------------ lookups
    def charger(self, charger_id: str) -> ChargerSecrets:
        """The secrets file's entry of a charger (empty when it has none)."""
        return self._chargers.get(charger_id, ChargerSecrets())

    def password(self, spec: ChargerSpec) -> str | None:
        """The charger's HTTP Basic password: ``$<password_env>``, else the secrets file."""
        password: str | None = None
        if spec.password_env:
            password = self._environ.get(spec.password_env) or None
        if password is None:
            password = self.charger(spec.id).password
        register_secret(password, user=spec.id)
        return password

    def password_source(self, spec: ChargerSpec) -> str:
        """Where the bench looks for a charger's password, for error messages."""
        places = []
        if spec.password_env:
            places.append(f"environment variable {spec.password_env} (password_env in "
                          "lab.toml)")
        if self.path is not None:
            places.append(f"[chargers.{spec.id}] password in the secrets file {self.path}")
        else:
            places.append(f"a secrets file (--secrets PATH or ${SECRETS_ENV}) with "
                          f"[chargers.{spec.id}] password = \"...\"")
        return " or ".join(places)

    def client_certificate(self, charger_id: str) -> tuple[Path, Path] | None:
        """(certificate, key) files of a charger's TLS client certificate, if configured."""
        entry = self.charger(charger_id)
        if entry.client_cert is None:
            return None
        return entry.client_cert, entry.client_key or entry.client_cert


# -------------------------------------------------------------------------- the file
def find_repository_root(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` that is a repository work tree, if any."""
    for folder in (path, *path.parents):
        if any((folder / marker).exists() for marker in _VCS_MARKERS):
            return folder
    return None


def read_secrets_file(path: Path, source: str = "--secrets") -> dict[str, ChargerSecrets]:
    """Check and parse a secrets file (see the module docstring)."""
    where = f"secrets file {path} (from {source})"
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise BenchError(f"{where} does not exist; fix: create it outside the repository "
                         f"(chmod 600), or unset {SECRETS_ENV} / drop --secrets") from None
    if not resolved.is_file():
        raise BenchError(f"{where} is not a file; fix: point it at a TOML file")
    repo = find_repository_root(resolved.parent)
    if repo is not None:
        raise BenchError(
            f"{where} lies inside the repository {repo}, where it could be committed; fix: "
            "move it outside every repository (e.g. ~/.config/testbench/secrets.toml) and "
            "point --secrets or TESTBENCH_SECRETS at the new place")
    _check_permissions(resolved, where)
    try:
        with open(resolved, "rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{where} is not valid TOML: {exc}; fix the file") from None
    except OSError as exc:
        raise BenchError(f"cannot read {where}: {exc.strerror or exc}") from None
    return _parse(raw, resolved, where)


def _check_permissions(path: Path, where: str) -> None:
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IXOTH):
        raise BenchError(
            f"{where} is accessible to every user of this machine (mode {mode:04o}); fix: "
            f"chmod 600 {path}")


def _parse(raw: dict[str, Any], path: Path, where: str) -> dict[str, ChargerSecrets]:
    unknown = sorted(set(raw) - {"chargers"})
    if unknown:
        raise BenchError(f"{where}: unknown top-level key(s) {', '.join(unknown)}; fix: put "
                         "credentials under [chargers.<charger id>]")
    chargers = raw.get("chargers", {})
    if not isinstance(chargers, dict):
        raise BenchError(f"{where}: 'chargers' must be a table; fix: write "
                         "[chargers.<charger id>] sections")
    found: dict[str, ChargerSecrets] = {}
    for cid, entry in chargers.items():
        table = f"[chargers.{cid}]"
        if not isinstance(entry, dict):
            raise BenchError(f"{where}: {table} must be a table of {', '.join(_CHARGER_KEYS)}")
        bad = sorted(set(entry) - set(_CHARGER_KEYS))
        if bad:
            raise BenchError(f"{where}: {table} has unknown key(s) {', '.join(bad)}; allowed: "
                             f"{', '.join(_CHARGER_KEYS)}")
        password = entry.get("password")
        if password is not None and (not isinstance(password, str) or not password):
            raise BenchError(f"{where}: {table} password must be a non-empty string "
                             "(value not shown)")
        cert = _path(entry, "client_cert", path, where, table)
        key = _path(entry, "client_key", path, where, table)
        if key is not None and cert is None:
            raise BenchError(f"{where}: {table} has client_key but no client_cert; fix: add "
                             "client_cert")
        found[str(cid)] = ChargerSecrets(password, cert, key)
    return found


def _path(entry: dict[str, Any], key: str, base: Path, where: str, table: str) -> Path | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise BenchError(f"{where}: {table} {key} must be a file path string")
    file = Path(value).expanduser()
    return file if file.is_absolute() else base.parent / file
