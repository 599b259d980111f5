"""`rpa scan`, `rpa findings`, `rpa show`, `rpa rules`: the engine around the rules."""

from __future__ import annotations

import json

import pytest

from tests.helpers import query, rpa
from tests.rule_world import build_case, load_case


@pytest.fixture
def case(tmp_path):
    return build_case(tmp_path / "case", load_case("election_mass_transfer"))


def test_findings_json_has_the_contract_keys(case):
    assert rpa("scan", "--rule", "election_mass_transfer", "--case", case).exit_code == 0
    result = rpa("findings", "--format", "json", "--case", case)
    assert result.exit_code == 0
    (f,) = json.loads(result.stdout)
    assert set(f) >= {"id", "rule", "severity", "score", "subject", "counterparties", "window", "start", "end",
                      "total_amount", "txn_count", "txn_ids", "reason"}
    assert f["rule"] == "election_mass_transfer" and f["subject"] == "P001" and f["severity"] == "high"
    assert f["counterparties"] == ["P002", "P003", "P004", "P005", "P006", "P007"]
    assert f["window"] == "2026 古云村换届"
    assert f["txn_ids"] == ["E1", "E2", "E3", "E4", "E5", "E6", "E7"]
    assert f["total_amount"] == "1455.54" and f["txn_count"] == 7
    assert f["start"] == "2026-01-12 20:10:05" and f["end"] == "2026-02-03 08:00:00"
    assert f["reason"] == "换届窗口「2026 古云村换届」内向古云村党支部6人（其中党员5名）发红包、转账7笔，共¥1,455.54（阈值：5人，超出1人）"
    assert f["score"] == 68.0  # 60 + 40 × (6 − 5) / 5


def test_thresholds_from_case_file_and_command_line(case):
    (case / "rpa.toml").write_text((case / "rpa.toml").read_text(encoding="utf-8") + "\n[rules.election_mass_transfer]\nmin_recipients = 7\n", encoding="utf-8")
    rpa("scan", "--rule", "election_mass_transfer", "--case", case)
    assert query(case, "SELECT count(*) FROM findings") == [(0,)]
    rpa("scan", "--rule", "election_mass_transfer", "--param", "election_mass_transfer.min_recipients=6", "--case", case)
    assert query(case, "SELECT count(*), any_value(params) FROM findings")[0][0] == 1
    assert json.loads(query(case, "SELECT params FROM findings")[0][0])["min_recipients"] == 6


def test_scan_replaces_the_findings_of_the_rules_it_ran(case):
    rpa("scan", "--rule", "election_mass_transfer", "--case", case)
    rpa("scan", "--rule", "election_mass_transfer", "--case", case)
    assert query(case, "SELECT count(*) FROM findings") == [(1,)]
    assert query(case, "SELECT count(*) FROM finding_evidence") == [(7,)]
    assert query(case, "SELECT count(*) FROM scans") == [(2,)]
    scans = json.loads(query(case, "SELECT rules FROM scans ORDER BY scan_id DESC LIMIT 1")[0][0])
    assert scans[0]["id"] == "election_mass_transfer" and len(scans[0]["sha256"]) == 64


def test_window_scope(case):
    assert rpa("scan", "--window", "promotion", "--rule", "election_mass_transfer", "--case", case).exit_code == 0
    assert query(case, "SELECT count(*) FROM findings") == [(0,)]
    assert rpa("scan", "--window", "2026 古云村换届", "--rule", "election_mass_transfer", "--case", case).exit_code == 0
    assert query(case, "SELECT count(*) FROM findings") == [(1,)]
    bad = rpa("scan", "--window", "2031 换届", "--case", case)
    assert bad.exit_code == 2 and "2026 古云村换届" in bad.stderr


def test_since_until_limit_the_movements(case):
    rpa("scan", "--rule", "election_mass_transfer", "--until", "2026-01-31", "--case", case)
    assert query(case, "SELECT count(*) FROM findings") == [(0,)]  # only 4 voters paid by then


def test_show_prints_reason_thresholds_and_evidence_with_provenance(case):
    rpa("scan", "--rule", "election_mass_transfer", "--case", case)
    fid = query(case, "SELECT id FROM findings")[0][0]
    result = rpa("show", fid, "--case", case)
    assert result.exit_code == 0
    assert "超出1人" in result.stdout and "min_recipients=5" in result.stdout
    assert "movements.csv:" in result.stdout and "E4" in result.stdout
    assert rpa("show", "FNOPE", "--case", case).exit_code == 2


def test_findings_csv_and_filters(case):
    rpa("scan", "--rule", "election_mass_transfer", "--case", case)
    csv_out = rpa("findings", "--format", "csv", "--case", case).stdout.splitlines()
    assert csv_out[0].startswith("id,rule,severity") and len(csv_out) == 2
    assert "E1;E2;E3" in csv_out[1]
    assert json.loads(rpa("findings", "--format", "json", "--severity", "low", "--case", case).stdout) == []
    english = json.loads(rpa("findings", "--format", "json", "--lang", "en", "--case", case).stdout)[0]["reason"]
    assert english.startswith("In election window '2026 古云村换届', paid 6 people of 古云村党支部 (5 of them Party members)")


def test_rules_list_and_show():
    listing = rpa("rules")
    assert listing.exit_code == 0 and "election_mass_transfer" in listing.stdout and "min_recipients=5" in listing.stdout
    shown = rpa("rules", "show", "election_mass_transfer")
    assert shown.exit_code == 0 and "第八十三条" in shown.stdout and "FROM mv" in shown.stdout
    assert rpa("rules", "show", "nope").exit_code == 2


def minimal_rule(rule_id: str, rationale: str, select: str) -> str:
    """A rule file with the fewest header keys rpa accepts, around `select`."""
    return (f'-- title = "{rule_id}"\n-- title_zh = "{rule_id}"\n-- severity = "low"\n-- regulation = "none"\n'
            f'-- rationale = "{rationale}"\n-- false_positives = ["none"]\n-- reason_zh = "x"\n-- reason_en = "x"\n{select}')


HOSTILE = minimal_rule("hostile", "tries to read a file outside the case during a scan", """
SELECT content AS subject, [] AS counterparties, NULL AS window_name, NULL AS start_ts, NULL AS end_ts,
       0 AS total_amount, 0 AS txn_count, [1] AS evidence, 0 AS score
FROM read_text('{path}')
""")


def test_a_rule_cannot_read_files_outside_the_case(case, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the key", encoding="utf-8")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "hostile.sql").write_text(HOSTILE.format(path=secret), encoding="utf-8")
    result = rpa("scan", "--rule", "hostile", "--rules-dir", folder, "--case", case)
    assert result.exit_code == 2
    assert "rule hostile failed" in result.stderr and "the key" not in result.output


HUNGRY = minimal_rule("hungry", "holds a list of twenty million numbers, which cannot spill to disk", """
SELECT 'x' AS subject, [] AS counterparties, NULL AS window_name, NULL AS start_ts, NULL AS end_ts,
       0 AS total_amount, len(list(range)) AS txn_count, [1] AS evidence, 0 AS score
FROM range(20000000)
""")


def test_a_rule_that_runs_out_of_memory_says_so_in_one_line_and_keeps_the_findings(case, tmp_path, monkeypatch):
    # Not a broken rule: the case (here the rule) needs more than DuckDB's memory limit.
    # The user gets the same line as anywhere else, with the way out, and the scan's
    # findings are not half-stored.
    assert rpa("scan", "--case", case).exit_code == 0
    before = query(case, "SELECT id, scan_id, stale FROM findings ORDER BY id")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "hungry.sql").write_text(HUNGRY, encoding="utf-8")
    monkeypatch.setenv("RPA_MEMORY_LIMIT", "64MB")
    result = rpa("scan", "--rules-dir", folder, "--case", case)
    assert result.exit_code == 2, result.output
    assert "rpa: DuckDB ran out of memory (limit 64MB)" in result.stderr and "RPA_MEMORY_LIMIT=2GB" in result.stderr
    assert "rule hungry failed" not in result.stderr and "Traceback" not in result.output
    monkeypatch.delenv("RPA_MEMORY_LIMIT")
    assert query(case, "SELECT id, scan_id, stale FROM findings ORDER BY id") == before and before


def test_finding_id_is_the_documented_hash(case):
    from analyzer.scan import finding_id

    rpa("scan", "--rule", "election_mass_transfer", "--case", case)
    (fid, subject) = query(case, "SELECT id, subject FROM findings")[0]
    evidence = [r[0] for r in query(case, "SELECT transaction_id FROM finding_evidence WHERE finding_id = ?", [fid])]
    assert fid == finding_id("election_mass_transfer", subject, evidence)


def test_calendar_command_prints_seasons_windows_and_events(case):
    result = rpa("calendar", "--year", "2026", "--case", case)
    assert result.exit_code == 0
    out = result.stdout
    spring = next(l for l in out.splitlines() if "Spring Festival" in l)
    assert "2026-02-10" in spring and "2026-03-03" in spring and "02-15–02-23 (9 d)" in spring and "02-14, 02-28" in spring
    assert "2026 古云村换届" in out and "2026-01-05" in out
    qingming = next(l for l in out.splitlines() if "Qingming" in l)
    assert "│ no " in qingming  # not a gift occasion by default
    assert rpa("calendar", "--year", "1989").exit_code == 2


def test_calendar_works_without_a_case(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RPA_CASE", raising=False)
    result = rpa("calendar", "--year", "2030")
    assert result.exit_code == 0 and "unknown" in result.stdout  # 2030 holidays not yet published


LABELS = """-- title = "labels"
-- title_zh = "标签"
-- severity = "low"
-- regulation = "none"
-- rationale = "names parties in its reason by value"
-- false_positives = ["none"]
-- reason_zh = "{payer_label}付给{counterparties_label}；对象{subject_label}"
-- reason_en = "{payer_label} paid {counterparties_label}; subject {subject_label}"
-- [labels.payer]
-- zh = "付款人"
-- en = "Payer"
SELECT payer_party AS subject, list(DISTINCT payee_party ORDER BY payee_party) AS counterparties, NULL AS window_name,
       min(ts) AS start_ts, max(ts) AS end_ts, sum(amount) AS total_amount, count(*) AS txn_count,
       list(id) AS evidence, 10 AS score, payer_party AS payer
FROM mv WHERE payer_party = 'P001' GROUP BY payer_party
"""


def test_reasons_label_parties_given_as_values(case, tmp_path):
    """`{X_label}` is made from the party in column X: name（id） for a roster person, the
    account otherwise, each element of a list; the rule builds no label itself."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "labels.sql").write_text(LABELS, encoding="utf-8")
    result = rpa("scan", "--rule", "labels", "--rules-dir", folder, "--case", case)
    assert result.exit_code == 0, result.output
    (zh, en, counterparties) = query(case, "SELECT reason_zh, reason_en, counterparties FROM findings WHERE rule = 'labels'")[0]
    names = dict(query(case, "SELECT person_id, name FROM persons"))
    label = {p: f"{names[p]}（{p}）" if names.get(p) else p for p in counterparties}
    assert zh == f"{names['P001']}（P001）付给{'、'.join(label[p] for p in sorted(counterparties))}；对象{names['P001']}（P001）"
    assert en.startswith(f"{names['P001']}（P001） paid ")
    assert any(p not in names for p in counterparties)  # an account: shown as it is
