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


def test_export_keeps_suppressed_findings_marked_with_their_suppression(tmp_path):
    """The case file keeps everything: a suppressed finding is exported, marked, with
    who suppressed it, why and until when."""
    world = load_case("election_mass_transfer")
    case = build_case(tmp_path / "case", world)
    assert rpa("scan", "--case", case).exit_code == 0
    fid, rule, subject = query(case, "SELECT id, rule, subject FROM findings WHERE rule = 'election_mass_transfer' LIMIT 1")[0]
    result = rpa("suppress", "--rule", rule, "--subject", subject, "--until", "2099-12-31",
                 "--why", "=family payroll", "--by", "李明", "--case", case)
    assert result.exit_code == 0, result.output
    assert rpa("scan", "--case", case).exit_code == 0
    assert fid not in rpa("findings", "--format", "json", "--case", case).output  # out of the list ...
    total = query(case, "SELECT count(*) FROM findings")[0][0]
    assert rpa("export", "--csv", tmp_path / "csv", "--xlsx", tmp_path / "out.xlsx", "--case", case).exit_code == 0
    with open(tmp_path / "csv" / "findings.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == total  # ... but in the case file
    row = next(r for r in rows if r["id"] == fid)
    assert (row["suppressed"], row["suppressed_by"], row["suppression_why"], row["suppression_until"]) == (
        "True", "李明", "'=family payroll", "2099-12-31")
    assert row["suppression_id"] == str(query(case, "SELECT max(suppression_id) FROM suppressions")[0][0])
    others = [r for r in rows if r["id"] != fid]
    assert others and all(r["suppressed"] == "False" and r["suppression_why"] == "" for r in others)
    with open(tmp_path / "csv" / "evidence.csv", encoding="utf-8-sig", newline="") as f:
        assert any(r["finding_id"] == fid for r in csv.DictReader(f))  # with its evidence
    wb = load_workbook(tmp_path / "out.xlsx")
    sheet = list(wb["findings"].values)
    xrow = next(r for r in sheet if r[0] == fid)
    assert xrow[sheet[0].index("suppressed_by")] == "李明" and xrow[sheet[0].index("suppressed")] is True


def test_export_is_written_whole_or_not_at_all_with_its_audit_entry(tmp_path):
    """A failure while the files go into place (here: evidence.csv turns into a folder
    after findings.csv was placed) leaves the earlier export as it was and no log entry;
    the XLSX of the same export is not written either."""
    from tests.test_killed_and_shared import start, wait_for_pause

    case = build_case(tmp_path / "case", load_case("election_mass_transfer"))
    assert rpa("scan", "--case", case).exit_code == 0
    out = tmp_path / "csv"
    assert rpa("export", "--csv", out, "--case", case).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    seq = query(case, "SELECT max(seq) FROM audit_log")[0][0]
    assert rpa("triage", query(case, "SELECT id FROM findings LIMIT 1")[0][0], "--status", "confirmed", "--case", case).exit_code == 0
    (out / "evidence.csv").unlink()
    old_evidence = before.pop("evidence.csv")
    proc = start(case, "export", "--xlsx", str(tmp_path / "new.xlsx"), "--csv", str(out), pause="export.before_rename:3")
    wait_for_pause(proc, "export.before_rename")
    (out / "evidence.csv").mkdir()  # the second file cannot go into place
    assert proc.wait(timeout=60) == 2
    assert "evidence.csv: cannot write (it is a folder)" in proc.stderr.read()
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # findings.csv as before
    assert not (tmp_path / "new.xlsx").exists()
    assert not list(tmp_path.glob(".*partial*")) and not list(out.glob(".*"))
    assert query(case, "SELECT max(seq), max(action) FILTER (WHERE seq > $s) FROM audit_log", {"s": seq + 1})[0] == (seq + 1, None)
    # the next export completes
    (out / "evidence.csv").rmdir()
    assert rpa("export", "--csv", out, "--case", case).exit_code == 0
    assert (out / "evidence.csv").read_bytes() == old_evidence
    assert query(case, "SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1")[0][0] == "export"
