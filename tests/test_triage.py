"""`rpa triage`, `rpa suppress`, stale findings and triage labels: decisions that
survive re-scans, leads that are kept when they stop firing, suppressions that end
by themselves."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import pytest

from analyzer.db import MIGRATIONS
from tests.helpers import query, rpa, write_canonical
from tests.rule_world import build_case, load_case

RULE = "election_mass_transfer"
EVIDENCE = ["E1", "E2", "E3", "E4", "E5", "E6", "E7"]


@pytest.fixture
def case(tmp_path):
    return build_case(tmp_path / "case", load_case(RULE))


def scan(case, *args):
    result = rpa("scan", "--rule", RULE, *args, "--case", case)
    assert result.exit_code == 0, result.output
    return result


def findings(case, *args) -> list[dict]:
    result = rpa("findings", "--format", "json", *args, "--case", case)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def the_finding_id(case) -> str:
    (f,) = findings(case)
    return f["id"]


def test_triage_status_and_note_survive_a_rescan(case):
    scan(case)
    fid = the_finding_id(case)
    assert findings(case)[0]["status"] == "new"
    assert rpa("triage", fid, "--status", "reviewing", "--by", "张三", "--case", case).exit_code == 0
    done = rpa("triage", fid.lower(), "--status", "confirmed", "--note", "谈话核实，承认拉票", "--by", "李明", "--case", case)
    assert done.exit_code == 0 and "reviewing → confirmed" in done.stdout and "李明" in done.stdout

    scan(case)
    (f,) = findings(case)
    assert (f["id"], f["status"], f["note"], f["triaged_by"], f["stale"]) == (fid, "confirmed", "谈话核实，承认拉票", "李明", False)
    assert [x["id"] for x in findings(case, "--status", "confirmed")] == [fid]
    assert findings(case, "--status", "new") == []
    # the history is kept, in order, and `rpa show` prints it
    assert query(case, "SELECT status, actor FROM triage ORDER BY triage_id") == [("reviewing", "张三"), ("confirmed", "李明")]
    shown = rpa("show", fid, "--case", case).stdout
    assert "status: confirmed" in shown and "张三: reviewing" in shown and "李明: confirmed — 谈话核实，承认拉票" in shown
    table = rpa("findings", "--case", case).stdout
    assert "confirmed" in table and "谈话核实" in table


def test_a_finding_whose_evidence_grows_keeps_its_id_and_decisions(case, tmp_path):
    scan(case)
    old = the_finding_id(case)
    rpa("triage", old, "--status", "confirmed", "--note", "核实", "--case", case)
    # new data: one more voter paid inside the window
    more = write_canonical(tmp_path / "more.csv", [{"txn_id": "E8", "ts": "2026-02-15 10:00:00", "payer": "wxid_wjg",
                                                   "payee": "wxid_p8", "amount": "300.00", "kind": "red_packet"}])
    assert rpa("ingest", more, "--case", case).exit_code == 0
    result = scan(case)
    assert "earlier finding went stale" not in result.stdout

    # the same finding (its id, its decision and note), with the movement added, not a new one
    (grown,) = findings(case)
    assert grown["id"] == old and grown["status"] == "confirmed" and grown["note"] == "核实"
    assert grown["txn_ids"] == EVIDENCE + ["E8"] and grown["stale"] is False
    assert findings(case, "--stale") == [grown]
    assert query(case, "SELECT count(*) FROM finding_evidence WHERE finding_id = ?", [old]) == [(8,)]
    assert query(case, "SELECT stale_scan_id, first_scan_id, scan_id FROM findings WHERE id = ?", [old]) == [(None, 1, 2)]
    # rpa show: the decision taken before and what changed since
    shown = rpa("show", old, "--case", case).stdout
    assert "confirmed — 核实" in shown and "scan 2 (status then: confirmed): +1 movement(s) [E8], −0" in shown


def test_a_raised_threshold_makes_a_finding_stale_and_lowering_it_brings_it_back(case):
    scan(case)
    fid = the_finding_id(case)
    rpa("triage", fid, "--status", "escalated", "--case", case)

    scan(case, "--param", f"{RULE}.min_recipients=7")
    assert findings(case) == []
    (f,) = findings(case, "--stale")
    assert (f["id"], f["stale"], f["status"]) == (fid, True, "escalated")

    scan(case)  # the default threshold again: the same finding, active, decision intact
    (f,) = findings(case)
    assert (f["id"], f["stale"], f["status"]) == (fid, False, "escalated")
    assert query(case, "SELECT first_scan_id, scan_id, stale_scan_id FROM findings") == [(1, 3, None)]
    assert query(case, "SELECT count(*) FROM triage") == [(1,)]


def test_a_suppression_hides_the_finding_until_its_date(case):
    until = date.today() + timedelta(days=30)
    scan(case)
    fid = the_finding_id(case)
    made = rpa("suppress", "--rule", RULE, "--subject", "P001", "--until", until, "--why", "村里的集体发放，已核实",
               "--by", "李明", "--case", case)
    assert made.exit_code == 0 and "suppression 1" in made.stdout and "1 current finding(s) match" in made.stdout

    result = scan(case)
    assert "1 suppressed" in result.stdout
    assert findings(case) == []
    assert "1 suppressed (--suppressed)" in rpa("findings", "--case", case).stdout
    (f,) = findings(case, "--suppressed")
    assert (f["id"], f["suppressed_by"], f["stale"]) == (fid, 1, False)
    assert query(case, "SELECT suppressed_by FROM findings") == [(1,)]  # stored, marked: the audit can say why
    listing = rpa("suppress", "--list", "--case", case).stdout
    assert "P001" in listing and str(until) in listing and "yes" in listing and "村里的集体发放" in listing


def test_a_suppression_ends_by_itself_after_its_date(case):
    """No command is needed when `until` passes: the stored finding is listed again from
    the next day on, and a scan on that day no longer applies the suppression. (The day
    is passed as `today`, the parameter the CLI fills from the clock.)"""
    from analyzer.config import load_settings
    from analyzer.findings import list_findings
    from analyzer.rules import load_rules, resolve_params
    from analyzer.scan import scan as run_scan

    until = date.today() + timedelta(days=30)
    scan(case)
    fid = the_finding_id(case)
    rpa("suppress", "--rule", RULE, "--subject", "P001", "--until", until, "--why", "x", "--case", case)
    scan(case)
    con = duckdb.connect(str(case / "rpa.duckdb"))
    try:
        assert list_findings(con, today=until) == []
        assert [f["id"] for f in list_findings(con, today=until + timedelta(days=1))] == [fid]
        rules = load_rules()
        run_scan(con, [rules[RULE]], resolve_params(rules, {}, []), load_settings(case), today=until + timedelta(days=1))
    finally:
        con.close()
    assert query(case, "SELECT id, suppressed_by FROM findings") == [(fid, None)]


def test_a_suppression_with_a_past_date_has_no_effect(case):
    scan(case)
    made = rpa("suppress", "--rule", RULE, "--subject", "P001", "--until", date.today() - timedelta(days=1),
               "--why", "too late", "--case", case)
    assert made.exit_code == 0 and "will not apply" in made.stderr
    scan(case)
    (f,) = findings(case)
    assert f["suppressed_by"] is None
    assert "expired" in rpa("suppress", "--list", "--case", case).stdout


def test_a_suppression_names_a_counterparty_only_findings_with_it(case):
    until = date.today() + timedelta(days=30)
    scan(case)
    rpa("suppress", "--rule", RULE, "--subject", "P001", "--counterparty", "P009", "--until", until, "--why", "wife", "--case", case)
    scan(case)
    assert len(findings(case)) == 1  # P009 is not among the finding's counterparties
    rpa("suppress", "--rule", RULE, "--subject", "P001", "--counterparty", "P002", "--until", until, "--why", "cousin", "--case", case)
    scan(case)
    assert findings(case) == []
    assert [f["suppressed_by"] for f in findings(case, "--suppressed")] == [2]


def test_user_mistakes_are_one_line_errors(case):
    scan(case)
    fid = the_finding_id(case)
    for args, message in [
        (("triage", fid, "--status", "guilty"), "status must be one of new, reviewing, confirmed, dismissed, escalated"),
        (("triage", "FNOPE", "--status", "confirmed"), "no finding 'FNOPE'"),
        (("suppress", "--rule", "nope", "--subject", "P001", "--until", "2099-01-01", "--why", "x"), "no rule 'nope'"),
        (("suppress", "--rule", RULE, "--subject", "P001", "--until", "2099-01-01", "--why", " "), "--why must say why"),
        (("suppress", "--rule", RULE, "--subject", "P001"), "--until and --why are required"),
        (("findings", "--status", "done"), "status must be one of"),
    ]:
        result = rpa(*args, "--case", case)
        assert result.exit_code == 2, args
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert query(case, "SELECT count(*) FROM triage") == [(0,)]
    assert query(case, "SELECT count(*) FROM suppressions") == [(0,)]


def test_triage_labels_for_backtesting(case):
    from analyzer.triage import triage_labels

    def labels():
        con = duckdb.connect(str(case / "rpa.duckdb"), read_only=True)
        try:
            return triage_labels(con)
        finally:
            con.close()

    scan(case)
    fid = the_finding_id(case)
    assert labels() == []
    rpa("triage", fid, "--status", "reviewing", "--case", case)
    assert labels() == []  # not a verdict
    rpa("triage", fid, "--status", "confirmed", "--by", "李明", "--case", case)
    (label,) = labels()
    assert {k: label[k] for k in ("finding_id", "rule", "subject", "txn_ids", "label", "status", "by", "stale")} == {
        "finding_id": fid, "rule": RULE, "subject": "P001", "txn_ids": EVIDENCE, "label": True, "status": "confirmed",
        "by": "李明", "stale": False,
    }
    assert label["txn_ids"] == findings(case)[0]["txn_ids"]
    rpa("triage", fid, "--status", "dismissed", "--case", case)
    scan(case, "--param", f"{RULE}.min_recipients=7")  # stale findings keep their label
    assert [(x["label"], x["stale"]) for x in labels()] == [(False, True)]


def test_a_case_from_the_previous_release_keeps_its_findings(tmp_path):
    """A schema-2 case with findings: migrated when first read, findings active."""
    case = tmp_path / "old"
    case.mkdir()
    con = duckdb.connect(str(case / "rpa.duckdb"))
    for i, sql in enumerate(MIGRATIONS[:2], start=1):
        con.execute(sql)
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(i)])
    con.execute("INSERT INTO scans VALUES (1, now(), now(), 'all', NULL, NULL, '[]', 1, '0')")
    con.execute("""INSERT INTO findings VALUES ('FOLD', 'split_packets', 'high', 70, 'P001', ['P010'], NULL, NULL, NULL,
                   600, 3, 'zh', 'en', '{}', '{}', 1, [1, 2, 3])""")
    con.close()
    (f,) = findings(case)  # a reading command migrates the case first
    assert (f["id"], f["status"], f["stale"]) == ("FOLD", "new", False)
    assert query(case, "SELECT first_scan_id FROM findings") == [(1,)]
    assert rpa("triage", "FOLD", "--status", "reviewing", "--case", case).exit_code == 0


def test_a_finding_given_again_with_other_figures_is_refreshed_in_place(case):
    """Same rule, subject and evidence (same id), other parameters: the stored finding
    takes the new wording and parameters, keeps its first scan and its triage."""
    scan(case)
    fid = the_finding_id(case)
    rpa("triage", fid, "--status", "reviewing", "--case", case)
    before = query(case, "SELECT reason_en, params FROM findings WHERE id = ?", [fid])[0]
    scan(case, "--param", f"{RULE}.min_recipients=6")  # still fires on the same seven members
    (f,) = findings(case)
    assert (f["id"], f["status"], f["stale"]) == (fid, "reviewing", False)
    reason, params = query(case, "SELECT reason_en, params FROM findings WHERE id = ?", [fid])[0]
    assert json.loads(params)["min_recipients"] == 6 and json.loads(before[1])["min_recipients"] == 5
    assert reason != before[0]
    assert query(case, "SELECT first_scan_id, scan_id FROM findings WHERE id = ?", [fid]) == [(1, 2)]
    # given again unchanged: only its scan moves on
    scan(case, "--param", f"{RULE}.min_recipients=6")
    assert query(case, "SELECT first_scan_id, scan_id, reason_en FROM findings WHERE id = ?", [fid]) == [(1, 3, reason)]
