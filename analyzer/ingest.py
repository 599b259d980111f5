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
from analyzer.errors import FormatError, ParserBug, RpaError
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
from analyzer.consolidate import consolidate, is_stale, mark_stale
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
SKIP_NAMES = {"rpa.duckdb", "rpa.duckdb.wal", "rpa.toml"}
# In a folder walk, files with these suffixes are never exports (scripts, notes, reports).
SKIP_SUFFIXES = {".py", ".md", ".toml", ".html", ".json", ".duckdb", ".wal", ".log", ".gitkeep", ".pdf", ".png"}
# In a folder walk, a file of these suffixes that no layout recognises may be an export
# rpa cannot read (a damaged file, a new layout): it is listed and the ingest exits 1.
EXPORT_SUFFIXES = {".csv", ".xlsx", ".xls", ".txt", ".parquet"}


@dataclass
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


# rpa's own inputs that are not exports, known by the columns of their header: the
# roster, its relations, backtest labels (a folder of exports often holds them beside:
# sample_data, the worlds `rpa synth` writes).
RPA_INPUT_COLUMNS = ({"person_id", "name", "accounts"}, {"person_id", "other_id", "relation"}, {"case_id", "subject", "txn_ids"})


def looks_like_export(path: Path) -> bool:
    """Whether a file that no layout recognised may still be an export (EXPORT_SUFFIXES).
    Not so the registration files a Tenpay production holds beside each
    TenpayTrades.txt (TenpayRegInfo.txt), nor rpa's own roster, relations and labels
    files (RPA_INPUT_COLUMNS): they hold no movements."""
    path = Path(path)
    if path.suffix.lower() not in EXPORT_SUFFIXES or path.name.casefold().startswith("tenpayreginfo"):
        return False
    try:
        with open(path, "rb") as f:
            first = f.read(4096).decode("utf-8-sig", "replace").splitlines()[:1]
    except OSError:
        return True
    columns = {c.strip().strip('"') for c in first[0].split(",")} if first else set()
    return not any(known <= columns for known in RPA_INPUT_COLUMNS)


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
    """The name of the first layout whose sniff recognises the file, else None.

    A sniff answers for its layout only by True or False: one that crashes is a bug in
    rpa, raised as ParserBug (naming the layout and the file), never taken for "not this
    layout"."""
    for name in FORMAT_MODULES:
        try:
            if format_module(name).sniff(path, head):
                return name
        except Exception as exc:
            raise ParserBug(name, "sniff", display_name(path), exc) from exc
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
    if is_stale(con):  # an earlier ingest stopped between loading files and deriving movements
        derive_movements(con)
    # Small Tenpay files (a production is thousands, one per account) load many at a
    # time; every other file alone. Each file is still whole or not at all.
    batch: list[tuple[Path, str]] = []

    def flush(done: int) -> None:
        if batch:
            def progress(what: str) -> None:
                if on_file:
                    on_file(done, len(files), f"{len(batch)} Tenpay files · {what}")

            try:
                results.extend(_ingest_tenpay_batch(con, batch, owner=owner, actor=actor, progress=progress))
            except Exception:  # noqa: BLE001
                # A crash while loading the batch (rolled back whole): each file alone,
                # so that only the file at fault is reported, as a bug.
                results.extend(ingest_file(con, p, format="tenpay", owner=owner, explicit=False, actor=actor) for p, _ in batch)
            batch.clear()

    for i, (path, explicit) in enumerate(files):
        name = display_name(path)

        def stage(what: str, i=i, name=name) -> None:
            if on_file:
                on_file(i, len(files), f"{Path(name).name} · {what}")

        if format in (None, "tenpay") and _batchable(path, format):
            batch.append((path, name))
            if len(batch) >= BATCH_FILES:
                flush(i)
            continue
        stage("reading")
        results.append(ingest_file(con, path, format=format, owner=owner, explicit=explicit, on_stage=stage, actor=actor))
    flush(len(files))
    if any(r.status == "loaded" for r in results):
        if on_file:
            on_file(len(files), len(files), "matching the movements")
        derive_movements(con, [r.source_id for r in results if r.status == "loaded"])
        counts = dict(
            ((r[0], (r[1], r[2])) for r in con.execute(
                "SELECT source_id, rows_loaded, rows_duplicate FROM sources WHERE source_id >= ?",
                [min(r.source_id for r in results if r.status == "loaded")],
            ).fetchall())
        )
        for r in results:
            if r.status == "loaded" and r.source_id in counts:
                r.loaded, r.duplicate = counts[r.source_id]
    return results


# Files loaded in one transaction when small Tenpay files come many at a time: enough
# to spread a transaction's fixed cost, few enough that a stopped ingest loses little.
BATCH_FILES = 500


def _batchable(path: Path, format: str | None) -> bool:
    """A Tenpay trades file small enough to be staged with others."""
    name = path.name.casefold()  # tenpay.is_trades_file, without importing numpy and pyarrow for other files
    if not (name.startswith("tenpaytrades") and name.endswith(".txt")):
        return False
    from analyzer.formats import tenpay

    try:
        if os.stat(path).st_size > tenpay.SMALL_FILE_BYTES:
            return False
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError:
        return False
    if format == "tenpay":
        return True
    try:
        return detect(path, head) == "tenpay"
    except ParserBug:
        return False  # loaded alone, where the crash is reported


def _ingest_tenpay_batch(
    con, items: list[tuple[Path, str]], *, owner: str | None, actor: str | None, progress: Callable[[str], None] = lambda _: None
) -> list[FileResult]:
    """Load small Tenpay files together: staged by one set of statements
    (tenpay.stage_many) before the transaction, then inserted, checked, registered and
    logged in one transaction for all of them. A file that cannot be read is reported
    and does not stop the others; a file already in the case adds nothing."""
    from analyzer.audit import append_many, record_source_digests
    from analyzer.db import transaction
    from analyzer.formats import tenpay

    span = tenpay.FILE_SPAN
    memory_before = _cap_memory(con) if tenpay.CAP_MEMORY else None
    try:
        progress("reading")
        staged = tenpay.stage_many(con, [p for p, _ in items], owner=owner)
        progress("loading")
        shas = [f.sha256 for f in staged if f.sha256]
        known = dict(con.execute("SELECT sha256, source_id FROM sources WHERE sha256 IN (SELECT unnest(?))", [shas]).fetchall()) if shas else {}
        results: list[FileResult] = []
        good: list[tuple[tenpay.StagedFile, FileResult]] = []
        first_of: dict[str, str] = {}
        for f, (path, name) in zip(staged, items):
            if f.error is not None:
                results.append(FileResult(path, name, "error", format="tenpay", message=f.error))
            elif f.sha256 in known:
                results.append(FileResult(path, name, "already", source_id=known[f.sha256],
                                          message=f"{name}: already ingested as source {known[f.sha256]}; nothing added"))
            elif f.sha256 in first_of:
                results.append(FileResult(path, name, "already", message=f"{name}: the same file as {first_of[f.sha256]}; nothing added"))
            else:
                first_of[f.sha256] = name
                result = FileResult(path, name, "loaded", format=f.parsed.format, owner=f.parsed.owner, rows_read=f.parsed.rows_read)
                results.append(result)
                good.append((f, result))
        if not good:
            return results
        lines = dict(con.execute(f"SELECT line // {span}, max(line % {span}) FROM {tenpay.STAGE} GROUP BY ALL").fetchall())
        with transaction(con):
            first = con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM sources").fetchall()[0][0]
            last = first + len(good) - 1
            base = _next_sighting_base(con)
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
                    FROM {tenpay.ROWS} r JOIN batch_files b ON b.file_no = r.line // {span}"""
            )
            _insert_rows(con, "batch_rows", first, base, many=True)
            con.execute(
                f"""INSERT INTO rejects SELECT $first + b.k, r.line % {span}, r.raw, r.reason
                    FROM {tenpay.REJECTS} r JOIN batch_files b ON b.file_no = r.line // {span}""",
                {"first": first},
            )
            _reject_invalid(con, first, last)
            _register_accounts(con, first, last)
            mark_stale(con)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('last_sighting_id', ?)", [str(base + offset)])
            stats = {r[0]: r[1:] for r in con.execute(
                "SELECT source_id, count(*), min(ts), max(ts) FROM sightings WHERE source_id BETWEEN ? AND ? GROUP BY ALL", [first, last]
            ).fetchall()}
            rejected = dict(con.execute(
                "SELECT source_id, count(DISTINCT line) FROM rejects WHERE source_id BETWEEN ? AND ? GROUP BY ALL", [first, last]
            ).fetchall())
            now = datetime.now().replace(microsecond=0)
            rows, entries = [], []
            for f, result in good:
                result.loaded, result.first_ts, result.last_ts = stats.get(result.source_id, (0, None, None))
                result.rejected = rejected.get(result.source_id, 0)
                path = display_name(f.path.resolve())
                p = f.parsed
                rows.append((result.source_id, path, result.name.split("/")[-1], f.sha256, f.size, p.format, p.encoding, p.owner,
                             p.owner_name, None, None, p.rows_read, result.loaded, 0, result.rejected, result.first_ts,
                             result.last_ts, now, __version__))
                entries.append(_audit_details(result, path, f.sha256, f.size))
            con.executemany("INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            digests = record_source_digests(con, first, last)  # what `rpa verify` checks the rows against
            for entry in entries:
                entry["digest"] = digests[entry["source_id"]]
            append_many(con, "ingest", entries, actor)
            pause_point("ingest.before_commit")
        return results
    finally:
        con.execute("DROP VIEW IF EXISTS batch_rows")
        con.execute("DROP TABLE IF EXISTS batch_files")
        tenpay.drop_staged(con)
        if memory_before is not None:
            con.execute(f"SET memory_limit = '{memory_before}'")


def derive_movements(con, new_sources: list[int] | None = None) -> None:
    """Bring the movements up to date with the sightings and the roster, in one
    transaction (consolidate.py): around the files just loaded (`new_sources`), else
    the whole case."""
    from analyzer.db import transaction

    with transaction(con):
        pause_point("ingest.before_consolidate")
        consolidate(con, new_sources)


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

    # Detected first: a file of no known layout is not read further.
    try:
        fmt = format or detect(path, head)
    except ParserBug as exc:
        return FileResult(path, name, "bug", message=str(exc), bug=exc.original)
    if fmt is None:
        if explicit:
            return FileResult(path, name, "unknown", message=f"{name}: no known layout (tried {LAYOUTS_TRIED})")
        return FileResult(path, name, "unknown", message=f"{name}: skipped, no known layout")

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
            except Exception as exc:  # not a refusal of the file: a crash, reported as a bug
                return FileResult(path, name, "bug", format=fmt, message=str(ParserBug(fmt, "parser", name, exc)), bug=exc)
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
        except Exception as exc:  # a crash while loading the file: rolled back, reported as a bug
            con.execute("ROLLBACK")
            bug = exc if isinstance(exc, ParserBug) else ParserBug(fmt, "loader", name, exc)
            return FileResult(path, name, "bug", format=fmt, message=str(bug), bug=bug.original)
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        for table in ("stage",):
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


def _audit_details(result: FileResult, path: str, sha: str, size: int) -> dict:
    """What the audit log records of a loaded file."""
    return {
        "source_id": result.source_id, "path": path, "name": result.name.split("/")[-1], "sha256": sha, "size": size,
        "format": result.format, "owner": result.owner, "rows_read": result.rows_read, "loaded": result.loaded,
        "duplicates": result.duplicate, "rejected": result.rejected, "first_ts": result.first_ts,
        "last_ts": result.last_ts, "rpa_version": __version__,
    }


def _audit_ingest(con, result: FileResult, sha: str, size: int, actor: str | None) -> None:
    """The audit log entry of a loaded file, in the file's own transaction."""
    from analyzer.audit import append, record_source_digest

    path = con.execute("SELECT path FROM sources WHERE source_id = ?", [result.source_id]).fetchall()[0][0]
    # with the digest of the rows it gave: what `rpa verify` checks them against
    append(con, "ingest", {**_audit_details(result, path, sha, size), "digest": record_source_digest(con, result.source_id)}, actor)


def _load(con, path, name, head, fmt, module, owner, digest, staged, stage: Callable[[str], None]) -> tuple[FileResult, str, int]:
    """Load one file's rows as sightings inside the open transaction; returns the result
    and the file's SHA-256 and size (from `digest()`, which may still be running). The
    movements are derived from the sightings afterwards (consolidate.py)."""
    source_id = con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM sources").fetchall()[0][0]
    base_id = _next_sighting_base(con)
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
        # A parser refuses a file by FormatError only, from its own checks; anything
        # else it raises is a crash (a bug in rpa), never passed off as a refusal.
        try:
            parsed = module.parse(path, owner=owner)
        except FormatError:
            raise
        except OSError as exc:
            raise FormatError(f"{name}: cannot read ({exc.strerror or exc})") from None
        except Exception as exc:
            raise ParserBug(fmt, "parser", name, exc) from exc
        if parsed.owner is None and fmt in ("wechat", "alipay") and len(parsed.rows):
            raise FormatError(f"{name}: the file does not name its account holder; pass --owner NAME")
        _insert_parsed(con, parsed.rows, source_id, base_id)
        rows_read = parsed.rows_read or (len(parsed.rows) + len(parsed.rejects))
        parse_rejects = [(r.line, _visible(r.raw), _visible(r.reason)) for r in parsed.rejects]
        encoding = parsed.encoding

    stage("checking")
    if parse_rejects:
        con.executemany(
            "INSERT INTO rejects VALUES (?, ?, ?, ?)", [(source_id, line, raw, reason) for line, raw, reason in parse_rejects]
        )
    _reject_invalid(con, source_id)
    _register_accounts(con, source_id)
    mark_stale(con)

    loaded, first_ts, last_ts, top = con.execute(
        "SELECT count(*), min(ts), max(ts), max(sighting_id) FROM sightings WHERE source_id = ?", [source_id]
    ).fetchall()[0]
    if top is not None:
        con.execute("INSERT OR REPLACE INTO meta VALUES ('last_sighting_id', ?)", [str(top)])
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
            _visible(parsed.owner),
            _visible(parsed.owner_name),
            _visible(parsed.period_start),
            _visible(parsed.period_end),
            rows_read,
            loaded,
            0,  # rows_loaded and rows_duplicate are brought up to date by consolidate
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
        duplicate=0,
        rejected=rejected,
        first_ts=first_ts,
        last_ts=last_ts,
        source_id=source_id,
    )
    return result, sha, size


def _visible(text: str | None) -> str | None:
    """Text to store as it was read, but with NUL bytes (which a damaged file can hold
    and a DuckDB text cannot) written as \\x00."""
    return None if text is None else text.replace("\x00", "\\x00")


def _next_sighting_base(con) -> int:
    """The base of the next file's sighting ids (id = base + line): above every id
    given so far, kept in `meta` so that no file scans the sightings for it."""
    row = con.execute("SELECT value FROM meta WHERE key = 'last_sighting_id'").fetchall()
    if row:
        return int(row[0][0])
    return con.execute("SELECT coalesce(max(sighting_id), 0) FROM sightings").fetchall()[0][0]


def _insert_parsed(con, rows, source_id: int, base_id: int) -> None:
    """Parser rows (a DataFrame of text) → sightings, through _insert_rows."""
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


def _insert_rows(con, relation: str, source_id: int, base_id: int, *, many: bool = False) -> None:
    """Movement rows (MOVEMENT_COLUMNS, text, NULL for empty) of a DuckDB relation →
    sightings, casting time and amount set-wise. Rows whose time or amount does not
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
    # Rows of many files (`many`: the relation has file_no, and file_offset, the ids the
    # files before it in the batch take) go to sources source_id + file_no.
    source = "$source + file_no" if many else "$source"
    sighting = "$base + file_offset + line" if many else "$base + line"
    con.execute(f"INSERT INTO rejects SELECT {source}, line, raw, reason FROM ({typed}) WHERE reason IS NOT NULL", {"source": source_id})
    # Row order comes from the line numbers, not from storage order, so DuckDB may
    # insert in parallel without keeping it.
    con.execute("SET preserve_insertion_order = false")
    try:
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
    finally:
        con.execute("RESET preserve_insertion_order")


# The views a sighting may have: the payer's export ('out', and 'neutral' moves of the
# holder's own money), the payee's ('in'), or both parties' (a canonical row, 'both').
VIEWS = ("out", "in", "neutral", "both")


def _sql_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")"


def _reject_invalid(con, source_id: int, last_source: int | None = None) -> None:
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


def _register_accounts(con, source_id: int, last_source: int | None = None) -> None:
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
