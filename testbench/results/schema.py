"""The results store's tables, identical on SQLite and PostgreSQL.

* ``runs``: one row per run journal (lab, stations, runner host, project version,
  start/end, status, where the journal and its evidence live, lines skipped on import);
* ``devices``: every (charger or EV, firmware/software version) seen, with vendor/make and
  model; ``run_devices`` says which devices and versions took part in which run;
* ``results``: one verdict per (run id, test id), with the test-case id, suite, EV,
  charger, station, versions, verdict, duration and message; ``evidence`` lists the
  evidence files of each result (paths relative to the run folder).

Times are Unix seconds (``*_wall_s``, UTC). Natural keys make imports idempotent: a run is
its ``run_id``, a result its ``(run_id, test_id)``.
"""

from __future__ import annotations

from testbench.results.db import Database, StoreError
from testbench.results.verdict import Verdict

SCHEMA_VERSION = 1
#: Arbitrary constant for PostgreSQL's advisory lock around schema creation.
_SCHEMA_LOCK_ID = 7_201_562_001

_VERDICTS = ", ".join(f"'{v.value}'" for v in Verdict)

TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS testbench_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        lab TEXT,
        stations TEXT NOT NULL DEFAULT '',
        host TEXT,
        project_version TEXT,
        mode TEXT,
        started_wall_s DOUBLE PRECISION,
        ended_wall_s DOUBLE PRECISION,
        status TEXT NOT NULL CHECK (status IN ('completed', 'aborted', 'incomplete')),
        journal_path TEXT NOT NULL,
        run_dir TEXT NOT NULL,
        problems TEXT NOT NULL DEFAULT '',
        imported_wall_s DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS devices (
        kind TEXT NOT NULL CHECK (kind IN ('charger', 'ev')),
        device_id TEXT NOT NULL,
        version TEXT NOT NULL,
        vendor TEXT,
        model TEXT,
        ocpp_version TEXT,
        PRIMARY KEY (kind, device_id, version)
    )""",
    """CREATE TABLE IF NOT EXISTS run_devices (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        device_id TEXT NOT NULL,
        version TEXT NOT NULL,
        PRIMARY KEY (run_id, kind, device_id, version),
        FOREIGN KEY (kind, device_id, version) REFERENCES devices (kind, device_id, version)
    )""",
    f"""CREATE TABLE IF NOT EXISTS results (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        test_id TEXT NOT NULL,
        test_key TEXT NOT NULL,
        name TEXT NOT NULL,
        testcase_id TEXT,
        suite TEXT NOT NULL DEFAULT '',
        station TEXT,
        ev TEXT,
        charger TEXT,
        charger_firmware TEXT,
        ev_software TEXT,
        ocpp_version TEXT,
        verdict TEXT NOT NULL CHECK (verdict IN ({_VERDICTS})),
        duration_s DOUBLE PRECISION,
        message TEXT NOT NULL DEFAULT '',
        wall_s DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (run_id, test_id)
    )""",
    """CREATE TABLE IF NOT EXISTS evidence (
        run_id TEXT NOT NULL,
        test_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        path TEXT NOT NULL,
        PRIMARY KEY (run_id, test_id, position),
        FOREIGN KEY (run_id, test_id) REFERENCES results (run_id, test_id) ON DELETE CASCADE
    )""",
    "CREATE INDEX IF NOT EXISTS results_pairing ON results (ev, charger)",
    "CREATE INDEX IF NOT EXISTS results_firmware ON results (charger, charger_firmware)",
    "CREATE INDEX IF NOT EXISTS results_wall ON results (wall_s)",
)

TABLE_NAMES: tuple[str, ...] = (
    "testbench_meta",
    "runs",
    "devices",
    "run_devices",
    "results",
    "evidence",
)


def ensure_schema(db: Database) -> None:
    """Create the tables when missing; StoreError if the store has another schema version."""
    with db.transaction():
        if db.dialect == "postgresql":
            # Two runners opening a fresh shared database at once must not race on CREATE.
            db.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK_ID,))
        for statement in TABLES:
            db.execute(statement)
        db.execute(
            "INSERT INTO testbench_meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO NOTHING",
            (str(SCHEMA_VERSION),),
        )
        rows = db.fetchall("SELECT value FROM testbench_meta WHERE key = 'schema_version'")
    found = rows[0][0] if rows else None
    if found != str(SCHEMA_VERSION):
        raise StoreError(
            f"results store {db.location} has schema version {found}, this testbench uses "
            f"{SCHEMA_VERSION}; use a testbench of the matching version, or start a new store "
            "and re-import the run journals (`testbench import --store NEW`)"
        )
