"""Stage: a file's staged rows into the case, as sightings, inside its transaction:
typed (time and amount; a row that does not convert is rejected with the reason),
checked (kinds, statuses, directions), its accounts registered, its source row and
audit entry written with the digest of what it gave. One file at a time, or a batch of
small Tenpay files in one transaction; either way each file is whole or not at all.
The movements are derived from the sightings afterwards (consolidate.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from analyzer import __version__
from analyzer.audit import append, append_many, record_source_digest, record_source_digests
from analyzer.db import unordered
from analyzer.formats.base import CHANNELS, FILE_SPAN, KINDS, MOVEMENT_COLUMNS, STATUSES, Parsed, StagedFile, normalize_account
from analyzer.ingest.consolidate import mark_stale
from analyzer.ingest.walk import display_name
from analyzer.params import literal
from analyzer.pause import pause_point


@dataclass(slots=True)  # a production has a hundred thousand of them, held to the end
class FileResult:
    """What happened to one file."""

    path: Path
    name: str
    status: str  # loaded | already | unknown | error | bug (a sniff or parser crashed: rpa's fault, not the file's)
    format: str | None = None
    owner: str | None = None
    rows_read: int = 0
    loaded: int = 0
    duplicate: int = 0
    rejected: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    source_id: int | None = None
    message: str = ""
    bug: BaseException | None = None  # the exception of a crash (status "bug")


class SkippedFile:
    """A file found in a folder that no layout recognises (status "unknown"), read as a
    FileResult is. Kept light: a production holds as many of them as exports (a
    TenpayRegInfo.txt beside each TenpayTrades.txt), all held to the end of the ingest;
    its name and message are worked out when shown (100 MB at 67k files otherwise)."""

    __slots__ = ("path",)
    status = "unknown"
    format = owner = first_ts = last_ts = source_id = bug = None
    rows_read = loaded = duplicate = rejected = 0

    def __init__(self, path: Path):
        self.path = path

    @property
    def name(self) -> str:
        return display_name(self.path)

    @property
    def message(self) -> str:
        return f"{self.name}: skipped, no known layout"


def load_file(con, path: Path, name: str, parsed: Parsed, digest: Callable[[], tuple[str, int]], actor: str | None,
              progress: Callable[[str], None] = lambda _: None) -> FileResult:
    """Load one staged file as sightings inside the open transaction, with its source
    row and audit entry; `digest()` gives the file's SHA-256 and size (it may still be
    running on a thread)."""
    source_id = con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM sources").fetchall()[0][0]
    base_id = next_sighting_base(con)
    insert_rows(con, parsed.rows_table, source_id, base_id)
    if parsed.rejects_table:
        con.execute(f"INSERT INTO rejects SELECT $s, line, raw, reason FROM {parsed.rejects_table}", {"s": source_id})
    progress("checking")
    reject_invalid(con, source_id)
    register_accounts(con, source_id)
    mark_stale(con)

    loaded, first_ts, last_ts, top = con.execute(
        "SELECT count(*), min(ts), max(ts), max(sighting_id) FROM sightings WHERE source_id = ?", [source_id]
    ).fetchall()[0]
    if top is not None:
        con.execute("INSERT OR REPLACE INTO meta VALUES ('last_sighting_id', ?)", [str(top)])
    rejected = con.execute("SELECT count(DISTINCT line) FROM rejects WHERE source_id = ?", [source_id]).fetchall()[0][0]
    rows_read = parsed.rows_read or (loaded + rejected)
    sha, size = digest()
    stored_path = display_name(path.resolve())
    con.execute(
        "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [source_id, stored_path, name.split("/")[-1], sha, size, parsed.format, parsed.encoding, visible(parsed.owner),
         visible(parsed.owner_name), visible(parsed.period_start), visible(parsed.period_end), rows_read, loaded,
         0,  # rows_loaded and rows_duplicate are brought up to date by consolidate
         rejected, first_ts, last_ts, datetime.now().replace(microsecond=0), __version__],
    )
    result = FileResult(path, name, "loaded", format=parsed.format, owner=parsed.owner, rows_read=rows_read, loaded=loaded,
                        rejected=rejected, first_ts=first_ts, last_ts=last_ts, source_id=source_id)
    # with the digest of the rows it gave: what `rpa verify` checks them against
    append(con, "ingest", {**audit_details(result, stored_path, sha, size), "digest": record_source_digest(con, source_id)}, actor)
    return result


def load_tenpay_batch(
    con, items: list[tuple[Path, str]], *, owner: str | None, actor: str | None, progress: Callable[[str], None] = lambda _: None
) -> list[FileResult]:
    """Load small Tenpay files together: staged by one set of statements
    (tenpay.stage_many) before the transaction, then loaded as one batch (load_batch)."""
    from analyzer.formats import tenpay
    from analyzer.ingest.parse import cap_memory, restore_memory

    memory_before = cap_memory(con) if tenpay.CAP_MEMORY else None
    try:
        # Every staged row carries its file and line: no statement needs storage order.
        with unordered(con):
            progress("reading")
            staged = tenpay.stage_many(con, [p for p, _ in items], owner=owner)
            progress("loading")
            return load_batch(con, staged, [name for _, name in items], tenpay.ROWS, tenpay.REJECTS, actor=actor, fmt="tenpay")
    finally:
        tenpay.drop_staged(con)
        restore_memory(con, memory_before)


# A batch of small files of any layout, staged one by one (each by its layout's module)
# into these two tables, lines numbered file_no × FILE_SPAN + line.
BATCH_ROWS = "batch_any_rows"
BATCH_REJECTS = "batch_any_rejects"


def start_batch(con) -> None:
    """Empty tables for a batch of small files of any layout (add_to_batch)."""
    columns = ", ".join(f"{c} {'BIGINT' if c == 'line' else 'VARCHAR'}" for c in MOVEMENT_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {BATCH_ROWS} ({columns})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {BATCH_REJECTS} (line BIGINT, raw VARCHAR, reason VARCHAR)")


def add_to_batch(con, parsed: Parsed, file_no: int) -> int:
    """Copy a staged file's relations into the batch as file `file_no`; returns its rows."""
    columns = ", ".join(c for c in MOVEMENT_COLUMNS if c != "line")
    start = file_no * FILE_SPAN  # a Python int: in SQL, file_no × FILE_SPAN would overflow INT32
    con.execute(f"INSERT INTO {BATCH_ROWS} SELECT {start} + line, {columns} FROM {parsed.rows_table}")
    if parsed.rejects_table:
        con.execute(f"INSERT INTO {BATCH_REJECTS} SELECT {start} + line, raw, reason FROM {parsed.rejects_table}")
    return parsed.rows_read


def end_batch(con) -> None:
    con.execute(f"DROP TABLE IF EXISTS {BATCH_ROWS}")
    con.execute(f"DROP TABLE IF EXISTS {BATCH_REJECTS}")


def load_batch(con, staged: list[StagedFile], names: list[str], rows: str, rejects: str, *, actor: str | None,
               fmt: str | None = None) -> list[FileResult]:
    """Load files staged together (their rows in the relation `rows`, their rejected
    lines in `rejects`, lines numbered file_no × FILE_SPAN + line) in one transaction:
    inserted, checked, registered and logged by one set of statements for all of them,
    each file still whole or not at all. A file that could not be read is reported and
    does not stop the others; a file already in the case (or twice in the batch) adds
    nothing."""
    from analyzer.db import transaction

    shas = [f.sha256 for f in staged if f.sha256]
    known = dict(con.execute("SELECT sha256, source_id FROM sources WHERE sha256 IN (SELECT unnest(?))", [shas]).fetchall()) if shas else {}
    results: list[FileResult] = []
    good: list[tuple[StagedFile, FileResult]] = []
    first_of: dict[str, str] = {}
    for f, name in zip(staged, names):
        if f.error is not None:
            results.append(FileResult(f.path, name, "error", format=fmt, message=f.error))
        elif f.sha256 in known:
            results.append(FileResult(f.path, name, "already", source_id=known[f.sha256],
                                      message=f"{name}: already ingested as source {known[f.sha256]}; nothing added"))
        elif f.sha256 in first_of:
            results.append(FileResult(f.path, name, "already", message=f"{name}: the same file as {first_of[f.sha256]}; nothing added"))
        else:
            first_of[f.sha256] = name
            result = FileResult(f.path, name, "loaded", format=f.parsed.format, owner=f.parsed.owner, rows_read=f.parsed.rows_read)
            results.append(result)
            good.append((f, result))
    if not good:
        return results
    span = FILE_SPAN
    lines = dict(con.execute(f"SELECT line // {span}, max(line % {span}) FROM {rows} GROUP BY ALL").fetchall())
    try:
        with transaction(con):
            first = con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM sources").fetchall()[0][0]
            last = first + len(good) - 1
            base = next_sighting_base(con)
            table, offset = [], 0
            for k, (f, result) in enumerate(good):
                table.append((f.file_no, k, offset))
                result.source_id = first + k
                offset += lines.get(f.file_no, 0)
            con.execute("CREATE OR REPLACE TEMP TABLE batch_files (file_no BIGINT, k BIGINT, file_offset BIGINT)")
            con.executemany("INSERT INTO batch_files VALUES (?, ?, ?)", table)
            con.execute(
                f"""CREATE OR REPLACE TEMP VIEW batch_rows AS
                    SELECT r.* REPLACE (r.line % {span} AS line), b.k AS file_no, b.file_offset
                    FROM {rows} r JOIN batch_files b ON b.file_no = r.line // {span}"""
            )
            insert_rows(con, "batch_rows", first, base, many=True)
            con.execute(
                f"""INSERT INTO rejects SELECT $first + b.k, r.line % {span}, r.raw, r.reason
                    FROM {rejects} r JOIN batch_files b ON b.file_no = r.line // {span}""",
                {"first": first},
            )
            reject_invalid(con, first, last)
            register_accounts(con, first, last)
            mark_stale(con)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('last_sighting_id', ?)", [str(base + offset)])
            stats = {r[0]: r[1:] for r in con.execute(
                "SELECT source_id, count(*), min(ts), max(ts) FROM sightings WHERE source_id BETWEEN ? AND ? GROUP BY ALL", [first, last]
            ).fetchall()}
            rejected = dict(con.execute(
                "SELECT source_id, count(DISTINCT line) FROM rejects WHERE source_id BETWEEN ? AND ? GROUP BY ALL", [first, last]
            ).fetchall())
            now = datetime.now().replace(microsecond=0)
            source_rows, entries = [], []
            for f, result in good:
                result.loaded, result.first_ts, result.last_ts = stats.get(result.source_id, (0, None, None))
                result.rejected = rejected.get(result.source_id, 0)
                path = display_name(f.path.resolve())
                p = f.parsed
                source_rows.append((result.source_id, path, result.name.split("/")[-1], f.sha256, f.size, p.format, p.encoding,
                                    visible(p.owner), visible(p.owner_name), visible(p.period_start), visible(p.period_end),
                                    p.rows_read, result.loaded, 0, result.rejected, result.first_ts, result.last_ts, now,
                                    __version__))
                entries.append(audit_details(result, path, f.sha256, f.size))
            con.executemany("INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", source_rows)
            digests = record_source_digests(con, first, last)  # what `rpa verify` checks the rows against
            for entry in entries:
                entry["digest"] = digests[entry["source_id"]]
            append_many(con, "ingest", entries, actor)
            pause_point("ingest.before_commit")
    finally:
        con.execute("DROP VIEW IF EXISTS batch_rows")
        con.execute("DROP TABLE IF EXISTS batch_files")
    return results


def audit_details(result: FileResult, path: str, sha: str, size: int) -> dict:
    """What the audit log records of a loaded file."""
    return {
        "source_id": result.source_id, "path": path, "name": result.name.split("/")[-1], "sha256": sha, "size": size,
        "format": result.format, "owner": result.owner, "rows_read": result.rows_read, "loaded": result.loaded,
        "duplicates": result.duplicate, "rejected": result.rejected, "first_ts": result.first_ts,
        "last_ts": result.last_ts, "rpa_version": __version__,
    }


def visible(text: str | None) -> str | None:
    """Text to store as it was read, but with NUL bytes (which a damaged file can hold
    and a DuckDB text cannot) written as \\x00."""
    return None if text is None else text.replace("\x00", "\\x00")


def next_sighting_base(con) -> int:
    """The base of the next file's sighting ids (id = base + line): above every id
    given so far, kept in `meta` so that no file scans the sightings for it."""
    row = con.execute("SELECT value FROM meta WHERE key = 'last_sighting_id'").fetchall()
    if row:
        return int(row[0][0])
    return con.execute("SELECT coalesce(max(sighting_id), 0) FROM sightings").fetchall()[0][0]


def insert_rows(con, relation: str, source_id: int, base_id: int, *, many: bool = False) -> None:
    """Movement rows (MOVEMENT_COLUMNS, text, NULL for empty) of a DuckDB relation →
    sightings, casting time and amount set-wise. Rows whose time or amount does not
    cast go to `rejects` with the reason instead. The relation is read twice (rejects,
    then rows) rather than copied: a staged Tenpay file can be millions of rows."""
    typed = rf"""
        SELECT *,
               CASE WHEN ts_cast IS NULL AND ts IS NULL THEN 'no transaction time'
                    WHEN ts_cast IS NULL THEN 'time does not parse: ' || ts
                    WHEN amount_cast IS NULL AND amount IS NULL THEN 'no amount'
                    WHEN amount_cast IS NULL AND regexp_full_match(amount, '-\d+(\.\d+)?')
                        THEN 'negative amount (amounts are unsigned; the direction says who paid): ' || amount
                    WHEN amount_cast IS NULL
                        THEN 'amount is not a decimal number of yuan with at most two decimals: ' || amount END AS reason
        FROM (
            SELECT *,
                   try_strptime(ts, ['%Y-%m-%d %H:%M:%S', '%Y/%m/%d %H:%M:%S', '%Y-%m-%d %H:%M', '%Y/%m/%d %H:%M']) AS ts_cast,
                   CASE WHEN regexp_full_match(amount, '\d{{1,16}}(\.\d{{1,2}})?') THEN CAST(amount AS DECIMAL(18,2)) END AS amount_cast
            FROM {relation}
        )
    """
    # Rows of many files (`many`: the relation has file_no, and file_offset, the ids the
    # files before it in the batch take) go to sources source_id + file_no.
    source = "$source + file_no" if many else "$source"
    sighting = "$base + file_offset + line" if many else "$base + line"
    # the row as the layout gave it (a canonical row without extra columns has no raw: its cells)
    cells = "coalesce(raw, to_json(struct_pack(txn_id, ts, payer, payee, amount, kind, status, channel, memo))::VARCHAR)"
    con.execute(f"INSERT INTO rejects SELECT {source}, line, {cells}, reason FROM ({typed}) WHERE reason IS NOT NULL", {"source": source_id})
    # Row order comes from the line numbers, not from storage order, so DuckDB may
    # insert in parallel without keeping it.
    with unordered(con):
        con.execute(
            f"""
            INSERT INTO sightings
            SELECT {sighting}, {source}, line, txn_id, match_id, packet_id, ts_cast, payer, payee, payer_name, payee_name,
                   amount_cast, coalesce(direction, 'both'), coalesce(kind, 'other'), coalesce(status, 'other'),
                   coalesce(channel, 'other'), memo, raw_type, raw_status, refund_ref, raw
            FROM ({typed}) WHERE reason IS NULL
            """,
            {"base": base_id, "source": source_id},
        )


# The views a sighting may have: the payer's export ('out', and 'neutral' moves of the
# holder's own money), the payee's ('in'), or both parties' (a canonical row, 'both').
VIEWS = ("out", "in", "neutral", "both")


def _sql_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")"


def reject_invalid(con, source_id: int, last_source: int | None = None) -> None:
    """Move this file's sightings that break the movement rules from `sightings` to
    `rejects`, with the reason. Checked after the bulk insert so that the common case,
    nothing wrong, costs one filtered scan."""
    reason = f"""
        CASE
          WHEN ts IS NULL THEN 'no transaction time'
          WHEN amount IS NULL THEN 'no amount'
          WHEN amount < 0 THEN 'negative amount (amounts are unsigned; the direction says who paid)'
          WHEN kind NOT IN {_sql_list(KINDS)} THEN 'unknown kind: ' || kind
          WHEN status NOT IN {_sql_list(STATUSES)} THEN 'unknown status: ' || status
          WHEN channel NOT IN {_sql_list(CHANNELS)} THEN 'unknown channel: ' || channel
          WHEN direction NOT IN {_sql_list(VIEWS)} THEN 'unknown direction (out, in, neutral or both)'
          WHEN payer IS NULL AND payee IS NULL THEN 'neither payer nor payee'
        END"""
    bad = con.execute(
        f"""
        INSERT INTO rejects
        SELECT source_id, line,
               coalesce(raw, to_json(struct_pack(txn_id, ts, payer, payee, amount, kind, status, channel))::VARCHAR),
               {reason}
        FROM sightings WHERE source_id BETWEEN ? AND ? AND ({reason}) IS NOT NULL
        """,
        [source_id, last_source or source_id],
    ).fetchall()[0][0]
    if bad:
        con.execute(f"DELETE FROM sightings WHERE source_id BETWEEN ? AND ? AND ({reason}) IS NOT NULL", [source_id, last_source or source_id])


def register_accounts(con, source_id: int, last_source: int | None = None) -> None:
    """Add the accounts and names this file shows to `accounts`, resolved to persons
    through the roster's aliases. Only new strings are normalised (in Python: NFKC
    is not a DuckDB function), so the work is per distinct account, not per row."""
    new = [
        r[0]
        for r in con.execute(
            """
            SELECT a FROM (
                -- a UNION per column, not unnest of a list per row: 7x faster at 1M rows
                SELECT payer AS a FROM sightings WHERE source_id BETWEEN $s AND $t
                UNION SELECT payee FROM sightings WHERE source_id BETWEEN $s AND $t
                UNION SELECT payer_name FROM sightings WHERE source_id BETWEEN $s AND $t
                UNION SELECT payee_name FROM sightings WHERE source_id BETWEEN $s AND $t
            ) WHERE a IS NOT NULL AND a NOT IN (SELECT account FROM accounts)
            ORDER BY a
            """,
            {"s": source_id, "t": last_source or source_id},
        ).fetchall()
    ]
    if not new:
        return
    con.execute(
        """
        INSERT INTO accounts
        SELECT n.account, n.norm, r.person_id
        FROM (SELECT unnest($accounts) AS account, unnest($norms) AS norm) n
        LEFT JOIN (SELECT norm, min(person_id) AS person_id FROM person_accounts
                   GROUP BY norm HAVING count(DISTINCT person_id) = 1) r ON r.norm = n.norm
        """,
        {"accounts": new, "norms": [normalize_account(a) or a for a in new]},
    )


def resolve_accounts(con) -> None:
    """Re-resolve every known account through the roster (after a roster load)."""
    con.execute(
        """
        UPDATE accounts a SET person_id = r.person_id
        FROM (SELECT a2.account, r.person_id FROM accounts a2
              LEFT JOIN (SELECT norm, min(person_id) AS person_id FROM person_accounts
                         GROUP BY norm HAVING count(DISTINCT person_id) = 1) r ON r.norm = a2.norm) r
        WHERE a.account = r.account
        """
    )
