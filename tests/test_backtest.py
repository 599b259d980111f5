"""`rpa backtest`: figures on a hand-made example, labels from a CSV and from triage."""

from __future__ import annotations

import json

import pytest

from analyzer.backtest import Case, backtest
from tests.helpers import query, rpa
from tests.rule_world import build_case, load_case


def finding(fid, rule, *txns, subject="S"):
    return {"id": fid, "rule": rule, "subject": subject, "txn_ids": list(txns)}


def test_figures_on_a_hand_made_example():
    cases = [
        Case("c1", "A", "S", frozenset({"t1", "t2", "t3"})),
        Case("c2", "A", "S", frozenset({"t4", "t5"})),
        Case("c3", "B", "S", frozenset({"t6"})),
    ]
    findings = [
        finding("f1", "A", "t1", "t2"),  # 2 of 3: matches c1
        finding("f2", "A", "t4"),  # 1 of 2 = 50 %: not most → false alarm, c2 missed
        finding("f3", "A", "t9"),  # nothing in common
        finding("f4", "C", "t1"),  # a rule without labels
    ]
    report = backtest(findings, cases)
    by_rule = {s.rule: s.as_dict() for s in report.rules}
    assert by_rule["A"] == {"rule": "A", "cases": 2, "found": 1, "missed": 1, "findings": 3, "true_findings": 1,
                            "false_alarms": 2, "precision": 0.3333, "recall": 0.5, "f1": 0.4}
    assert by_rule["B"] == {"rule": "B", "cases": 1, "found": 0, "missed": 1, "findings": 0, "true_findings": 0,
                            "false_alarms": 0, "precision": None, "recall": 0.0, "f1": None}
    assert by_rule["C"]["false_alarms"] == 1 and by_rule["C"]["precision"] == 0.0
    overall = report.overall.as_dict()
    assert (overall["cases"], overall["found"], overall["findings"], overall["false_alarms"]) == (3, 1, 4, 3)
    assert (overall["precision"], overall["recall"], overall["f1"]) == (0.25, 0.3333, 0.2857)
    assert {m["case"]: m["reason"] for m in report.misses} == {
        "c2": "best finding f2 shares 1 of 2 movements (50%; more than 50% needed)",
        "c3": "rule B gave no finding",
    }
    assert {a["finding"]: a["reason"] for a in report.false_alarms} == {
        "f2": "closest case c2 shares 1 of its 2 movements (50%; more than 50% needed)",
        "f3": "shares no movement with any labelled case of its rule",
        "f4": "no labelled case of rule C",
    }
    # a lower bar makes f2 find c2
    assert backtest(findings, cases, min_share=0.4).overall.found == 2


@pytest.fixture
def case(tmp_path):
    folder = build_case(tmp_path / "case", load_case("election_mass_transfer"))
    assert rpa("scan", "--case", folder).exit_code == 0
    return folder


def test_backtest_with_a_labels_file(case, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "case_id,rule,subject,txn_ids\n"
        "K1,election_mass_transfer,P001,E1;E2;E3;E4;E5;E6;E7\n"
        "K2,split_packets,P008,L4;L5;L6\n",
        encoding="utf-8",
    )
    result = rpa("backtest", labels, "--format", "json", "--case", case)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    election = next(r for r in report["rules"] if r["rule"] == "election_mass_transfer")
    assert (election["cases"], election["found"], election["precision"], election["recall"]) == (1, 1, 1.0, 1.0)
    assert report["misses"] == [{"case": "K2", "rule": "split_packets", "subject": "P008", "reason": "rule split_packets gave no finding"}]
    table = rpa("backtest", labels, "--case", case)
    assert "missed K2" in table.stdout and "overall" in table.stdout


def test_backtest_from_triage_decisions(case):
    fid = query(case, "SELECT id FROM findings WHERE rule = 'election_mass_transfer'")[0][0]
    assert rpa("triage", fid, "--status", "confirmed", "--by", "tester", "--case", case).exit_code == 0
    report = json.loads(rpa("backtest", "--triage", "--format", "json", "--case", case).stdout)
    assert report["overall"]["found"] == 1 and report["overall"]["false_alarms"] == 0
    assert rpa("triage", fid, "--status", "dismissed", "--by", "tester", "--case", case).exit_code == 0
    report = json.loads(rpa("backtest", "--triage", "--format", "json", "--case", case).stdout)
    assert report["overall"]["cases"] == 0 and report["overall"]["false_alarms"] == 1
    assert report["false_alarms"][0]["reason"].startswith("matches known false alarm")


def test_bad_labels_are_one_line(case, tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("case_id,rule\nK1,x\n", encoding="utf-8")
    result = rpa("backtest", bad, "--case", case)
    assert result.exit_code == 2 and "labels need the columns" in result.stderr
    assert rpa("backtest", "--case", case).exit_code == 2
