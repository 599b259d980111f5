"""rpa's own canonical movement format: CSV (UTF-8, header row) or Parquet.

One row per money movement, the columns of README's "Canonical format" section.
Read set-wise by DuckDB straight into the staging table: no Python per row, so a
file of millions of rows loads at close to DuckDB's own CSV speed.

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
from analyzer.formats.base import MOVEMENT_COLUMNS

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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_into(
    con: duckdb.DuckDBPyConnection, path: Path, head: bytes, source_id: int, base_id: int
) -> tuple[int, list[tuple[int, str, str]]]:
    """Insert the file's rows into `transactions` (source `source_id`, ids after
    `base_id`) and return (rows read, rejects as (line, raw line, reason)).

    Rows whose time or amount does not convert are rejected by DuckDB's reader itself;
    ingest checks the rest (kinds, statuses ...) after the insert."""
    if is_parquet(head):
        try:
            columns = [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet($p)", {"p": str(path)}).fetchall()]
        except duckdb.Error as exc:
            raise FormatError(f"{path.name}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
        source = "read_parquet($p, file_row_number = true)"
        line_expr = "file_row_number + 1"
        _check_columns(path, columns)
        _insert(con, source, columns, line_expr, {"p": str(path)}, source_id, base_id, text_input=True)
        read = con.execute("SELECT count(*) FROM transactions WHERE source_id = ?", [source_id]).fetchall()[0][0]
        return read, []

    header = _header(head)
    if not header or not all(c in header for c in REQUIRED):
        raise FormatError(f"{path.name}: canonical CSV needs the columns {', '.join(REQUIRED)}")
    _check_columns(path, header)
    if len(set(header)) != len(header):
        raise FormatError(f"{path.name}: a column name appears twice in the header")
    # Typed reading lets DuckDB itself reject a row whose time or amount does not
    # convert, with its line number, instead of a second pass over text.
    types = {c: "VARCHAR" for c in header}
    types["ts"] = "TIMESTAMP"
    types["amount"] = "DECIMAL(18,2)"
    spec = "{" + ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}': '{t}'" for c, t in types.items()) + "}"
    source = (
        "read_csv($p, header = true, columns = " + spec + ", auto_detect = false, delim = ',', quote = '\"', "
        "escape = '\"', timestampformat = '%Y-%m-%d %H:%M:%S', store_rejects = true, "
        "rejects_table = 'rpa_reject_errors', rejects_scan = 'rpa_reject_scans', encoding = 'utf-8')"
    )
    con.execute("DROP TABLE IF EXISTS rpa_reject_errors; DROP TABLE IF EXISTS rpa_reject_scans")
    # row_number() OVER () streams in file order, so rpa_k is the row's position among
    # the rows DuckDB accepted.
    numbered = f"(SELECT row_number() OVER () AS rpa_k, * FROM {source})"
    try:
        _insert(con, numbered, header, "rpa_k + 1", {"p": str(path)}, source_id, base_id, text_input=False)
    except duckdb.Error as exc:
        raise FormatError(f"{path.name}: canonical CSV cannot be read ({str(exc).splitlines()[0]})") from None
    by_line: dict[int, tuple[str, list[str]]] = {}
    for line, raw, column, message in con.execute(
        "SELECT line, csv_line, column_name, error_message FROM rpa_reject_errors ORDER BY line, column_idx"
    ).fetchall():
        raw_line, reasons = by_line.setdefault(int(line), (raw or "", []))
        reason = _reason(column, message)
        # DuckDB reports a short row once per missing column: the first says it all.
        if reason not in reasons and not ("columns expected" in reason and any("columns expected" in r for r in reasons)):
            reasons.append(reason)
    rejects = [(line, raw, "; ".join(reasons)) for line, (raw, reasons) in by_line.items()]
    if rejects:
        # Shift each good row's line past the rejected lines before it: an ASOF join
        # against the rejected lines, set-wise.
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE canonical_gaps AS
            SELECT pos, max(skipped) AS skipped FROM (
                SELECT line - 1 - (row_number() OVER (ORDER BY line) - 1) AS pos,
                       row_number() OVER (ORDER BY line) AS skipped
                FROM (SELECT DISTINCT line FROM rpa_reject_errors)
            ) GROUP BY pos
            """
        )
        con.execute(
            """
            UPDATE transactions SET line = transactions.line + s.skipped, id = transactions.id + s.skipped
            FROM (SELECT t.line AS k_line, g.skipped FROM transactions t
                  ASOF JOIN canonical_gaps g ON t.source_id = $s AND t.line - 1 >= g.pos) s
            WHERE transactions.source_id = $s AND transactions.line = s.k_line
            """,
            {"s": source_id},
        )
        con.execute("DROP TABLE canonical_gaps")
    read = con.execute("SELECT count(*) FROM transactions WHERE source_id = ?", [source_id]).fetchall()[0][0] + len(rejects)
    return read, rejects


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise FormatError(f"{path.name}: canonical file lacks the column(s) {', '.join(missing)}")


def _reason(column: str | None, message: str) -> str:
    first = (message or "").splitlines()[0]
    if first.startswith("Expected Number of Columns"):
        return first.replace("Expected Number of Columns: ", "").replace(" Found: ", " columns expected, ") + " found"
    if column == "ts":
        return "ts is not a time 'YYYY-MM-DD HH:MM:SS'"
    if column == "amount":
        return "amount is not a decimal number of yuan"
    return first


def _insert(con, source: str, columns: list[str], line_expr: str, params: dict, source_id: int, base_id: int, *, text_input: bool) -> None:
    """INSERT INTO transactions the canonical columns of `source`; extra columns go to
    raw as JSON. The id is base_id + line, unique within the case."""
    from analyzer.ingest import SEEN_BY_PAYEE, SEEN_BY_PAYER

    present = set(columns)

    def col(name: str) -> str:
        # DuckDB's reader already gives NULL for an empty field; canonical files are
        # machine-written, so no trimming (it would cost a pass over every column).
        if name in present:
            return f"CAST({_quote(name)} AS VARCHAR)"
        return "NULL"

    extras = [c for c in columns if c not in KNOWN]
    raw = (
        "to_json(struct_pack(" + ", ".join(f"{_quote(c)} := {_quote(c)}" for c in extras) + "))::VARCHAR"
        if extras
        else "NULL"
    )
    ts = "try_strptime(CAST(ts AS VARCHAR), '%Y-%m-%d %H:%M:%S')" if text_input else "ts"
    amount = "TRY_CAST(amount AS DECIMAL(18,2))" if text_input else "amount"
    direction = col("direction")
    select = ",\n".join(
        [
            f"$base + {line_expr}",
            *(col(c) for c in ("txn_id", "match_id", "packet_id")),
            ts,
            *(col(c) for c in ("payer", "payee", "payer_name", "payee_name")),
            amount,
            f"coalesce({col('kind')}, 'other')",
            f"coalesce({col('status')}, 'success')",
            f"coalesce({col('channel')}, 'other')",
            *(col(c) for c in ("memo", "raw_type", "raw_status", "refund_ref")),
            "NULL",
            SEEN_BY_PAYER.format(d=direction),
            SEEN_BY_PAYEE.format(d=direction),
            "$source",
            line_expr,
            raw,
            "NULL",
            "NULL",
        ]
    )
    # Row order comes from row_number() in the streaming window, not from storage
    # order, so DuckDB may insert in parallel without keeping it (measured: -20 %).
    con.execute("SET preserve_insertion_order = false")
    try:
        con.execute(f"INSERT INTO transactions SELECT {select} FROM {source}", {**params, "base": base_id, "source": source_id})
    finally:
        con.execute("RESET preserve_insertion_order")
