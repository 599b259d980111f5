"""A case is a folder holding `rpa.duckdb` and `rpa.toml`: making one, finding one, opening it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

import duckdb

from analyzer import __version__
from analyzer.db import DB_NAME, SCHEMA_VERSION, case_key, connect, is_encrypted, migrate, schema_version
from analyzer.errors import CaseBusyError, CaseKeyError, NoCaseError, RpaError

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

# When a gift counts as given back (every rule alike): a payment back to the giver of
# about the same amount (± return_tolerance) within return_days after it.
#
# [giving_back]
# return_days = 7
# return_tolerance = 0.05

# What an AA share of a shared bill looks like (every rule leaves these out alike): the
# memo names one of the words (any case; each may be a regular expression) and the
# amount is at most max_amount yuan.
#
# [aa_shares]
# words = ["AA", "群收款", "均摊", "分摊", "平摊"]
# max_amount = 500

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


# A key shorter than this is refused for a new encrypted case.
MIN_KEY_LENGTH = 8


def init_case(folder: Path, *, encrypt: bool = False) -> tuple[Path, bool]:
    """Create a case in `folder` (made if missing). Returns (folder, created).

    With `encrypt`, the database is encrypted with the key from env RPA_KEY (or asked
    for twice in a terminal); rpa never stores the key. An existing case is left as it
    is (and migrated to the current schema).
    """
    folder = folder.expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise RpaError(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / DB_NAME
    created = not db_path.exists()
    new_key = None
    if encrypt:
        if not created:
            state = "an encrypted" if is_encrypted(db_path) else "an unencrypted"
            raise RpaError(f"{folder} already holds {state} case; --encrypt makes new cases only")
        new_key = case_key(db_path, confirm=True)
        if len(new_key) < MIN_KEY_LENGTH:
            raise CaseKeyError(f"the key is too short: use at least {MIN_KEY_LENGTH} characters")
    con = connect(db_path, new_key=new_key)
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


# While a long write (ingest, roster, scan) holds the case, readers are served from a
# copy of the case as it was when the write began: DuckDB lets one process at a time
# open a database file, and a reader should not have to wait minutes for an ingest.
SNAPSHOT_NAME = "rpa.readers.duckdb"
WRITER_NAME = "rpa.writer.json"


# Up to this size (env RPA_READERS_COPY_MAX, a DuckDB size such as "4GB") a long write
# copies the case for readers. A bigger case is copied only for an ingest of at least a
# tenth of its size: copying a 10M-movement case (5.4 GB) takes 12 s, longer than adding
# a 1,000-row bill to it or reloading its roster. Readers of a bigger case wait for a
# shorter write, or are told who is writing.
READERS_COPY_MAX = "1GB"


def copies_for_readers(case_bytes: int, inputs: list[Path] | None = None) -> bool:
    """Whether a long write to a case of `case_bytes` (reading the files or folders
    `inputs`, for an ingest) leaves a copy for readers."""
    text = os.environ.get("RPA_READERS_COPY_MAX") or READERS_COPY_MAX
    size = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(|B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", text, re.IGNORECASE)
    if not size:
        raise RpaError(f"RPA_READERS_COPY_MAX must be a size such as 4GB, not {text!r}")
    units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
             "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
    limit = float(size.group(1)) * units[size.group(2).lower()]
    return case_bytes <= limit or (inputs is not None and _size_of(inputs) * 10 >= case_bytes)


def _size_of(paths: list[Path]) -> int:
    """Bytes in the files and folders (walked) `paths`; what cannot be read counts 0."""
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        for root, _, names in os.walk(path):
            for name in names:
                try:
                    total += os.stat(os.path.join(root, name)).st_size
                except OSError:
                    pass
    return total


@contextmanager
def open_case(
    case: Path | None = None, *, read_only: bool = False, long_write: str | None = None, inputs: list[Path] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the case database (migrating it if it is old) and close it afterwards.

    `long_write` names a write that may take a while (e.g. "ingest"): a copy of the case
    as it is now is left for readers until the write ends, if copies_for_readers says it
    is worth it (`inputs`: what an ingest reads). A reader that finds the case held
    by such a write reads that copy, and says so on stderr; without a copy it is told
    which command holds the case.
    """
    folder = find_case(case)
    if read_only:
        con = _connect_for_reading(folder)
    else:
        con = connect(folder / DB_NAME)
    try:
        if not read_only:
            migrate(con)
            if long_write:
                # (a copy left by a killed writer is the case as it was then: never served)
                (folder / SNAPSHOT_NAME).unlink(missing_ok=True)
                if copies_for_readers((folder / DB_NAME).stat().st_size, inputs):
                    _leave_snapshot(con, folder)
                _leave_note(folder, long_write)  # after the copy: a reader finding the note finds the copy
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
        if long_write and not read_only:
            for name in (WRITER_NAME, SNAPSHOT_NAME):
                (folder / name).unlink(missing_ok=True)


def _leave_note(folder: Path, command: str) -> None:
    """Say which process writes the case, since when, for readers that find it held."""
    writer = {"pid": os.getpid(), "command": command, "started": datetime.now().isoformat(timespec="seconds")}
    (folder / WRITER_NAME).write_text(json.dumps(writer), encoding="utf-8")


def _leave_snapshot(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Copy the case, whole and consistent, for readers while this process writes it."""
    copy_case(con, folder, folder / SNAPSHOT_NAME, "for readers")


def copy_case(con: duckdb.DuckDBPyConnection, folder: Path, target: Path, why: str) -> None:
    """Copy the open case's database, whole and consistent (after a checkpoint, while
    this process holds it), to `target` (a partial copy is never left under that name)."""
    con.execute("CHECKPOINT")  # everything committed is in the file; nothing writes until we do
    partial = target.with_name(target.name + ".partial")
    # The copy runs in a child process: closing any descriptor of the database file in
    # this process would drop the POSIX lock DuckDB holds on it, letting a second
    # writer in.
    copied = subprocess.run(
        [sys.executable, "-c", "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])",
         str(folder / DB_NAME), str(partial)],
        capture_output=True, text=True,
    )
    if copied.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RpaError(f"cannot copy the case {why} into {folder}: {(copied.stderr.strip().splitlines() or ['unknown error'])[-1]}")
    os.replace(partial, target)


def _connect_for_reading(folder: Path) -> duckdb.DuckDBPyConnection:
    """The case for a reading command; while a long write holds it, the copy it left."""
    try:
        return connect(folder / DB_NAME, read_only=True, wait=0)
    except CaseBusyError:
        pass
    writer = _live_writer(folder)
    if writer is not None and (folder / SNAPSHOT_NAME).is_file():
        try:
            con = connect(folder / SNAPSHOT_NAME, read_only=True, wait=0)
        except CaseKeyError:
            raise
        except (RpaError, OSError):
            con = None  # the write just ended and took its copy away: read the case
        if con is not None:
            print(
                f"note: `rpa {writer['command']}` (pid {writer['pid']}) is writing this case since "
                f"{writer['started']}; this shows the case as it was then",
                file=sys.stderr,
            )
            return con
    try:
        return connect(folder / DB_NAME, read_only=True)
    except CaseBusyError:
        if writer is None:
            raise
        raise CaseBusyError(
            f"the case {folder} is busy: `rpa {writer['command']}` (pid {writer['pid']}) is writing it since "
            f"{writer['started']}, and leaves no copy for readers of a case this big (RPA_READERS_COPY_MAX); "
            "try again when it ends"
        ) from None


def _live_writer(folder: Path) -> dict | None:
    """The long write in progress, from the note it left, if its process still runs."""
    try:
        writer = json.loads((folder / WRITER_NAME).read_text(encoding="utf-8"))
        os.kill(int(writer["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return writer
