"""`rpa export`: findings and their evidence for the case file, as XLSX or CSV.

The case file keeps everything: active, stale and suppressed findings, each marked,
a suppressed one with its suppression (who, why, until). The files of one export (the
XLSX, the CSV pair) are written whole or not at all, together with their audit entry:
each is written beside its target first, the entry is appended, the files are renamed
into place, and only then is the entry committed; any failure renames back what was
replaced and removes what was written.

Text from the data (nicknames, memos) can begin with = + - @ and would run as a formula
when the file is opened in a spreadsheet: every such cell is neutralised by a leading
apostrophe, the usual defence against CSV/formula injection.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import os
import secrets
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from analyzer.errors import RpaError
from analyzer.findings import list_findings

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FINDING_COLUMNS = ["id", "rule", "severity", "score", "status", "subject", "subject_name", "counterparties", "window",
                   "start", "end", "total_amount", "txn_count", "reason_zh", "reason_en", "stale", "suppressed",
                   "suppression_id", "suppressed_by", "suppression_why", "suppression_until", "suppressed_at"]
EVIDENCE_COLUMNS = ["finding_id", "txn_id", "ts", "payer", "payee", "payer_person", "payee_person", "amount", "kind",
                    "status", "channel", "memo", "file", "sha256", "line"]


def neutralise(value: object) -> object:
    """A cell value safe to open in a spreadsheet: text that would start a formula gets
    a leading apostrophe; numbers, dates and other types pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_rows(con: duckdb.DuckDBPyConnection, today: date | None = None) -> tuple[list[list], list[list]]:
    """(findings rows, evidence rows) with cells neutralised, in column order: every
    finding, stale and suppressed ones too. `suppressed` is true while the suppression
    that matched the finding at its latest scan is in force (on `today`); the
    suppression's id, who made it, why, until when and when are given whenever one
    matched, also once it has expired."""
    findings = list_findings(con, include_stale=True, include_suppressed=True, today=today)
    suppressions = {r[0]: r[1:] for r in con.execute(
        """SELECT f.id, s.suppression_id, s.actor, s.why, s.until, s.created_at
           FROM findings f JOIN suppressions s ON s.suppression_id = f.suppressed_by""").fetchall()}
    rows = []
    for f in findings:
        sid, actor, why, until, created = suppressions.get(f["id"], (None,) * 5)
        f = {**f, "suppressed": f["suppressed_by"] is not None, "suppression_id": sid, "suppressed_by": actor,
             "suppression_why": why, "suppression_until": until, "suppressed_at": created}
        rows.append([neutralise(_cell(f.get(c))) for c in FINDING_COLUMNS])
    evidence = con.execute(
        """
        SELECT f.id, t.txn_id, t.ts, t.payer, t.payee, t.payer_person, t.payee_person, t.amount, t.kind, t.status,
               t.channel, t.memo, s.name, s.sha256, t.line
        FROM findings f, unnest(f.evidence) AS e(tid)
        JOIN movement_rows t ON t.id = e.tid
        JOIN sources s ON s.source_id = t.source_id
        WHERE list_contains($ids, f.id)
        ORDER BY f.id, t.ts, t.id
        """,
        {"ids": [f["id"] for f in findings]},
    ).fetchall()
    return rows, [[neutralise(v) for v in r] for r in evidence]


def _cell(value: object) -> object:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, str) and value.replace(".", "", 1).isdigit() and value.count(".") == 1:
        return Decimal(value)  # total_amount comes as text: keep it a number in the sheet
    return value


def write_xlsx(path: Path, findings: list[list], evidence: list[list]) -> None:
    """Two sheets, findings and evidence, amounts as number cells."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "findings"
    ws.append(FINDING_COLUMNS)
    for r in findings:
        ws.append(r)
    ev = wb.create_sheet("evidence")
    ev.append(EVIDENCE_COLUMNS)
    for r in evidence:
        ev.append(r)
    for sheet, money_col in ((ws, FINDING_COLUMNS.index("total_amount") + 1), (ev, EVIDENCE_COLUMNS.index("amount") + 1)):
        for (cell,) in sheet.iter_rows(min_row=2, min_col=money_col, max_col=money_col):
            cell.number_format = "#,##0.00"
    wb.save(path)


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    """One CSV file, UTF-8 with BOM (so that Excel reads the Chinese)."""
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def export(con: duckdb.DuckDBPyConnection, xlsx: Path | None, csv_dir: Path | None, actor: str | None = None,
           today: date | None = None) -> tuple[list[Path], int, int]:
    """Write the export (XLSX and/or findings.csv + evidence.csv) and its audit entry,
    all or nothing. Returns (files written, findings, evidence rows)."""
    from analyzer.audit import append
    from analyzer.pause import pause_point

    findings, evidence = export_rows(con, today)
    targets: list[tuple[Path, object]] = []
    made_folder = None
    if xlsx is not None:
        targets.append((Path(xlsx), lambda p: write_xlsx(p, findings, evidence)))
    if csv_dir is not None:
        folder = Path(csv_dir)
        if folder.exists() and not folder.is_dir():
            raise RpaError(f"{folder} is not a folder")
        if not folder.exists() and folder.parent.is_dir():
            folder.mkdir()
            made_folder = folder  # removed again if the export fails
        targets.append((folder / "findings.csv", lambda p: write_csv(p, FINDING_COLUMNS, findings)))
        targets.append((folder / "evidence.csv", lambda p: write_csv(p, EVIDENCE_COLUMNS, evidence)))
    for target, _ in targets:
        if not target.parent.is_dir():
            raise RpaError(f"{target.parent}: no such folder")
        if target.is_dir():
            raise RpaError(f"{target} is a folder: choose another name")
    tag = secrets.token_hex(4)
    staged = [(target, target.with_name(f".{target.name}.partial-{tag}"), save) for target, save in targets]
    replaced: list[tuple[Path, Path]] = []  # (target, its earlier version kept aside)
    placed: list[Path] = []
    try:
        for target, tmp, save in staged:
            save(tmp)
        con.execute("BEGIN TRANSACTION")
        try:
            append(con, "export", export_details([(t, tmp) for t, tmp, _ in staged], len(findings), len(evidence)), actor)
            pause_point("export.before_rename")
            for target, tmp, _ in staged:
                if target.is_dir():  # only a file is ever replaced
                    raise IsADirectoryError(errno.EISDIR, "it is a folder", str(target))
                if target.exists():
                    old = target.with_name(f".{target.name}.old-{tag}")
                    os.replace(target, old)
                    replaced.append((target, old))
                os.replace(tmp, target)
                placed.append(target)
            pause_point("export.before_commit")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            for target in placed:
                target.unlink(missing_ok=True)
            for target, old in replaced:
                os.replace(old, target)
            replaced.clear()
            raise
    except BaseException as exc:
        if made_folder is not None:
            for _, tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            try:
                made_folder.rmdir()
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise RpaError(f"{exc.filename or 'export'}: cannot write ({exc.strerror or exc})") from None
        raise
    finally:
        for _, tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        for _, old in replaced:
            old.unlink(missing_ok=True)
    return [t for t, _, _ in staged], len(findings), len(evidence)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def export_details(paths: list[tuple[Path, Path]], findings: int, evidence: int) -> dict:
    """What the audit log records of an export: each target with the SHA-256 of the
    file written for it (still beside it, about to be renamed into place)."""
    return {
        "files": [{"path": str(Path(p).resolve()), "sha256": file_sha256(tmp)} for p, tmp in paths],
        "findings": findings,
        "evidence_rows": evidence,
        "exported_at": datetime.now().isoformat(timespec="seconds"),
    }
