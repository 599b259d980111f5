"""A case is a folder holding `rpa.duckdb` and `rpa.toml`: making one, finding one, opening it."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

import duckdb

from analyzer import __version__
from analyzer.db import DB_NAME, SCHEMA_VERSION, connect, migrate, schema_version
from analyzer.errors import NoCaseError, RpaError

CONFIG_NAME = "rpa.toml"

CONFIG_TEMPLATE = """\
# rpa case settings. Dates are TOML dates (YYYY-MM-DD), times China local time.
# Commands read this file on every run; edit it freely.

# Windows of time an investigation cares about. `rpa scan --window election`
# runs the rules over the election windows.
#
# [[windows]]
# name = "2026 古云村换届"
# kind = "election"          # election | promotion | custom
# start = 2026-01-05
# end = 2026-03-31
# org_unit = "古云村党支部"   # optional: the unit whose members vote or are selected

# Occasions that explain gifts (喜庆之事): weddings, funerals, births, birthdays ...
#
# [[events]]
# person_id = "P0042"
# kind = "wedding"           # wedding | funeral | birth | birthday | housewarming | school | other
# date = 2026-05-01
# days = 3                   # optional

# Statutory holidays and 调休 working days for years the built-in calendar does not know yet.
#
# [holidays]
# "2027-01-01" = "元旦"
# [workdays]
# "2027-02-07" = "春节调休"

# Rule thresholds for this case, overriding each rule's defaults.
#
# [rules.split_packets]
# min_packets = 5
"""


def find_case(case: Path | None = None) -> Path:
    """The case folder to work on: `--case`, else env RPA_CASE, else the current folder.

    Raises NoCaseError (exit 2) when that folder holds no case database.
    """
    chosen = case or (Path(os.environ["RPA_CASE"]) if os.environ.get("RPA_CASE") else Path.cwd())
    chosen = chosen.expanduser().resolve()
    if not (chosen / DB_NAME).is_file():
        raise NoCaseError(
            f"no rpa case in {chosen}: make one with `rpa init {chosen}` "
            "(or pick one with --case DIR or RPA_CASE)"
        )
    return chosen


def init_case(folder: Path) -> tuple[Path, bool]:
    """Create a case in `folder` (made if missing). Returns (folder, created).

    An existing case is left as it is (and migrated to the current schema).
    """
    folder = folder.expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise RpaError(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / DB_NAME
    created = not db_path.exists()
    con = connect(db_path)
    try:
        migrate(con)
        if created:
            con.execute(
                "INSERT OR REPLACE INTO meta VALUES ('created_at', ?), ('created_by_version', ?)",
                [datetime.now().isoformat(timespec="seconds"), __version__],
            )
    finally:
        con.close()
    config = folder / CONFIG_NAME
    if not config.exists():
        config.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    return folder, created


@contextmanager
def open_case(case: Path | None = None, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the case database (migrating it if it is old) and close it afterwards."""
    folder = find_case(case)
    con = connect(folder / DB_NAME, read_only=read_only)
    try:
        if not read_only:
            migrate(con)
        elif schema_version(con) < SCHEMA_VERSION:
            # A case from an older rpa, opened for reading: migrate it first (briefly
            # writable), else reading commands would fail on the columns it lacks.
            con.close()
            writer = connect(folder / DB_NAME)
            try:
                migrate(writer)
            finally:
                writer.close()
            con = connect(folder / DB_NAME, read_only=True)
        yield con
    finally:
        con.close()
