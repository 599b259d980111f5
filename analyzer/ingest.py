"""`rpa ingest`: read export files into the case, once, whole, with provenance.

Each file goes through: detect the layout → parse it into movement rows (text) →
type and validate the rows in DuckDB → drop the movements the case already holds
(seen in another party's export, or the same file again) → insert, all inside one
DuckDB transaction, so a file loads whole or not at all.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from pathlib import Path
from types import ModuleType

import duckdb

from analyzer import __version__
from analyzer.errors import FormatError, RpaError
from analyzer.formats import canonical
from analyzer.formats.base import (
    CHANNELS,
    KINDS,
    MOVEMENT_COLUMNS,
    STATUSES,
    Parsed,
    display_path,
    normalize_account,
)
from analyzer.params import literal
from analyzer.pause import pause_point

# Layouts tried in this order when sniffing; the first that recognises a file wins.
# Names are what `--format` accepts.
FORMAT_MODULES = {
    "canonical": "analyzer.formats.canonical",  # first: its sniff is strict and it needs no pandas
    "tenpay": "analyzer.formats.tenpay",
    "wechat": "analyzer.formats.wechat",
    "alipay": "analyzer.formats.alipay",
}
LAYOUTS_TRIED = "WeChat Pay bill (CSV/XLSX), Alipay bill (3 CSV layouts), Tenpay TenpayTrades.txt, rpa canonical CSV/Parquet"
HEAD_BYTES = 64 * 1024
MATCH_SECONDS = 120  # movements seen from both sides match within this many seconds
SKIP_NAMES = {"rpa.duckdb", "rpa.duckdb.wal", "rpa.toml"}
# In a folder walk, files with these suffixes are never exports (scripts, notes, reports).
SKIP_SUFFIXES = {".py", ".md", ".toml", ".html", ".json", ".duckdb", ".wal", ".log", ".gitkeep", ".pdf", ".png"}


@dataclass
class FileResult:
    """What happened to one file."""

    path: Path
    name: str
    status: str  # loaded | already | unknown | error
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


def format_module(name: str) -> ModuleType:
    """The parser module for a `--format` name."""
    if name not in FORMAT_MODULES:
        raise RpaError(f"unknown format {name!r}: choose one of {', '.join(FORMAT_MODULES)}")
    return import_module(FORMAT_MODULES[name])


def display_name(path: Path) -> str:
    """A path for people: folder names that are GBK bytes (Tenpay productions unpacked
    on Chinese Windows) are shown decoded instead of as mojibake."""
    return display_path(path)


def collect_files(paths: Iterable[Path]) -> list[tuple[Path, bool]]:
    """Expand folders into the files under them (sorted, hidden files skipped).

    Returns (file, explicit): explicit files were named on the command line; files
    found in a folder that match no layout are skipped rather than refused.
    """
    out: list[tuple[Path, bool]] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in sorted(files):
                    if f.startswith(".") or f in SKIP_NAMES or Path(f).suffix.lower() in SKIP_SUFFIXES:
                        continue
                    out.append((Path(root) / f, False))
        elif p.exists():
            out.append((p, True))
        else:
            raise RpaError(f"{display_name(p)}: no such file or folder")
    return out


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def detect(path: Path, head: bytes) -> str | None:
    """The name of the first layout whose sniff recognises the file, else None."""
    for name in FORMAT_MODULES:
        try:
            if format_module(name).sniff(path, head):
                return name
        except Exception:  # a sniff must never stop detection of the other layouts
            continue
    return None


def ingest_paths(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[Path],
    *,
    format: str | None = None,
    owner: str | None = None,
    on_file: Callable[[int, int, str], None] | None = None,
    actor: str | None = None,
) -> list[FileResult]:
    """Ingest files and folders; one transaction per file. `on_file(i, n, name)` is
    called before each file (for a progress bar); `actor` is who ingests (audit log)."""
    files = collect_files(paths)
    results = []
    for i, (path, explicit) in enumerate(files):
        name = display_name(path)

        def stage(what: str, i=i, name=name) -> None:
            if on_file:
                on_file(i, len(files), f"{Path(name).name} · {what}")

        stage("reading")
        results.append(ingest_file(con, path, format=format, owner=owner, explicit=explicit, on_stage=stage, actor=actor))
    return results


class _Digest:
    """The SHA-256 of a file, computed on a thread (hashlib releases the GIL) while the
    file is parsed and loaded."""

    def __init__(self, path: Path):
        self._result: tuple[str, int] | BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), name="rpa-sha256", daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self._result = file_digest(path)
        except BaseException as exc:  # noqa: BLE001 (handed over by result())
            self._result = exc

    def result(self) -> tuple[str, int]:
        """(sha256 hex, size); raises what the hashing raised (OSError)."""
        self._thread.join()
        if isinstance(self._result, BaseException):
            raise self._result
        return self._result  # type: ignore[return-value]


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    format: str | None = None,
    owner: str | None = None,
    explicit: bool = True,
    on_stage: Callable[[str], None] | None = None,
    actor: str | None = None,
) -> FileResult:
    """Ingest one file, whole or not at all, with its audit log entry (by `actor`,
    default the OS user). `on_stage(name)` hears each step begin."""
    name = display_name(path)
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
        size = os.stat(path).st_size
    except OSError as exc:
        return FileResult(path, name, "error", message=f"{name}: cannot read ({exc.strerror})")

    # A file already ingested (same SHA-256) adds nothing. Only a stored source of the
    # same size can be the same file: then hash first and check; otherwise the hash is
    # computed while the file loads.
    if con.execute("SELECT count(*) FROM sources WHERE size = ?", [size]).fetchall()[0][0]:
        try:
            sha, size = file_digest(path)
        except OSError as exc:
            return FileResult(path, name, "error", message=f"{name}: cannot read ({exc.strerror})")
        known = con.execute("SELECT source_id FROM sources WHERE sha256 = ?", [sha]).fetchall()
        if known:
            return FileResult(path, name, "already", source_id=known[0][0], message=f"{name}: already ingested as source {known[0][0]}; nothing added")
        digest: Callable[[], tuple[str, int]] = lambda: (sha, size)
    else:
        digest = _Digest(path).result

    fmt = format or detect(path, head)
    if fmt is None:
        if explicit:
            return FileResult(path, name, "unknown", message=f"{name}: no known layout (tried {LAYOUTS_TRIED})")
        return FileResult(path, name, "unknown", message=f"{name}: skipped, no known layout")
    module = format_module(fmt)

    memory_before = _cap_memory(con) if getattr(module, "CAP_MEMORY", False) else None
    try:
        staged = None
        if hasattr(module, "stage"):
            # Streamed into temporary tables before the transaction begins: nothing
            # persistent is touched, and DuckDB lets go of each piece once it is in.
            try:
                staged = module.stage(con, path, owner=owner)
            except FormatError as exc:
                return FileResult(path, name, "error", format=fmt, message=str(exc))
        con.execute("BEGIN TRANSACTION")
        try:
            result, sha, size = _load(con, path, name, head, fmt, module, owner, digest, staged, on_stage or (lambda _: None))
            _audit_ingest(con, result, sha, size, actor)
            pause_point("ingest.before_commit")
            if on_stage:
                on_stage("committing")
            con.execute("COMMIT")
            return result
        except FormatError as exc:
            con.execute("ROLLBACK")
            return FileResult(path, name, "error", format=fmt, message=str(exc))
        except OSError as exc:  # the file went away while it was hashed
            con.execute("ROLLBACK")
            return FileResult(path, name, "error", format=fmt, message=f"{name}: cannot read ({exc.strerror})")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        for table in ("stage", "typed", "cand", "old", "matched"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        if hasattr(module, "drop_staged"):
            module.drop_staged(con)
        if memory_before is not None:
            con.execute(f"SET memory_limit = '{memory_before}'")


# A file whose parser module sets CAP_MEMORY (Tenpay) streams through DuckDB: its
# temporary tables fill whatever memory DuckDB may use before they spill, and the load
# gains nothing from more than this (measured: 2M rows as fast at 400 MB as at 768 MB).
# Capped while such a file loads, so that the process stays under 1 GB whatever the
# file's size.
STAGED_MEMORY_LIMIT = 400 * 2**20


def _cap_memory(con) -> str | None:
    """Lower DuckDB's memory limit to STAGED_MEMORY_LIMIT if it is higher; returns the
    setting to restore (None when left as it was): the case's configured limit, exactly
    as db.connect set it (DuckDB shows it rounded)."""
    from analyzer.db import DEFAULT_MEMORY_LIMIT

    size = _bytes(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
    if size is None or size <= STAGED_MEMORY_LIMIT:
        return None
    configured = os.environ.get("RPA_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
    con.execute(f"SET memory_limit = '{STAGED_MEMORY_LIMIT // 2**20}MB'")
    return configured.replace("'", "")


def _bytes(setting: str) -> int | None:
    """'732.4 MiB' → bytes (DuckDB's way of showing a size); None if not such a text."""
    units = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
    number, _, unit = setting.strip().partition(" ")
    try:
        return int(float(number) * units[unit])
    except (ValueError, KeyError):
        return None


def _audit_ingest(con, result: FileResult, sha: str, size: int, actor: str | None) -> None:
    """The audit log entry of a loaded file, in the file's own transaction."""
    from analyzer.audit import append, record_source_digest

    path = con.execute("SELECT path FROM sources WHERE source_id = ?", [result.source_id]).fetchall()[0][0]
    append(
        con,
        "ingest",
        {
            "source_id": result.source_id, "path": path, "name": result.name.split("/")[-1], "sha256": sha, "size": size,
            "format": result.format, "owner": result.owner, "rows_read": result.rows_read, "loaded": result.loaded,
            "duplicates": result.duplicate, "rejected": result.rejected, "first_ts": result.first_ts,
            "last_ts": result.last_ts, "rpa_version": __version__,
            "digest": record_source_digest(con, result.source_id),  # what `rpa verify` checks the rows against
        },
        actor,
    )


def _load(con, path, name, head, fmt, module, owner, digest, staged, stage: Callable[[str], None]) -> tuple[FileResult, str, int]:
    """Load one file inside the open transaction; returns the result and the file's
    SHA-256 and size (from `digest()`, which may still be running)."""
    source_id = con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM sources").fetchall()[0][0]
    base_id = con.execute("SELECT coalesce(max(id), 0) FROM transactions").fetchall()[0][0]
    if fmt == "canonical":
        # Typed by DuckDB's reader: no text pass in between.
        rows_read, parse_rejects = canonical.load_into(con, path, staged, source_id, base_id)
        parsed = staged or Parsed(format="canonical_parquet", owner=owner, rows=None)
        encoding = parsed.encoding
    elif staged is not None:
        # Staged by the module into DuckDB temporary tables: the file never sits whole
        # in Python.
        parsed = staged
        _insert_rows(con, parsed.rows_table, source_id, base_id)
        con.execute(f"INSERT INTO rejects SELECT $s, line, raw, reason FROM {parsed.rejects_table}", {"s": source_id})
        rows_read = parsed.rows_read
        parse_rejects = []
        encoding = parsed.encoding
    else:
        try:
            parsed = module.parse(path, owner=owner)
        except FormatError:
            raise
        except (UnicodeDecodeError, ValueError, KeyError, IndexError, OSError) as exc:
            raise FormatError(f"{name}: cannot be read as {fmt} ({type(exc).__name__}: {str(exc)[:120]})") from None
        if parsed.owner is None and fmt in ("wechat", "alipay") and len(parsed.rows):
            raise FormatError(f"{name}: the file does not name its account holder; pass --owner NAME")
        _insert_parsed(con, parsed.rows, source_id, base_id)
        rows_read = parsed.rows_read or (len(parsed.rows) + len(parsed.rejects))
        parse_rejects = [(r.line, r.raw, r.reason) for r in parsed.rejects]
        encoding = parsed.encoding

    stage("checking")
    if parse_rejects:
        con.executemany(
            "INSERT INTO rejects VALUES (?, ?, ?, ?)", [(source_id, line, raw, reason) for line, raw, reason in parse_rejects]
        )
    _reject_invalid(con, source_id)
    _register_accounts(con, source_id)
    resolve_persons(con, source_id)
    stage("matching")
    matched = _dedupe(con, source_id, canonical.REPEATS if fmt == "canonical" and staged is not None else None)
    _link(con, source_id)

    loaded, first_ts, last_ts = con.execute(
        "SELECT count(*), min(ts), max(ts) FROM transactions WHERE source_id = ?", [source_id]
    ).fetchall()[0]
    rejected = con.execute("SELECT count(DISTINCT line) FROM rejects WHERE source_id = ?", [source_id]).fetchall()[0][0]
    sha, size = digest()
    con.execute(
        "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            source_id,
            display_name(path.resolve()),
            name.split("/")[-1],
            sha,
            size,
            parsed.format,
            encoding,
            parsed.owner,
            parsed.owner_name,
            parsed.period_start,
            parsed.period_end,
            rows_read,
            loaded,
            matched,
            rejected,
            first_ts,
            last_ts,
            datetime.now().replace(microsecond=0),
            __version__,
        ],
    )
    result = FileResult(
        path,
        name,
        "loaded",
        format=parsed.format,
        owner=parsed.owner,
        rows_read=rows_read,
        loaded=loaded,
        duplicate=matched,
        rejected=rejected,
        first_ts=first_ts,
        last_ts=last_ts,
        source_id=source_id,
    )
    return result, sha, size


def _insert_parsed(con, rows, source_id: int, base_id: int) -> None:
    """Parser rows (a DataFrame of text) → transactions, through _insert_rows."""
    rows = rows[list(MOVEMENT_COLUMNS)]
    con.register("parsed_rows", rows)
    try:
        text = ",\n".join(
            f"nullif(trim(CAST({c} AS VARCHAR)), '') AS {c}" for c in MOVEMENT_COLUMNS if c != "line"
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE stage AS SELECT CAST(line AS BIGINT) AS line, {text} FROM parsed_rows")
    finally:
        con.unregister("parsed_rows")
    _insert_rows(con, "stage", source_id, base_id)


def _insert_rows(con, relation: str, source_id: int, base_id: int) -> None:
    """Movement rows (MOVEMENT_COLUMNS, text, NULL for empty) of a DuckDB relation →
    transactions, casting time and amount set-wise. Rows whose time or amount does not
    cast go to `rejects` with the reason instead. The relation is read twice (rejects,
    then rows) rather than copied: a staged Tenpay file can be millions of rows."""
    typed = rf"""
        SELECT *,
               CASE WHEN ts_cast IS NULL AND ts IS NULL THEN 'no transaction time'
                    WHEN ts_cast IS NULL THEN 'time does not parse: ' || ts
                    WHEN amount_cast IS NULL AND amount IS NULL THEN 'no amount'
                    WHEN amount_cast IS NULL THEN 'amount does not parse: ' || amount END AS reason
        FROM (
            SELECT *,
                   try_strptime(ts, ['%Y-%m-%d %H:%M:%S', '%Y/%m/%d %H:%M:%S', '%Y-%m-%d %H:%M', '%Y/%m/%d %H:%M']) AS ts_cast,
                   CASE WHEN regexp_full_match(amount, '\d{{1,16}}(\.\d{{1,2}})?') THEN CAST(amount AS DECIMAL(18,2)) END AS amount_cast
            FROM {relation}
        )
    """
    con.execute(f"INSERT INTO rejects SELECT ?, line, raw, reason FROM ({typed}) WHERE reason IS NOT NULL", [source_id])
    # Row order comes from the line numbers, not from storage order, so DuckDB may
    # insert in parallel without keeping it.
    con.execute("SET preserve_insertion_order = false")
    try:
        con.execute(
            f"""
            INSERT INTO transactions
            SELECT ? + line, txn_id, match_id, packet_id, ts_cast, payer, payee, payer_name, payee_name,
                   amount_cast, coalesce(kind, 'other'), coalesce(status, 'other'), coalesce(channel, 'other'),
                   memo, raw_type, raw_status, refund_ref, NULL,
                   {SEEN_BY_PAYER.format(d='direction')}, {SEEN_BY_PAYEE.format(d='direction')},
                   ?, line, raw, NULL, NULL
            FROM ({typed}) WHERE reason IS NULL
            """,
            [base_id, source_id],
        )
    finally:
        con.execute("RESET preserve_insertion_order")


# Which side's export a row comes from, from its direction: the payer's export shows
# 'out' (and 'neutral' moves of the holder's own money), the payee's 'in'; a canonical
# row ('both', or no direction) speaks for both sides. An unknown direction gives NULL,
# which _reject_invalid turns into a reject.
SEEN_BY_PAYER = "CASE WHEN {d} IS NULL OR {d} IN ('out', 'neutral', 'both') THEN true WHEN {d} = 'in' THEN false END"
SEEN_BY_PAYEE = "CASE WHEN {d} IS NULL OR {d} IN ('in', 'both') THEN true WHEN {d} IN ('out', 'neutral') THEN false END"


def _sql_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")"


def _reject_invalid(con, source_id: int) -> None:
    """Move this file's rows that break the movement rules from `transactions` to
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
          WHEN seen_by_payer IS NULL OR seen_by_payee IS NULL THEN 'unknown direction (out, in, neutral or both)'
          WHEN payer IS NULL AND payee IS NULL THEN 'neither payer nor payee'
        END"""
    bad = con.execute(
        f"""
        INSERT INTO rejects
        SELECT source_id, line,
               coalesce(raw, to_json(struct_pack(txn_id, ts, payer, payee, amount, kind, status, channel))::VARCHAR),
               {reason}
        FROM transactions WHERE source_id = ? AND ({reason}) IS NOT NULL
        """,
        [source_id],
    ).fetchall()[0][0]
    if bad:
        con.execute(f"DELETE FROM transactions WHERE source_id = ? AND ({reason}) IS NOT NULL", [source_id])


def _register_accounts(con, source_id: int) -> None:
    """Add the accounts and names this file shows to `accounts`, resolved to persons
    through the roster's aliases. Only new strings are normalised (in Python: NFKC
    is not a DuckDB function), so the work is per distinct account, not per row."""
    new = [
        r[0]
        for r in con.execute(
            """
            SELECT a FROM (
                -- a UNION per column, not unnest of a list per row: 7x faster at 1M rows
                SELECT payer AS a FROM transactions WHERE source_id = $s
                UNION SELECT payee FROM transactions WHERE source_id = $s
                UNION SELECT payer_name FROM transactions WHERE source_id = $s
                UNION SELECT payee_name FROM transactions WHERE source_id = $s
            ) WHERE a IS NOT NULL AND a NOT IN (SELECT account FROM accounts)
            ORDER BY a
            """,
            {"s": source_id},
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


# The party a movement's payer or payee is: the person when the roster resolves the
# account or the name, else the normalised account. Used to match the two sides.
_PARTY_KEYS = """
    coalesce(pa.person_id, pn.person_id, pa.norm) AS payer_key,
    coalesce(qa.person_id, qn.person_id, qa.norm) AS payee_key
"""
_PARTY_JOINS = """
    LEFT JOIN accounts pa ON pa.account = t.payer
    LEFT JOIN accounts pn ON pn.account = t.payer_name
    LEFT JOIN accounts qa ON qa.account = t.payee
    LEFT JOIN accounts qn ON qn.account = t.payee_name
"""


def _dedupe(con, source_id: int, repeats: str | None = None) -> int:
    """Take out of `transactions` the rows of this file that the case already held,
    recording each in `duplicates`; returns how many. `repeats` names a relation of
    the txn_ids the file holds more than once, when the parser found them already.

    Three ways, in order, each one-to-one:
    1. the same row twice in this file (same ids, time, parties, amount);
    2. a shared id (txn_id, or match_id that both sides carry) with the same amount
       and no contradicting party;
    3. another export of the same movement: same payer, payee and amount, times within
       MATCH_SECONDS, and the stored movement not yet seen from this side — or seen from
       it only through another channel (a WeChat bill and a Tenpay production of one
       account show the same packets; one bill never shows a packet twice).
    """
    # 1. Only rows whose txn_id repeats within the file can be the same row twice. The
    # file's rows are grouped on a hash of the id (a number groups faster and in less
    # memory than text; a collision only adds a candidate that the exact partition
    # below then tells apart).
    repeats = repeats or """(SELECT txn_id FROM transactions WHERE source_id = $s AND hash(txn_id) IN (
        SELECT hash(txn_id) FROM transactions WHERE source_id = $s AND txn_id IS NOT NULL GROUP BY ALL HAVING count(*) > 1))"""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE matched AS
        SELECT id AS new_id, first_id AS old_id, 'same row' AS how FROM (
            SELECT id, first_value(id) OVER (PARTITION BY txn_id, match_id, ts, payer, payee, amount, seen_by_payer, seen_by_payee, kind ORDER BY id) AS first_id
            FROM transactions
            WHERE source_id = $s AND txn_id IN (SELECT txn_id FROM {repeats})
        ) WHERE id <> first_id
        """,
        {"s": source_id},
    )
    # Stored movements that could match: bounded by time and amount to this file's rows,
    # so the work stays proportional to the file, not to the case.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE old AS
        SELECT t.id, t.txn_id, t.match_id, t.ts, t.amount, t.channel, t.seen_by_payer, t.seen_by_payee, {_PARTY_KEYS}
        FROM transactions t {_PARTY_JOINS}
        WHERE t.source_id <> $s
          AND t.ts BETWEEN (SELECT min(ts) - INTERVAL 2 DAY FROM transactions WHERE source_id = $s)
                       AND (SELECT max(ts) + INTERVAL 2 DAY FROM transactions WHERE source_id = $s)
          AND t.amount IN (SELECT DISTINCT amount FROM transactions WHERE source_id = $s)
        """,
        {"s": source_id},
    )
    if con.execute("SELECT count(*) FROM old").fetchall()[0][0]:
        _match_stored(con, source_id)
    count = con.execute("SELECT count(*) FROM matched").fetchall()[0][0]
    if count:
        _record_duplicates(con, source_id)
    con.execute("DROP TABLE IF EXISTS old; DROP TABLE IF EXISTS cand")
    return count


def _match_stored(con, source_id: int) -> None:
    """Steps 2 and 3 of _dedupe: pair this file's rows with stored movements."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE cand AS
        SELECT t.id, t.txn_id, t.match_id, t.ts, t.amount, t.channel, t.seen_by_payer, t.seen_by_payee, {_PARTY_KEYS}
        FROM transactions t {_PARTY_JOINS}
        WHERE t.source_id = ? AND t.id NOT IN (SELECT new_id FROM matched)
        """,
        [source_id],
    )
    compatible = """
        (c.payer_key IS NULL OR o.payer_key IS NULL OR c.payer_key = o.payer_key)
        AND (c.payee_key IS NULL OR o.payee_key IS NULL OR c.payee_key = o.payee_key)
    """
    con.execute(
        f"""
        INSERT INTO matched
        WITH pairs AS (
            SELECT c.id AS new_id, o.id AS old_id FROM cand c JOIN old o ON c.txn_id = o.txn_id AND c.amount = o.amount
            WHERE {compatible}
            UNION
            SELECT c.id, o.id FROM cand c JOIN old o ON c.match_id = o.match_id AND c.amount = o.amount
            WHERE {compatible}
        )
        SELECT new_id, old_id, 'shared id' FROM pairs
        QUALIFY row_number() OVER (PARTITION BY new_id ORDER BY old_id) = 1
            AND row_number() OVER (PARTITION BY old_id ORDER BY new_id) = 1
        """
    )
    # Mirror sightings: pair rows and stored movements that are each other's nearest
    # in time, in rounds, so that five 200-yuan packets a minute apart pair one to one.
    for _ in range(10):
        added = con.execute(
            f"""
            INSERT INTO matched
            WITH pairs AS (
                SELECT c.id AS new_id, o.id AS old_id, abs(epoch(c.ts) - epoch(o.ts)) AS gap
                FROM cand c JOIN old o
                  ON c.payer_key = o.payer_key AND c.payee_key = o.payee_key AND c.amount = o.amount
                 AND o.ts BETWEEN c.ts - INTERVAL {MATCH_SECONDS} SECOND AND c.ts + INTERVAL {MATCH_SECONDS} SECOND
                WHERE ((NOT c.seen_by_payer AND c.seen_by_payee AND (NOT o.seen_by_payee OR o.channel <> c.channel))
                       OR (c.seen_by_payer AND NOT c.seen_by_payee AND (NOT o.seen_by_payer OR o.channel <> c.channel)))
                  AND c.id NOT IN (SELECT new_id FROM matched)
                  AND o.id NOT IN (SELECT old_id FROM matched)
            ),
            best AS (
                SELECT *,
                       row_number() OVER (PARTITION BY new_id ORDER BY gap, old_id) AS r_new,
                       row_number() OVER (PARTITION BY old_id ORDER BY gap, new_id) AS r_old
                FROM pairs
            )
            SELECT new_id, old_id, 'parties+amount+time' FROM best WHERE r_new = 1 AND r_old = 1
            """
        ).fetchall()[0][0]
        if not added:
            break


def _record_duplicates(con, source_id: int) -> None:
    """Move matched rows of this file out of `transactions` into `duplicates` (keeping
    their provenance), and note on the stored movement which side has now shown it,
    and the ids it lacked."""
    con.execute(
        """
        INSERT INTO duplicates
        SELECT n.source_id, n.line, m.old_id, m.how, n.raw
        FROM matched m JOIN transactions n ON n.id = m.new_id
        """
    )
    con.execute(
        """
        UPDATE transactions t SET
            seen_by_payer = t.seen_by_payer OR n.seen_by_payer,
            seen_by_payee = t.seen_by_payee OR n.seen_by_payee,
            match_id = coalesce(t.match_id, n.match_id),
            packet_id = coalesce(t.packet_id, n.packet_id),
            -- the sender's side knows a share belongs to a group packet; the grabber's does not
            kind = CASE WHEN n.kind = 'group_red_packet' AND t.kind = 'red_packet' THEN n.kind ELSE t.kind END,
            payer_name = coalesce(t.payer_name, n.payer_name),
            payee_name = coalesce(t.payee_name, n.payee_name),
            memo = coalesce(t.memo, n.memo)
        FROM matched m JOIN transactions n ON n.id = m.new_id
        WHERE t.id = m.old_id AND m.how <> 'same row'
        """
    )
    con.execute("DELETE FROM transactions WHERE id IN (SELECT new_id FROM matched)")


def _link(con, source_id: int) -> None:
    """Set-wise links made after each file: grabbed shares of a group red packet join
    their packet, and refunds point at the movement they give back."""
    # A receiver's bill shows a grabbed share as a plain 微信红包 row whose shared id
    # is the sender's group packet id.
    con.execute(
        """
        UPDATE transactions t SET packet_id = g.packet_id, kind = 'group_red_packet'
        FROM (SELECT DISTINCT packet_id FROM transactions WHERE kind = 'group_red_packet' AND packet_id IS NOT NULL) g
        WHERE t.kind = 'red_packet' AND t.packet_id IS NULL AND t.match_id = g.packet_id
        """
    )
    # Most files add no refund and the case holds none unlinked: skip the two joins.
    if not con.execute("SELECT count(*) FROM transactions WHERE kind = 'refund' AND refund_of IS NULL").fetchall()[0][0]:
        return
    # Refund → original: first by the id the refund names, then by the nearest earlier
    # movement from the refund's receiver to its sender (money going back) of at least
    # the refunded amount within 30 days.
    con.execute(
        """
        UPDATE transactions t SET refund_of = o.id
        FROM (
            SELECT r.id AS rid, min(o.id) AS id
            FROM transactions r JOIN transactions o
              ON o.kind <> 'refund' AND (o.txn_id = r.refund_ref OR o.match_id = r.refund_ref)
            WHERE r.kind = 'refund' AND r.refund_of IS NULL AND r.refund_ref IS NOT NULL
            GROUP BY r.id
        ) o
        WHERE t.id = o.rid
        """
    )
    con.execute(
        """
        UPDATE transactions t SET refund_of = m.id
        FROM (
            SELECT r.id AS rid, arg_max(o.id, o.ts) AS id
            FROM transactions r JOIN transactions o
              ON o.payer = r.payee AND o.channel = r.channel AND o.kind <> 'refund'
             AND o.amount >= r.amount AND o.ts <= r.ts AND o.ts >= r.ts - INTERVAL 30 DAY
            WHERE r.kind = 'refund' AND r.refund_of IS NULL AND r.source_id = ?
              AND (o.payee IS NULL OR r.payer IS NULL OR o.payee = r.payer OR o.status IN ('refunded', 'partly_refunded', 'returned'))
            GROUP BY r.id
        ) m
        WHERE t.id = m.rid
        """,
        [source_id],
    )


def resolve_persons(con, source_id: int | None = None) -> None:
    """Store in transactions the persons their payer and payee resolve to (through the
    account, else the name beside it): for one source after its ingest, or for all
    after a roster load. Touches only rows whose resolution changes."""
    where = "" if source_id is None else "AND t.source_id = $source"
    params = {} if source_id is None else {"source": source_id}
    if source_id is not None and not con.execute("SELECT count(*) FROM accounts WHERE person_id IS NOT NULL").fetchall()[0][0]:
        return  # no roster yet: nothing can resolve
    con.execute(
        f"""
        UPDATE transactions t SET payer_person = r.payer_person, payee_person = r.payee_person
        FROM (
            SELECT t.id, coalesce(pa.person_id, pn.person_id) AS payer_person, coalesce(qa.person_id, qn.person_id) AS payee_person
            FROM transactions t
            LEFT JOIN accounts pa ON pa.account = t.payer
            LEFT JOIN accounts pn ON pn.account = t.payer_name
            LEFT JOIN accounts qa ON qa.account = t.payee
            LEFT JOIN accounts qn ON qn.account = t.payee_name
            WHERE true {where}
        ) r
        WHERE t.id = r.id {where}
          AND (t.payer_person IS DISTINCT FROM r.payer_person OR t.payee_person IS DISTINCT FROM r.payee_person)
        """,
        params,
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
