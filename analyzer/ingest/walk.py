"""Walk: the files named on the command line, folders expanded."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from analyzer.errors import RpaError
from analyzer.formats.base import display_path

SKIP_NAMES = {"rpa.duckdb", "rpa.duckdb.wal", "rpa.toml"}
# In a folder walk, files with these suffixes are never exports (scripts, notes, reports).
SKIP_SUFFIXES = {".py", ".md", ".toml", ".html", ".json", ".duckdb", ".wal", ".log", ".gitkeep", ".pdf", ".png"}
# In a folder walk, a file of these suffixes that no layout recognises may be an export
# rpa cannot read (a damaged file, a new layout): it is listed and the ingest exits 1.
EXPORT_SUFFIXES = {".csv", ".xlsx", ".xls", ".txt", ".parquet"}


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
