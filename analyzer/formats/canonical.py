"""rpa's own canonical movement format: CSV (UTF-8, header row) or Parquet.

One row per money movement, the columns of README's "Canonical format" section.
Read set-wise by DuckDB's own reader into a temporary staging table, then into
`sightings`: no Python per row.

Required columns: ts, amount, payer, payee. Optional: the other MOVEMENT_COLUMNS
(txn_id, match_id, packet_id, payer_name, payee_name, kind, status, channel, memo,
raw_type, raw_status, refund_ref, direction). Any other column is kept, as JSON in
`raw`. One record per line: a CSV field must not contain a line break.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb

from analyzer.errors import FormatError
from analyzer.formats.base import DAMAGED_REASON, MOVEMENT_COLUMNS, Parsed
from analyzer.params import identifier, literal

REQUIRED = ("ts", "amount", "payer", "payee")
OPTIONAL = tuple(c for c in MOVEMENT_COLUMNS if c not in REQUIRED and c not in ("line", "raw"))
KNOWN = set(REQUIRED) | set(OPTIONAL)
NAME = "canonical"


def is_parquet(head: bytes) -> bool:
    return head[:4] == b"PAR1"


def _header(head: bytes) -> list[str] | None:
    text = head.decode("utf-8-sig", errors="replace")
    first = text.splitlines()[0] if text else ""
    try:
        return [c.strip() for c in next(csv.reader(io.StringIO(first)))]
    except StopIteration:
        return None


def sniff(path: Path, head: bytes) -> bool:
    """A Parquet file, or a CSV whose header names at least the required columns."""
    if is_parquet(head):
        return True
    header = _header(head)
    return bool(header) and all(c in header for c in REQUIRED)


# The typed rows of a canonical CSV, read before the file's transaction begins (see
# `stage`), and the lines DuckDB's reader rejected.
STAGE = "canonical_stage"  # the file as read: one VARCHAR column per file column, c0, c1 ...
ROWS = "canonical_rows"  # view: the protocol's rows (line, MOVEMENT_COLUMNS)
REJECTS = "canonical_rejects"  # (line, raw, reason): lines DuckDB's reader could not take apart
# No memory cap while staging (unlike Tenpay, see ingest.parse.STAGED_MEMORY_LIMIT): the
# stage is DuckDB's own read, and under the cap the insert from it is half as slow again.
CAP_MEMORY = False
READER_REJECTS = ("rpa_reject_errors", "rpa_reject_scans")
# What DuckDB's CSV and Parquet readers raise on a file they cannot read: a refusal of
# the file. Any other error (of the SQL rpa writes) is a bug and is not caught.
_UNREADABLE = (duckdb.InvalidInputException, duckdb.ConversionException, duckdb.IOException)


def stage(con: duckdb.DuckDBPyConnection, path: Path, *, owner: str | None = None) -> Parsed:
    """Read a canonical CSV or Parquet file into the protocol's relations (see
    analyzer.formats.base): every cell as text, as every layout hands its rows over, so
    that an amount such as 199.999, +5 or 1e3 is rejected by ingest like anywhere else
    instead of being rounded by a typed reader.

    A CSV is read by DuckDB's reader in file order into STAGE, so a row's `rowid` is its
    position among the accepted rows and gives its line without a streaming window (an
    ASOF join adds the lines the reader rejected before it). Staging runs outside the
    file's transaction: inserting from a committed temporary table is much faster than
    from inside it."""
    with open(path, "rb") as f:
        head = f.read(64 * 1024)
    drop_staged(con)
    if is_parquet(head):
        return _stage_parquet(con, path, owner)
    header = _header(head)
    if header:
        # A column without a name (a trailing comma) is kept by its position, as `#12`;
        # a NUL in a name (which no SQL name may hold) written as \x00.
        header = [(c or f"#{i + 1}").replace("\x00", "\\x00") for i, c in enumerate(header)]
    if not header or not all(c in header for c in REQUIRED):
        raise FormatError(f"{path.name}: canonical CSV needs the columns {', '.join(REQUIRED)}")
    _check_columns(path, header)
    if len(set(header)) != len(header):
        raise FormatError(f"{path.name}: a column name appears twice in the header")
    # The staged columns are named by position (c0, c1 ...), so that no name in the file
    # (say `rowid`) can shadow what rpa computes from the table.
    names = staged_names(header)
    spec = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in names.values()) + "}"
    source = (
        "read_csv($p, header = true, columns = " + spec + ", auto_detect = false, delim = ',', quote = '\"', "
        "escape = '\"', store_rejects = true, "
        f"rejects_table = '{READER_REJECTS[0]}', rejects_scan = '{READER_REJECTS[1]}', encoding = 'utf-8')"
    )
    # File order in the table is what makes rowid the row's position: insist on it,
    # whatever the session says.
    con.execute("SET preserve_insertion_order = true")
    try:
        con.execute(f"CREATE TEMP TABLE {STAGE} AS SELECT * FROM {source}", {"p": str(path)})
    except _UNREADABLE as exc:
        drop_staged(con)
        first = str(exc).splitlines()[0]
        if "Invalid unicode" in first and "statistics" in first:
            # DuckDB 1.5 keeps at most 10,000 bytes of a line its reader rejects, and may
            # cut it inside a character, which it then cannot store.
            raise FormatError(f"{path.name}: canonical CSV cannot be read: a line its reader rejects is longer than "
                              "10,000 bytes, which the reader cuts inside a character; fix or shorten that line") from None
        raise FormatError(f"{path.name}: canonical CSV cannot be read ({first})") from None
    finally:
        con.execute("RESET preserve_insertion_order")
    by_line: dict[int, tuple[str, list[str]]] = {}
    # As bytes: the reader keeps a rejected line's bytes as they were (cut, for a very
    # long line, maybe inside a character), which Python could not take as text.
    for line, raw, column, message in con.execute(
        f"SELECT line, encode(csv_line), column_name, encode(error_message) FROM {READER_REJECTS[0]} ORDER BY line, column_idx"
    ).fetchall():
        raw, message = (raw or b"").decode("utf-8", "replace"), (message or b"").decode("utf-8", "replace")
        _, reasons = by_line.setdefault(int(line), (raw, []))
        reason = _reason(message)
        # DuckDB reports a short row once per missing column: the first says it all.
        if reason not in reasons and not ("columns expected" in reason and any("columns expected" in r for r in reasons)):
            reasons.append(reason)
    con.execute(f"CREATE TEMP TABLE {REJECTS} (line BIGINT, raw VARCHAR, reason VARCHAR)")
    if by_line:
        # A NUL (which no text rpa stores may hold) written as \x00, as ingest writes it.
        con.executemany(f"INSERT INTO {REJECTS} VALUES (?, ?, ?)",
                        [(line, raw.replace("\x00", "\\x00"), "; ".join(reasons).replace("\x00", "\\x00"))
                         for line, (raw, reasons) in by_line.items()])
        # Each accepted row's line is its position plus the rejected lines before it:
        # an ASOF join against the rejected lines, set-wise.
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE canonical_gaps AS
            SELECT pos, max(skipped) AS skipped FROM (
                SELECT line - 1 - (row_number() OVER (ORDER BY line) - 1) AS pos,
                       row_number() OVER (ORDER BY line) AS skipped
                FROM (SELECT DISTINCT line FROM {REJECTS})
            ) GROUP BY pos
            """
        )
        rows = f"""(SELECT s.rowid + 2 + coalesce(g.skipped, 0) AS rpa_line, s.*
                    FROM {STAGE} s ASOF LEFT JOIN canonical_gaps g ON s.rowid + 1 >= g.pos)"""
        line = "rpa_line"
    else:
        rows, line = STAGE, "rowid + 2"  # line 1 is the header; rowid counts from 0
    select = f"SELECT {_columns(names, line)} FROM {rows}"
    if _has_nul(path):
        # DuckDB's reader keeps a NUL in a cell; no text rpa stores may hold one: such a
        # line is rejected as damaged, its cells as JSON (which escapes the NUL).
        con.execute(f"CREATE OR REPLACE TEMP TABLE canonical_nul AS SELECT * FROM ({select}) WHERE {_NUL}")
        con.execute(f"""INSERT INTO {REJECTS} SELECT line, to_json(struct_pack({', '.join(_TEXT[:7])}, ts, amount, memo))::VARCHAR,
                        {literal(DAMAGED_REASON)} FROM canonical_nul""")
        select = f"SELECT * FROM ({select}) WHERE NOT ({_NUL})"
    con.execute(f"CREATE TEMP VIEW {ROWS} AS {select}")
    count = con.execute(f"SELECT count(*) FROM {STAGE}").fetchall()[0][0]
    return Parsed(
        format="canonical_csv", owner=owner, rows=None, rows_read=count + len(by_line),
        encoding="utf-8", rows_table=ROWS, rejects_table=REJECTS, header=header,
    )


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, owner: str | None) -> Parsed:
    """A canonical Parquet file, read into STAGE (so that a damaged file fails here, as
    one error, not halfway through the insert); its line is its row number + 1."""
    source = f"read_parquet({literal(str(path))}, file_row_number = true)"
    try:
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        _check_columns(path, columns)
        if any("\x00" in c for c in columns):
            raise FormatError(f"{path.name}: a column name of the Parquet file holds a NUL character")
        if "file_row_number" in columns[:-1]:
            raise FormatError(f"{path.name}: a Parquet column named file_row_number is not supported")
        names = {c: identifier(c) for c in columns if c != "file_row_number"}
        con.execute(f"CREATE TEMP TABLE {STAGE} AS SELECT {_columns(names, 'file_row_number + 1', cast=True)} FROM {source}")
    except duckdb.Error as exc:
        drop_staged(con)
        # DuckDB's Parquet reader raises its plain Error too (Thrift: "Invalid data"); the
        # statements are rpa's own, so only a syntax error is a bug of rpa's.
        if isinstance(exc, duckdb.ParserException):
            raise
        raise FormatError(f"{path.name}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    con.execute(f"CREATE TEMP TABLE {REJECTS} (line BIGINT, raw VARCHAR, reason VARCHAR)")
    con.execute(f"""INSERT INTO {REJECTS} SELECT line, to_json(struct_pack({', '.join(_TEXT[:7])}, ts, amount, memo))::VARCHAR,
                    {literal(DAMAGED_REASON)} FROM {STAGE} WHERE {_NUL}""")
    con.execute(f"CREATE TEMP VIEW {ROWS} AS SELECT * FROM {STAGE} WHERE NOT ({_NUL})")
    count = con.execute(f"SELECT count(*) FROM {STAGE}").fetchall()[0][0]
    return Parsed(format="canonical_parquet", owner=owner, rows=None, rows_read=count, rows_table=ROWS, rejects_table=REJECTS)


def staged_names(header: list[str]) -> dict[str, str]:
    """The name of each of the file's columns in the staged table."""
    return {c: f"c{i}" for i, c in enumerate(header)}


def drop_staged(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary relations of a staged file."""
    con.execute(f"DROP VIEW IF EXISTS {ROWS}")
    for table in (STAGE, REJECTS, "canonical_gaps", "canonical_nul", *READER_REJECTS):
        con.execute(f"DROP TABLE IF EXISTS {table}")


# The text columns a canonical file fills; a NUL in any of them damages its line.
_TEXT = ("txn_id", "match_id", "packet_id", "payer", "payee", "payer_name", "payee_name", "direction", "kind", "status",
         "channel", "memo", "raw_type", "raw_status", "refund_ref")
_NUL = " OR ".join(f"coalesce(contains({c}, chr(0)), false)" for c in _TEXT)


def _has_nul(path: Path) -> bool:
    """Whether a CSV file holds a NUL byte anywhere (a read at disk speed, most often
    from the page cache DuckDB's reader just filled): only then are its rows searched."""
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            if b"\x00" in block:
                return True
    return False


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise FormatError(f"{path.name}: canonical file lacks the column(s) {', '.join(missing)}")


def _reason(message: str) -> str:
    first = ((message or "").splitlines() or [""])[0]
    if first.startswith("Invalid unicode"):
        return DAMAGED_REASON
    if first.startswith("Expected Number of Columns"):
        return first.replace("Expected Number of Columns: ", "").replace(" Found: ", " columns expected, ") + " found"
    return first


def _columns(columns: dict[str, str], line_expr: str, *, cast: bool = False) -> str:
    """SQL: the protocol's columns (line, MOVEMENT_COLUMNS as text) from the file's
    columns, given as the file's column names → their SQL names; columns the format
    does not know go to raw as JSON, under the file's names. A canonical row speaks
    for both parties unless its direction says otherwise, and is a success unless its
    status says otherwise."""

    def col(name: str) -> str:
        # DuckDB's reader already gives NULL for an empty field; canonical files are
        # machine-written, so no trimming (it would cost a pass over every column).
        if name not in columns:
            return "CAST(NULL AS VARCHAR)"
        return f"CAST({columns[name]} AS VARCHAR)" if cast else columns[name]

    extras = [c for c in columns if c not in KNOWN]
    raw = (
        "to_json(struct_pack(" + ", ".join(f"{identifier(c or f'#{i + 1}')} := {columns[c]}" for i, c in enumerate(columns) if c in extras) + "))::VARCHAR"
        if extras
        else "CAST(NULL AS VARCHAR)"
    )
    out = [f"CAST({line_expr} AS BIGINT) AS line"]
    for c in MOVEMENT_COLUMNS:
        if c == "line":
            continue
        if c == "raw":
            out.append(f"{raw} AS raw")
        elif c == "status":
            out.append(f"coalesce({col(c)}, 'success') AS status")
        else:
            out.append(f"{col(c)} AS {c}")
    return ", ".join(out)
