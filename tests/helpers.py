"""Small helpers the tests share: run the CLI, write canonical files, query a case."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from analyzer.cli import app

runner = CliRunner()


def rpa(*args: str, env: dict | None = None):
    """Run `rpa ARGS` in-process; returns the click Result (exit_code, stdout, stderr)."""
    return runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


def write_canonical(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    """Write rows as an rpa canonical CSV (UTF-8, header row)."""
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


def query(case: Path, sql: str, params=None) -> list[tuple]:
    """Read-only query against a case database."""
    con = duckdb.connect(str(case / "rpa.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


# A movement named by the smallest txn_id among its sightings: a case's movements are
# derived from sightings, and a group packet's total row is a sighting of its shares'
# movement, so expectations written as txn_ids are compared movement by movement.
_MOVEMENT_KEYS = """
    WITH mk AS (SELECT l.movement_id, min(s.txn_id) AS key
                FROM sighting_movements l JOIN sightings s USING (sighting_id) GROUP BY l.movement_id)
"""


def evidence_keys(case: Path, finding_id: str) -> tuple[str, ...]:
    """The evidence movements of a finding, each named by its smallest sighting txn_id."""
    return tuple(sorted(r[0] for r in query(
        case, _MOVEMENT_KEYS + "SELECT DISTINCT mk.key FROM finding_evidence e JOIN mk ON mk.movement_id = e.transaction_id WHERE e.finding_id = ?",
        [finding_id],
    )))


def movement_keys(case: Path, txn_ids) -> tuple[str, ...]:
    """The movements that sightings with these txn_ids belong to, named as in evidence_keys."""
    txn_ids = list(txn_ids)
    if not txn_ids:
        return ()
    return tuple(sorted(r[0] for r in query(
        case,
        _MOVEMENT_KEYS + "SELECT DISTINCT mk.key FROM sightings s JOIN sighting_movements l USING (sighting_id) "
        "JOIN mk USING (movement_id) WHERE s.txn_id IN (SELECT unnest(?))",
        [txn_ids],
    )))
