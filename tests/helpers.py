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
