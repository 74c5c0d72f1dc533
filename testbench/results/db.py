"""One small database layer over SQLite (default) and PostgreSQL (a shared lab database).

The results store writes its SQL once, with ``?`` placeholders and only constructs both
engines understand (``CREATE TABLE IF NOT EXISTS``, ``INSERT ... ON CONFLICT ... DO
UPDATE``, ``substr``, ``DOUBLE PRECISION``); this module turns ``?`` into psycopg's ``%s``
and hides the two drivers' connection and transaction handling.

Store locations:

* a file path, or ``sqlite:///relative.db`` / ``sqlite:////absolute.db`` -> SQLite;
* ``postgresql://user@host:5432/db`` (or ``postgres://``) -> PostgreSQL through psycopg 3.
  Keep the password out of files: libpq reads ``PGPASSWORD`` or ``~/.pgpass``.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from testbench.errors import TestbenchError

Dialect = Literal["sqlite", "postgresql"]
#: How long a writer waits for another runner's transaction on the same SQLite file.
SQLITE_BUSY_TIMEOUT_S = 60.0
PG_CONNECT_TIMEOUT_S = 10


class StoreError(TestbenchError):
    """The results store cannot be opened, read or written; the message says how to fix it."""


def is_postgres_url(location: str) -> bool:
    """True for ``postgresql://`` / ``postgres://`` URLs."""
    return location.startswith(("postgresql://", "postgres://"))


def redact(location: str) -> str:
    """``location`` with any password replaced by ``***`` (safe to print and store)."""
    if "://" not in location:
        return location
    parts = urlsplit(location)
    if parts.password is None:
        return location
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def sqlite_path(location: str) -> Path:
    """The file of a SQLite location (a path or a ``sqlite:///`` URL)."""
    if location.startswith("sqlite:"):
        rest = location.removeprefix("sqlite:")
        if not rest.startswith("///"):
            raise StoreError(
                f"results store {location!r}: a SQLite URL is sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db (or just give the file path)"
            )
        return Path(rest[3:])
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", location):
        scheme = location.split("://", 1)[0]
        raise StoreError(
            f"results store {redact(location)!r}: unsupported scheme {scheme!r}; use a file "
            "path (SQLite) or a postgresql://user@host:port/database URL"
        )
    return Path(location)


class Database:
    """An open connection with ``?``-placeholder SQL on either engine.

    Every driver error is raised as :class:`StoreError` naming the store.
    """

    def __init__(self, conn: Any, dialect: Dialect, location: str) -> None:
        """Internal: use :meth:`Database.connect`."""
        self._conn = conn
        self.dialect: Dialect = dialect
        self.location = redact(location)
        self._in_transaction = False

    @classmethod
    def connect(cls, location: str) -> Database:
        """Open the store at ``location`` (see the module docstring for the forms)."""
        if is_postgres_url(location):
            return cls._connect_postgres(location)
        return cls._connect_sqlite(sqlite_path(location), location)

    @classmethod
    def _connect_sqlite(cls, path: Path, location: str) -> Database:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the SQLite results store {path}: {exc}; check the path and its "
                "permissions, or move a damaged file away (it will be recreated; re-import "
                "the journals with `testbench import`)"
            ) from None
        return cls(conn, "sqlite", str(path))

    @classmethod
    def _connect_postgres(cls, url: str) -> Database:
        try:
            import psycopg
        except ImportError:
            raise StoreError(
                f"results store {redact(url)}: PostgreSQL needs the psycopg driver; install it "
                "with `pip install 'psycopg[binary]'`"
            ) from None
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            detail = " ".join(str(exc).split())
            raise StoreError(
                f"cannot connect to the PostgreSQL results store {redact(url)}: {detail}; "
                "check that the server runs and accepts this user (password from the URL, "
                "PGPASSWORD or ~/.pgpass)"
            ) from None
        return cls(conn, "postgresql", url)

    # ----------------------------------------------------------------- statements
    def _sql(self, sql: str) -> str:
        if self.dialect == "postgresql":
            if "%" in sql:
                raise ValueError("SQL text must not contain '%': pass patterns as parameters")
            return sql.replace("?", "%s")
        return sql

    def _fail(self, exc: Exception, sql: str) -> StoreError:
        first = " ".join(sql.split())[:120]
        detail = " ".join(str(exc).split())
        return StoreError(f"results store {self.location}: {detail} (in: {first})")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        try:
            self._conn.execute(self._sql(sql), tuple(params))
        except Exception as exc:  # sqlite3.Error / psycopg.Error
            if _is_driver_error(exc):
                raise self._fail(exc, sql) from exc
            raise

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""
        rows = [tuple(r) for r in rows]
        if not rows:
            return
        try:
            if self.dialect == "sqlite":
                self._conn.executemany(sql, rows)
            else:
                with self._conn.cursor() as cur:
                    cur.executemany(self._sql(sql), rows)
        except Exception as exc:
            if _is_driver_error(exc):
                raise self._fail(exc, sql) from exc
            raise

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query and return every row as a tuple."""
        try:
            cur = self._conn.execute(self._sql(sql), tuple(params))
            return [tuple(row) for row in cur.fetchall()]
        except Exception as exc:
            if _is_driver_error(exc):
                raise self._fail(exc, sql) from exc
            raise

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together, or not at all (not re-entrant)."""
        if self._in_transaction:
            raise RuntimeError("results store transactions do not nest")
        self._in_transaction = True
        try:
            if self.dialect == "sqlite":
                # IMMEDIATE takes the write lock up front, so two runners importing into one
                # file wait for each other (busy timeout) instead of failing on upgrade.
                self.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self.execute("COMMIT")
            else:
                try:
                    with self._conn.transaction():
                        yield
                except Exception as exc:
                    if _is_driver_error(exc):
                        raise self._fail(exc, "COMMIT") from exc
                    raise
        finally:
            self._in_transaction = False

    def close(self) -> None:
        """Close the connection (idempotent)."""
        # Closing a broken connection must not hide the error that broke it.
        with contextlib.suppress(Exception):
            self._conn.close()


def _is_driver_error(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    module = type(exc).__module__
    return module.startswith("psycopg")
