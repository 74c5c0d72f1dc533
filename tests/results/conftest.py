"""Shared helpers for the results and reporting tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testbench.results.journal import ResultRecord

PG_ENV = "TESTBENCH_PG_URL"
PG_SKIP = (
    f"{PG_ENV} is not set: start a throwaway PostgreSQL server with "
    '`eval "$(bash .ci/start-postgres.sh)"` to run the PostgreSQL store tests'
)


def record(**overrides: Any) -> ResultRecord:
    """A plausible result record; override any field."""
    fields: dict[str, Any] = {
        "test_id": "suites/ocpp/test_smart.py::test_tx_profile[ev-a@cp-1]",
        "name": "test_tx_profile",
        "verdict": "passed",
        "testcase_id": "TC_K_60_CS",
        "suite": "ocpp",
        "station": "st-1",
        "ev": "ev-a",
        "charger": "cp-1",
        "charger_firmware": "1.0.0",
        "ev_software": "2.3",
        "ocpp_version": "2.0.1",
        "duration_s": 1.5,
        "message": "",
        "evidence": [],
        "wall_s": 1000.0,
    }
    fields.update(overrides)
    return ResultRecord(**fields)


@pytest.fixture
def make_record() -> Callable[..., ResultRecord]:
    return record


def pg_schema_url(url: str, schema: str) -> str:
    """``url`` with ``search_path`` set to ``schema`` (libpq ``options`` parameter)."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, dropped afterwards."""
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        pytest.skip(PG_SKIP)
    import psycopg

    schema = f"tb_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield pg_schema_url(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The same tests on a SQLite file and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "store" / "results.db")
    return str(request.getfixturevalue("pg_url"))
