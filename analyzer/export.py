"""`rpa export`: findings and their evidence for the case file, as XLSX or CSV.

Text from the data (nicknames, memos) can begin with = + - @ and would run as a formula
when the file is opened in a spreadsheet: every such cell is neutralised by a leading
apostrophe, the usual defence against CSV/formula injection.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from analyzer.errors import RpaError
from analyzer.findings import list_findings

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FINDING_COLUMNS = ["id", "rule", "severity", "score", "status", "subject", "subject_name", "counterparties", "window",
                   "start", "end", "total_amount", "txn_count", "reason_zh", "reason_en", "stale"]
EVIDENCE_COLUMNS = ["finding_id", "txn_id", "ts", "payer", "payee", "payer_person", "payee_person", "amount", "kind",
                    "status", "channel", "memo", "file", "sha256", "line"]


def neutralise(value: object) -> object:
    """A cell value safe to open in a spreadsheet: text that would start a formula gets
    a leading apostrophe; numbers, dates and other types pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_rows(con: duckdb.DuckDBPyConnection) -> tuple[list[list], list[list]]:
    """(findings rows, evidence rows) with cells neutralised, in column order."""
    findings = list_findings(con, include_stale=True)
    rows = []
    for f in findings:
        rows.append([neutralise(_cell(f.get(c))) for c in FINDING_COLUMNS])
    evidence = con.execute(
        """
        SELECT f.id, t.txn_id, t.ts, t.payer, t.payee, t.payer_person, t.payee_person, t.amount, t.kind, t.status,
               t.channel, t.memo, s.name, s.sha256, t.line
        FROM findings f, unnest(f.evidence) AS e(tid)
        JOIN transactions t ON t.id = e.tid
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
    _save(path, wb.save)


def write_csv(folder: Path, findings: list[list], evidence: list[list]) -> list[Path]:
    """findings.csv and evidence.csv (UTF-8 with BOM, so that Excel reads the Chinese)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, header, rows in (("findings.csv", FINDING_COLUMNS, findings), ("evidence.csv", EVIDENCE_COLUMNS, evidence)):
        path = folder / name

        def save(target, header=header, rows=rows):
            with open(target, "w", encoding="utf-8-sig", newline="") as f:
                w = csv.writer(f)
                w.writerow(header)
                w.writerows(rows)

        _save(path, save)
        written.append(path)
    return written


def _save(path: Path, save) -> None:
    """Write through a temporary file in the same folder, then rename: a failed export
    leaves no half-written file."""
    path = Path(path)
    if not path.parent.is_dir():
        raise RpaError(f"{path.parent}: no such folder")
    tmp = path.with_name(f".{path.name}.partial")
    try:
        save(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RpaError(f"{path}: cannot write ({exc.strerror})") from None


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def export_details(paths: list[Path], findings: int, evidence: int) -> dict:
    """What the audit log records of an export."""
    return {
        "files": [{"path": str(Path(p).resolve()), "sha256": file_sha256(p)} for p in paths],
        "findings": findings,
        "evidence_rows": evidence,
        "exported_at": datetime.now().isoformat(timespec="seconds"),
    }
