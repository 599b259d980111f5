"""`rpa ingest`: read export files into the case, once, whole, with provenance.

The stages, one module each, in the order a file goes through them:

1. walk.py: the files named, folders expanded;
2. detect.py: which layout each file is (or `--format`);
3. parse.py: the layout's module stages the file's rows into temporary DuckDB
   relations, the same way for every layout (analyzer.formats.base), before any
   transaction begins;
4. stage.py: the staged rows become sightings, typed and checked, in the file's own
   transaction with its source row and audit entry (small Tenpay files: many files
   in one transaction, each still whole or not at all);
5. consolidate.py: the movements are derived from the sightings and the roster,
   around the files just loaded, after they are committed (outside a transaction:
   the case is marked `deriving` until it ends).

A file already ingested (same SHA-256) adds nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import duckdb

from analyzer.errors import FormatError, ParserBug
from analyzer.files import file_digest
from analyzer.ingest.consolidate import derive_movements, is_stale
from analyzer.ingest.detect import FORMAT_MODULES, LAYOUTS_TRIED, detect, format_module, read_head, small_tenpay
from analyzer.ingest.parse import STAGED_MEMORY_LIMIT, Digest, cap_memory, restore_memory, setting_bytes, stage_file
from analyzer.formats.base import StagedFile
from analyzer.ingest.stage import (
    BATCH_REJECTS,
    BATCH_ROWS,
    FileResult,
    SkippedFile,
    add_to_batch,
    end_batch,
    load_batch,
    load_file,
    load_tenpay_batch,
    resolve_accounts,
    start_batch,
)
from analyzer.ingest.walk import collect_files, display_name, looks_like_export
from analyzer.pause import pause_point

__all__ = [
    "FORMAT_MODULES", "STAGED_MEMORY_LIMIT", "FileResult", "SkippedFile", "collect_files", "derive_movements", "detect", "display_name",
    "file_digest", "format_module", "ingest_file", "ingest_paths", "looks_like_export", "resolve_accounts", "setting_bytes",
]

# Files loaded in one transaction when small files come many at a time: enough to
# spread a transaction's fixed cost and its statements over the case, few enough that a
# stopped ingest loses little. A batch of bills also stops at BATCH_ROWS_MAX rows.
BATCH_FILES = 500
BATCH_ROWS_MAX = 1_000_000
# Files up to this size are staged into a batch; bigger ones load alone, streamed.
SMALL_FILE_BYTES = 32 << 20
# An ingest of this many rows or more derives the movements in a DuckDB opened afresh.
REOPEN_ROWS = 1_000_000


def ingest_paths(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[Path],
    *,
    format: str | None = None,
    owner: str | None = None,
    on_file: Callable[..., None] | None = None,
    actor: str | None = None,
) -> list[FileResult | SkippedFile]:
    """Ingest files and folders, then derive the movements around them. `on_file(i, n,
    what, bytes_done, bytes_total, rows)` is called as work begins on file i of n (for a
    progress bar: the bytes of the files before it, of all, and the rows loaded so far);
    `actor` is who ingests (audit log)."""
    files = collect_files(paths)
    sizes = []
    for path, _ in files:
        try:
            sizes.append(os.stat(path).st_size)
        except OSError:
            sizes.append(0)
    before = [0]
    for size in sizes:
        before.append(before[-1] + size)
    results: list[FileResult | SkippedFile] = []

    rows = [0, 0]  # results counted so far, their rows (kept up as results grow: not a sum per call)

    def tell(i: int, what: str) -> None:
        if on_file:
            for r in results[rows[0]:]:
                rows[1] += r.loaded
            rows[0] = len(results)
            on_file(i, len(files), what, before[i], before[-1], rows[1])

    if is_stale(con):  # an earlier ingest stopped between loading files and deriving movements
        derive_movements(con)
    # Small Tenpay files (a production is thousands, one per account) are staged many at
    # a time by the Tenpay module itself; other small files one by one by their layout's
    # module into a shared batch; either batch is then loaded in one transaction, each
    # file still whole or not at all. A big file loads alone, streamed.
    tenpay_batch: list[tuple[Path, str]] = []
    batch: list[StagedFile] = []
    batch_names: list[str] = []
    batch_rows = 0

    def flush_tenpay(done: int) -> None:
        if tenpay_batch:
            def progress(what: str) -> None:
                tell(done, f"{len(tenpay_batch)} Tenpay files · {what}")

            try:
                results.extend(load_tenpay_batch(con, tenpay_batch, owner=owner, actor=actor, progress=progress))
            except Exception:  # noqa: BLE001
                # A crash while loading the batch (rolled back whole): each file alone,
                # so that only the file at fault is reported, as a bug.
                results.extend(ingest_file(con, p, format="tenpay", owner=owner, explicit=False, actor=actor)
                               for p, _ in tenpay_batch)
            tenpay_batch.clear()

    def flush(done: int) -> None:
        nonlocal batch_rows
        if batch:
            tell(done, f"{len(batch)} files · loading")
            try:
                results.extend(load_batch(con, batch, batch_names, BATCH_ROWS, BATCH_REJECTS, actor=actor))
            except Exception:  # noqa: BLE001
                # A crash while loading the batch (rolled back whole): each file alone.
                results.extend(ingest_file(con, f.path, format=format, owner=owner, explicit=False, actor=actor) for f in batch)
            batch.clear()
            batch_names.clear()
            batch_rows = 0
            start_batch(con)

    start_batch(con)
    try:
        for i, (path, explicit) in enumerate(files):
            name = display_name(path)

            def progress(what: str, i=i, name=name) -> None:
                tell(i, f"{Path(name).name} · {what}")

            if format in (None, "tenpay") and small_tenpay(path, format):
                tenpay_batch.append((path, name))
                if len(tenpay_batch) >= BATCH_FILES:
                    flush_tenpay(i)
                continue
            if sizes[i] > SMALL_FILE_BYTES:
                progress("reading")
                results.append(ingest_file(con, path, format=format, owner=owner, explicit=explicit, on_stage=progress, actor=actor))
                continue
            progress("reading")
            staged = _stage_small(con, path, name, format, owner, explicit, len(batch))
            if not isinstance(staged, StagedFile):
                results.append(staged)
                continue
            batch.append(staged)
            batch_names.append(name)
            batch_rows += staged.parsed.rows_read if staged.parsed else 0
            if len(batch) >= BATCH_FILES or batch_rows >= BATCH_ROWS_MAX:
                flush(i)
        flush_tenpay(len(files))
        flush(len(files))
    finally:
        end_batch(con)
    loaded = [r for r in results if r.status == "loaded"]
    if loaded:
        tell(len(files), "matching the movements")
        if sum(r.rows_read for r in loaded) >= REOPEN_ROWS and hasattr(con, "reopen"):
            # What staging left in DuckDB's hands would stay resident under the
            # derivation's own peak: measured at 3M movements, 1,077 MiB without, 967 with.
            con.reopen()
        derive_movements(con, [r.source_id for r in loaded])
        counts = {r[0]: (r[1], r[2]) for r in con.execute(
            "SELECT source_id, rows_loaded, rows_duplicate FROM sources WHERE source_id >= ?",
            [min(r.source_id for r in loaded)],
        ).fetchall()}
        for r in loaded:
            if r.source_id in counts:
                r.loaded, r.duplicate = counts[r.source_id]
    return results


def _layout(path: Path, name: str, head: bytes, format: str | None, explicit: bool) -> str | FileResult | SkippedFile:
    """The file's layout (`format`, else detected), or the FileResult of a file not to
    be read further: of no known layout (named, or found in a folder), or a sniff that
    crashed (a bug)."""
    try:
        fmt = format or detect(path, head)
    except ParserBug as exc:
        return FileResult(path, name, "bug", message=str(exc), bug=exc.original)
    if fmt is None:
        if explicit:
            return FileResult(path, name, "unknown", message=f"{name}: no known layout (tried {LAYOUTS_TRIED})")
        return SkippedFile(path)
    return fmt


def _stage_small(con, path: Path, name: str, format: str | None, owner: str | None, explicit: bool,
                 file_no: int) -> StagedFile | FileResult | SkippedFile:
    """Detect and stage a small file into the batch as file `file_no`; a FileResult
    when it is not to be loaded (unreadable, of no known layout). A file its layout
    refuses comes back as a StagedFile with the error, reported with the batch."""
    try:
        head = read_head(path)
        sha, size = file_digest(path)
    except OSError as exc:
        return FileResult(path, name, "error", message=f"{name}: cannot read ({exc.strerror})")
    fmt = _layout(path, name, head, format, explicit)
    if not isinstance(fmt, str):
        return fmt
    module = format_module(fmt)
    try:
        parsed = stage_file(con, module, path, name, fmt, owner)
        add_to_batch(con, parsed, file_no)
    except FormatError as exc:
        return StagedFile(path, file_no, sha, size, error=str(exc))
    except ParserBug as exc:
        return FileResult(path, name, "bug", format=fmt, message=str(exc), bug=exc.original)
    finally:
        module.drop_staged(con)
    return StagedFile(path, file_no, sha, size, parsed)


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    format: str | None = None,
    owner: str | None = None,
    explicit: bool = True,
    on_stage: Callable[[str], None] | None = None,
    actor: str | None = None,
) -> FileResult | SkippedFile:
    """Ingest one file's rows as sightings, whole or not at all, with its audit log
    entry (by `actor`, default the OS user). `on_stage(what)` hears each step begin.
    The movements are derived afterwards (derive_movements)."""
    name = display_name(path)
    progress = on_stage or (lambda _: None)
    try:
        head = read_head(path)
        size = os.stat(path).st_size
    except OSError as exc:
        return FileResult(path, name, "error", message=f"{name}: cannot read ({exc.strerror})")

    # Detected first: a file of no known layout is not read further.
    fmt = _layout(path, name, head, format, explicit)
    if not isinstance(fmt, str):
        return fmt

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
        digest = Digest(path).result

    module = format_module(fmt)
    memory_before = cap_memory(con) if getattr(module, "CAP_MEMORY", False) else None
    try:
        # Staged into temporary tables before the transaction begins: nothing
        # persistent is touched, and DuckDB lets go of each piece once it is in.
        try:
            parsed = stage_file(con, module, path, name, fmt, owner)
        except FormatError as exc:
            return FileResult(path, name, "error", format=fmt, message=str(exc))
        except ParserBug as exc:
            return FileResult(path, name, "bug", format=fmt, message=str(exc), bug=exc.original)
        con.execute("BEGIN TRANSACTION")
        try:
            result = load_file(con, path, name, parsed, digest, actor, progress)
            pause_point("ingest.before_commit")
            progress("committing")
            con.execute("COMMIT")
            return result
        except FormatError as exc:
            con.execute("ROLLBACK")
            return FileResult(path, name, "error", format=fmt, message=str(exc))
        except OSError as exc:  # the file went away while it was hashed
            con.execute("ROLLBACK")
            return FileResult(path, name, "error", format=fmt, message=f"{name}: cannot read ({exc.strerror})")
        except duckdb.OutOfMemoryException:  # not a bug: the CLI says how to give DuckDB more
            con.execute("ROLLBACK")
            raise
        except Exception as exc:  # a crash while loading the file: rolled back, reported as a bug
            con.execute("ROLLBACK")
            bug = exc if isinstance(exc, ParserBug) else ParserBug(fmt, "loader", name, exc)
            return FileResult(path, name, "bug", format=fmt, message=str(bug), bug=bug.original)
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        module.drop_staged(con)
        restore_memory(con, memory_before)
