"""rpa's own canonical movement format: CSV (UTF-8, header row) or Parquet.

One row per money movement, the columns of README's "Canonical format" section.
Read set-wise by DuckDB into a temporary staging table, then into `sightings`: no
Python per row, so a file of millions of rows loads at close to DuckDB's own CSV speed.

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
from analyzer.formats.base import DAMAGED_REASON, MOVEMENT_COLUMNS, Parsed, Reject
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
STAGE = "canonical_stage"
# No memory cap while staging (unlike Tenpay, see ingest.STAGED_MEMORY_LIMIT): the stage
# is DuckDB's own typed read, and under the cap the insert from it is half as slow
# again (1M rows: 1.3 s against 0.84 s).
CAP_MEMORY = False
READER_REJECTS = ("rpa_reject_errors", "rpa_reject_scans")
# What DuckDB's CSV and Parquet readers raise on a file they cannot read: a refusal of
# the file. Any other error (of the SQL rpa writes) is a bug and is not caught.
_UNREADABLE = (duckdb.InvalidInputException, duckdb.ConversionException, duckdb.IOException)


def stage(con: duckdb.DuckDBPyConnection, path: Path, *, owner: str | None = None) -> Parsed | None:
    """Read a canonical CSV into the temporary table STAGE, typed by DuckDB's reader, in
    file order; returns what was read (the reader's rejects in `rejects`), or None for
    a Parquet file, which `load_into` reads directly.

    Staging runs outside the file's transaction: DuckDB reads in parallel and keeps file
    order in the table, so a row's `rowid` is its position among the accepted rows and
    gives its line without a streaming window; and inserting from a committed temporary
    table into `transactions` is much faster than from inside the transaction
    (measured at 1M rows: 1.4 s against 2.0 s for reading straight into the insert)."""
    with open(path, "rb") as f:
        head = f.read(64 * 1024)
    if is_parquet(head):
        return None
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
    # Typed reading lets DuckDB itself reject a row whose time or amount does not
    # convert, with its line number, instead of a second pass over text. The staged
    # columns are named by position (c0, c1 ...), so that no name in the file (say
    # `rowid`) can shadow what rpa computes from the table.
    names = staged_names(header)
    types = {names[c]: {"ts": "TIMESTAMP", "amount": "DECIMAL(18,2)"}.get(c, "VARCHAR") for c in header}
    spec = "{" + ", ".join(f"'{c}': '{t}'" for c, t in types.items()) + "}"
    source = (
        "read_csv($p, header = true, columns = " + spec + ", auto_detect = false, delim = ',', quote = '\"', "
        "escape = '\"', timestampformat = '%Y-%m-%d %H:%M:%S', store_rejects = true, "
        f"rejects_table = '{READER_REJECTS[0]}', rejects_scan = '{READER_REJECTS[1]}', encoding = 'utf-8')"
    )
    drop_staged(con)
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
        reason = _reason(header[int(column[1:])] if column in types else column, message)
        # DuckDB reports a short row once per missing column: the first says it all.
        if reason not in reasons and not ("columns expected" in reason and any("columns expected" in r for r in reasons)):
            reasons.append(reason)
    # A NUL (which no text rpa stores may hold) written as \x00, as ingest writes it.
    rejects = [Reject(line=line, raw=raw.replace("\x00", "\\x00"), reason="; ".join(reasons).replace("\x00", "\\x00"))
               for line, (raw, reasons) in by_line.items()]
    rows = con.execute(f"SELECT count(*) FROM {STAGE}").fetchall()[0][0]
    return Parsed(
        format="canonical_csv", owner=owner, rows=None, rejects=rejects, rows_read=rows + len(rejects),
        encoding="utf-8", rows_table=STAGE, header=header,
    )


def staged_names(header: list[str]) -> dict[str, str]:
    """The name of each of the file's columns in the staged table."""
    return {c: f"c{i}" for i, c in enumerate(header)}


def drop_staged(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary tables of a staged file."""
    for table in (STAGE, "canonical_gaps", *READER_REJECTS):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def load_into(
    con: duckdb.DuckDBPyConnection, path: Path, staged: Parsed | None, source_id: int, base_id: int
) -> tuple[int, list[tuple[int, str, str]]]:
    """Insert the file's rows into `sightings` (source `source_id`, ids after
    `base_id`) and return (rows read, rejects as (line, raw line, reason)). A CSV comes
    from its `stage`; a Parquet file (staged None) is read here.

    Rows whose time or amount does not convert were rejected by DuckDB's reader itself;
    ingest checks the rest (kinds, statuses ...) after the insert."""
    if staged is None:
        try:
            columns = [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet($p)", {"p": str(path)}).fetchall()]
        except duckdb.Error as exc:
            # DuckDB's Parquet reader raises its plain Error too (Thrift: "Invalid data");
            # the statement is fixed, so only a syntax error could be rpa's own.
            if isinstance(exc, duckdb.ParserException):
                raise
            raise FormatError(f"{path.name}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
        _check_columns(path, columns)
        if any("\x00" in c for c in columns):
            raise FormatError(f"{path.name}: a column name of the Parquet file holds a NUL character")
        source = "read_parquet($p, file_row_number = true)"
        try:
            _insert(con, source, {c: identifier(c) for c in columns}, "file_row_number + 1", {"p": str(path)}, source_id, base_id,
                    text_input=True, keep_order=False)  # fmt: skip
        except duckdb.Error as exc:
            if isinstance(exc, duckdb.ParserException):
                raise
            raise FormatError(f"{path.name}: Parquet file cannot be read ({str(exc).splitlines()[0]})") from None
        read = con.execute("SELECT count(*) FROM sightings WHERE source_id = ?", [source_id]).fetchall()[0][0]
        _reject_nul(con, source_id)
        return read, []

    columns = staged_names(staged.header or [])
    rejects = [(r.line, r.raw, r.reason) for r in staged.rejects]
    if not rejects:
        # Line 1 is the header; rowid counts from 0.
        _insert(con, STAGE, columns, "rowid + 2", {}, source_id, base_id, text_input=False, keep_order=True)
        if _has_nul(path):
            _reject_nul(con, source_id)
        return staged.rows_read, rejects
    # Each accepted row's line is its position plus the rejected lines before it: an
    # ASOF join against the rejected lines, set-wise.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE canonical_gaps AS
        SELECT pos, max(skipped) AS skipped FROM (
            SELECT line - 1 - (row_number() OVER (ORDER BY line) - 1) AS pos,
                   row_number() OVER (ORDER BY line) AS skipped
            FROM (SELECT DISTINCT line FROM {READER_REJECTS[0]})
        ) GROUP BY pos
        """
    )
    source = f"""(SELECT s.rowid + 2 + coalesce(g.skipped, 0) AS rpa_line, s.*
                  FROM {STAGE} s ASOF LEFT JOIN canonical_gaps g ON s.rowid + 1 >= g.pos)"""
    _insert(con, source, columns, "rpa_line", {}, source_id, base_id, text_input=False, keep_order=True)
    if _has_nul(path):
        _reject_nul(con, source_id)
    return staged.rows_read, rejects


# The text columns of a sighting that a canonical file fills (raw is JSON, escaped).
_TEXT = ("txn_id", "match_id", "packet_id", "payer", "payee", "payer_name", "payee_name", "direction", "kind", "status",
         "channel", "memo", "raw_type", "raw_status", "refund_ref")


def _has_nul(path: Path) -> bool:
    """Whether a CSV file holds a NUL byte anywhere (a read at disk speed, most often
    from the page cache DuckDB's reader just filled): only then are its rows searched."""
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            if b"\x00" in block:
                return True
    return False


def _reject_nul(con, source_id: int) -> None:
    """Move the file's rows that hold a NUL character (DuckDB's reader keeps it; no
    account or text of rpa may hold one) from `sightings` to `rejects`, as damaged
    lines, their cells as JSON (which escapes the NUL)."""
    nul = " OR ".join(f"contains({c}, chr(0))" for c in _TEXT)
    found = con.execute(
        f"""INSERT INTO rejects
            SELECT source_id, line, to_json(struct_pack({', '.join(_TEXT[:7])}, ts, amount, memo))::VARCHAR, {literal(DAMAGED_REASON)}
            FROM sightings WHERE source_id = ? AND ({nul})""",
        [source_id],
    ).fetchall()[0][0]
    if found:
        con.execute(f"DELETE FROM sightings WHERE source_id = ? AND ({nul})", [source_id])


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise FormatError(f"{path.name}: canonical file lacks the column(s) {', '.join(missing)}")


def _reason(column: str | None, message: str) -> str:
    first = ((message or "").splitlines() or [""])[0]
    if first.startswith("Invalid unicode"):
        return DAMAGED_REASON
    if first.startswith("Expected Number of Columns"):
        return first.replace("Expected Number of Columns: ", "").replace(" Found: ", " columns expected, ") + " found"
    if column == "ts":
        return "ts is not a time 'YYYY-MM-DD HH:MM:SS'"
    if column == "amount":
        return "amount is not a decimal number of yuan"
    return first


def _insert(
    con, source: str, columns: dict[str, str], line_expr: str, params: dict, source_id: int, base_id: int, *, text_input: bool, keep_order: bool
) -> None:
    """INSERT INTO sightings the canonical columns of `source`, given as the file's
    column names → their SQL names in `source`; extra columns go to raw as JSON, under
    the file's names. The id is base_id + line, unique within the case."""

    def col(name: str) -> str:
        # DuckDB's reader already gives NULL for an empty field; canonical files are
        # machine-written, so no trimming (it would cost a pass over every column).
        if name in columns:
            return f"CAST({columns[name]} AS VARCHAR)"
        return "NULL"

    extras = [c for c in columns if c not in KNOWN]
    raw = (
        "to_json(struct_pack(" + ", ".join(f"{identifier(c or f'#{i + 1}')} := {columns[c]}" for i, c in enumerate(columns) if c in extras) + "))::VARCHAR"
        if extras
        else "NULL"
    )
    ts = f"try_strptime(CAST({columns['ts']} AS VARCHAR), '%Y-%m-%d %H:%M:%S')" if text_input else columns["ts"]
    amount = f"TRY_CAST({columns['amount']} AS DECIMAL(18,2))" if text_input else columns["amount"]
    select = ",\n".join(
        [
            f"$base + {line_expr}",
            "$source",
            line_expr,
            *(col(c) for c in ("txn_id", "match_id", "packet_id")),
            ts,
            *(col(c) for c in ("payer", "payee", "payer_name", "payee_name")),
            amount,
            f"coalesce({col('direction')}, 'both')",  # a canonical row speaks for both sides unless it says
            f"coalesce({col('kind')}, 'other')",
            f"coalesce({col('status')}, 'success')",
            f"coalesce({col('channel')}, 'other')",
            *(col(c) for c in ("memo", "raw_type", "raw_status", "refund_ref")),
            raw,
        ]
    )
    # From the stage, keeping its order is the faster way (measured: 0.83 s against
    # 1.02 s at 1M rows) and stores the file in its order. A Parquet file's line comes
    # from file_row_number, so DuckDB may insert it in any order.
    con.execute(f"SET preserve_insertion_order = {'true' if keep_order else 'false'}")
    try:
        con.execute(f"INSERT INTO sightings SELECT {select} FROM {source}", {**params, "base": base_id, "source": source_id})
    finally:
        try:
            con.execute("RESET preserve_insertion_order")
        except duckdb.TransactionException:
            pass  # the insert failed and aborted the transaction: its own error is the one raised
