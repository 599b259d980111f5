"""`rpa export`: findings and evidence for the case file, formulas neutralised."""

from __future__ import annotations

import csv
from decimal import Decimal

from openpyxl import load_workbook

from analyzer.export import neutralise
from tests.helpers import query, rpa
from tests.rule_world import build_case, load_case


def test_neutralise():
    assert neutralise("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert [neutralise(v) for v in ("+1", "-1", "@x", "\tx", "李红", 5, Decimal("-1"))] == ["'+1", "'-1", "'@x", "'\tx", "李红", 5, Decimal("-1")]


def test_export_xlsx_and_csv(tmp_path):
    world = load_case("election_mass_transfer")
    # a hostile nickname in the data: it must come out as text, not a formula
    for t in world["transactions"]:
        if t["txn_id"] == "E1":
            t["memo"] = '=HYPERLINK("http://x")'
    case = build_case(tmp_path / "case", world)
    assert rpa("scan", "--case", case).exit_code == 0
    n_findings = query(case, "SELECT count(*) FROM findings")[0][0]
    result = rpa("export", "--xlsx", tmp_path / "out.xlsx", "--csv", tmp_path / "csv", "--case", case)
    assert result.exit_code == 0, result.output

    wb = load_workbook(tmp_path / "out.xlsx")
    findings = list(wb["findings"].values)
    evidence = list(wb["evidence"].values)
    assert findings[0][:3] == ("id", "rule", "severity") and len(findings) == n_findings + 1
    election = next(r for r in findings if r[1] == "election_mass_transfer")
    assert election[findings[0].index("total_amount")] == 1455.54  # a number cell
    memo_col = evidence[0].index("memo")
    memos = [r[memo_col] for r in evidence[1:] if r[memo_col]]
    assert "'=HYPERLINK(\"http://x\")" in memos
    assert not any(isinstance(v, str) and v.startswith("=") for row in findings + evidence for v in row)
    assert {r[evidence[0].index("file")] for r in evidence[1:]} == {"movements.csv"}

    with open(tmp_path / "csv" / "evidence.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:2] == ["finding_id", "txn_id"] and len(rows) == len(evidence)
    # the export is in the audit log, with the files' hashes
    (action, details) = query(case, "SELECT action, details FROM audit_log ORDER BY seq DESC LIMIT 1")[0]
    assert action == "export" and "out.xlsx" in details and "evidence.csv" in details


def test_export_needs_a_target_and_an_existing_folder(tmp_path):
    rpa("init", tmp_path / "case")
    assert rpa("export", "--case", tmp_path / "case").exit_code == 2
    result = rpa("export", "--xlsx", tmp_path / "no" / "such" / "x.xlsx", "--case", tmp_path / "case")
    assert result.exit_code == 2 and "no such folder" in result.stderr
