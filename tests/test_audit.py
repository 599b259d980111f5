"""`rpa log` and `rpa verify`: an append-only, hash-chained record of who did what to
a case, and a check that the files and the record are still what they were."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

import duckdb
import pytest

from analyzer.audit import default_actor
from tests.helpers import query, rpa
from tests.rule_world import build_case, load_case

RULE = "election_mass_transfer"


@pytest.fixture
def case(tmp_path):
    """A real case with a logged history: roster, ingest, scan, triage, suppression."""
    case = build_case(tmp_path / "case", load_case(RULE))
    assert rpa("scan", "--rule", RULE, "--by", "李明", "--case", case).exit_code == 0
    fid = query(case, "SELECT id FROM findings")[0][0]
    assert rpa("triage", fid, "--status", "confirmed", "--note", "核实", "--by", "李明", "--case", case).exit_code == 0
    assert rpa("suppress", "--rule", RULE, "--subject", "P008", "--until", "2099-12-31", "--why", "payroll",
               "--by", "王五", "--case", case).exit_code == 0
    return case


def log(case, *args) -> list[dict]:
    result = rpa("log", "--format", "json", *args, "--case", case)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def sql(case, statement, params=None):
    con = duckdb.connect(str(case / "rpa.duckdb"))
    try:
        con.execute(statement, params or [])
    finally:
        con.close()


def test_every_change_is_logged_with_who_and_what(case):
    entries = log(case)
    assert [(e["seq"], e["action"], e["actor"]) for e in entries] == [
        (1, "roster", default_actor()), (2, "ingest", default_actor()), (3, "scan", "李明"), (4, "triage", "李明"), (5, "suppress", "王五"),
    ]
    roster, ingest, scan, triage, suppress = (e["details"] for e in entries)
    assert roster["persons"] == 9 and roster["relations"] == 1
    assert roster["files"][0]["sha256"] == hashlib.sha256((case / "people.csv").read_bytes()).hexdigest()
    (sha, path, loaded) = query(case, "SELECT sha256, path, rows_loaded FROM sources")[0]
    assert ingest["sha256"] == sha == hashlib.sha256((case / "movements.csv").read_bytes()).hexdigest()
    assert (ingest["source_id"], ingest["path"], ingest["loaded"], ingest["rejected"]) == (1, path, loaded, 0) == (1, path, len(load_case(RULE)["transactions"]), 0)
    (rule,) = scan["rules"]
    assert rule["id"] == RULE and rule["params"]["min_recipients"] == 5
    assert rule["sha256"] == hashlib.sha256(open(rule["path"], "rb").read()).hexdigest()
    assert (scan["scope"], scan["findings"], scan["new"], scan["stale"]) == ("all", 1, 1, 0)
    fid = query(case, "SELECT id FROM findings")[0][0]
    assert (triage["finding_id"], triage["previous"], triage["status"], triage["note"], triage["scan_id"]) == (fid, "new", "confirmed", "核实", 1)
    assert len(triage["evidence"]) == 7
    assert (suppress["subject"], suppress["until"], suppress["why"]) == ("P008", "2099-12-31", "payroll")
    table = rpa("log", "--case", case).stdout
    assert "movements.csv" in table and "new → confirmed" in table and "王五" in table


def test_the_chain_is_the_documented_sha256(case):
    prev = "0" * 64
    for e in log(case):
        body = json.dumps({k: e[k] for k in ("seq", "at", "actor", "action", "details")},
                          ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        assert e["prev_hash"] == prev
        assert e["hash"] == hashlib.sha256((prev + body).encode("utf-8")).hexdigest()
        prev = e["hash"]


def test_verify_says_all_is_intact(case):
    result = rpa("verify", "--case", case)
    assert result.exit_code == 0, result.output
    # the movements were derived again in a copy, removed after; the case is as it was
    assert sorted(p.name for p in case.iterdir() if p.name.startswith("rpa.verify")) == []
    assert rpa("verify", "--case", case).exit_code == 0 and query(case, "SELECT value FROM meta WHERE key = 'consolidated'") == [("yes",)]
    head = log(case)[-1]["hash"]
    assert "source 1 intact" in result.stdout and f"log intact: 5 entries; last entry 5, hash {head}" in result.stdout
    assert "all intact: 1 sources, 5 log entries" in result.stdout


def test_an_edited_entry_is_named(case):
    sql(case, "UPDATE audit_log SET details = replace(details, '核实', '未核实') WHERE seq = 4")
    result = rpa("verify", "--case", case)
    assert result.exit_code == 1
    assert "log broken: entry 4 was changed after it was written" in result.stdout
    assert "entry 3" not in result.stdout and "entry 5" not in result.stdout
    assert "NOT INTACT: log broken" in result.stdout


def test_an_edited_entry_with_a_recomputed_hash_breaks_the_next_link(case):
    from analyzer.audit import entry_hash

    (at, actor, action, details, prev) = query(case, "SELECT logged_at, actor, action, details, prev_hash FROM audit_log WHERE seq = 3")[0]
    forged = json.loads(details) | {"findings": 0}
    sql(case, "UPDATE audit_log SET details = ?, hash = ? WHERE seq = 3",
        [json.dumps(forged), entry_hash(prev, 3, at, actor, action, forged)])
    result = rpa("verify", "--case", case)
    assert result.exit_code == 1 and "log broken: entry 4 does not follow entry 3" in result.stdout


def test_a_deleted_entry_is_named(case):
    sql(case, "DELETE FROM audit_log WHERE seq = 2")
    result = rpa("verify", "--case", case)
    assert result.exit_code == 1 and "log broken: entry 2 is missing (deleted)" in result.stdout


def test_an_entry_added_twice_is_named(case):
    """The log has no key (rpa gives seq itself): a copy of an entry added later is
    caught by the chain check, not by the table."""
    sql(case, "INSERT INTO audit_log SELECT * FROM audit_log WHERE seq = 3")
    result = rpa("verify", "--case", case)
    assert result.exit_code == 1 and "log broken: entry 3 is there more than once" in result.stdout
    assert "missing" not in result.stdout


def test_a_deleted_last_entry_is_named(case):
    sql(case, "DELETE FROM audit_log WHERE seq = 5")
    result = rpa("verify", "--case", case)
    assert result.exit_code == 1 and "log broken: entry 5 is missing (deleted from the end of the log)" in result.stdout


def test_an_edited_source_file_is_changed(case):
    with open(case / "movements.csv", "a", encoding="utf-8") as f:
        f.write("X9,2026-02-01 10:00:00,wxid_wjg,wxid_p8,999.00,red_packet,success,wechat,,,,\n")
    result = rpa("verify", "--case", case)
    assert result.exit_code == 1
    assert f"source 1 changed: {case / 'movements.csv'}" in result.stdout
    assert "log intact" in result.stdout and "NOT INTACT: 1 changed; 0 of 1 sources intact" in result.stdout


def test_a_sources_row_edited_to_match_a_swapped_file_is_changed(case):
    sql(case, "UPDATE sources SET sha256 = ?", ["0" * 64])
    result = rpa("verify", "--case", case)
    assert result.exit_code == 1 and "source 1 changed" in result.stdout and "differs from log entry 2" in result.stdout


def test_a_missing_source_file_is_missing(case):
    (case / "movements.csv").unlink()
    result = rpa("verify", "--case", case)
    assert result.exit_code == 1
    assert f"source 1 missing: {case / 'movements.csv'}" in result.stdout and "NOT INTACT: 1 missing" in result.stdout


def test_log_since(case):
    assert len(log(case, "--since", date.today().isoformat())) == 5
    assert log(case, "--since", (date.today() + timedelta(days=1)).isoformat()) == []
    assert rpa("log", "--format", "xml", "--case", case).exit_code == 2


def test_what_changes_nothing_logs_nothing(case):
    before = len(log(case))
    assert rpa("ingest", case / "movements.csv", "--case", case).exit_code == 0  # already ingested
    assert rpa("triage", "FNOPE", "--status", "confirmed", "--case", case).exit_code == 2
    assert rpa("findings", "--case", case).exit_code == 0
    assert len(log(case)) == before


def test_the_actor_defaults_to_the_os_user_or_unknown(monkeypatch):
    import getpass

    from analyzer.audit import actor_name

    assert actor_name("  李明 ") == "李明"
    monkeypatch.setattr(getpass, "getuser", lambda: "investigator7")
    assert actor_name(None) == "investigator7" and actor_name("") == "investigator7"

    def no_user():
        raise OSError("no login name")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert actor_name(None) == "unknown"


def test_a_deleted_last_entry_stays_visible_after_more_commands(case):
    sql(case, "DELETE FROM audit_log WHERE seq = 5")
    fid = query(case, "SELECT id FROM findings")[0][0]
    assert rpa("triage", fid, "--status", "escalated", "--case", case).exit_code == 0
    result = rpa("verify", "--case", case)
    assert result.exit_code == 1 and "log broken: entry 5 is missing (deleted)" in result.stdout
    assert [e["seq"] for e in log(case)] == [1, 2, 3, 4, 6]


def test_a_decision_edited_in_the_database_is_caught(case):
    sql(case, "UPDATE triage SET status = 'dismissed', actor = '某人'")
    result = rpa("verify", "--case", case)
    assert result.exit_code == 1
    assert "records: triage decision 1 differs from log entry 4: changed after it was recorded" in result.stdout
    assert "log intact" in result.stdout


def test_a_decision_or_suppression_added_or_deleted_in_the_database_is_caught(case):
    fid = query(case, "SELECT id FROM findings")[0][0]
    sql(case, "INSERT INTO triage VALUES (2, ?, 'dismissed', NULL, '某人', now(), 1)", [fid])
    sql(case, "DELETE FROM suppressions")
    out = rpa("verify", "--case", case).stdout
    assert "records: triage decision 2 has no log entry: not recorded by rpa" in out
    assert "records: suppression 1 of log entry 5 is gone from the case (deleted)" in out


# --------------------------------------------------------------------------- the evidence itself


def verify_lines(case) -> tuple[int, list[str]]:
    result = rpa("verify", "--case", case)
    return result.exit_code, result.stdout.splitlines()


def test_verify_covers_the_evidence_when_nothing_changed(case):
    entries = log(case)
    ingest, scan = entries[1]["details"], entries[2]["details"]
    sightings = query(case, "SELECT count(*) FROM sightings")[0][0]
    assert ingest["digest"]["sightings"] == sightings and ingest["digest"]["rejects"] == 0
    assert len(ingest["digest"]["sha256"]) == 64 and scan["digest"]["findings"] == 1
    code, lines = verify_lines(case)
    assert code == 0
    movements = query(case, "SELECT count(*) FROM transactions")[0][0]
    assert (f"evidence intact: the rows of 1 source(s); findings: 1 as scan 1 left them; movements: {movements:,} movements, "
            "as the sightings and the roster give them") in lines


def test_an_edited_amount_is_named(case):
    # in what was read from the file: the sighting
    sid = query(case, "SELECT min(sighting_id) FROM sightings WHERE amount = 200")[0][0]
    sql(case, "UPDATE sightings SET amount = 20 WHERE sighting_id = ?", [sid])
    code, lines = verify_lines(case)
    assert code == 1
    assert "source 1 evidence changed: differs from the digest of log entry 2" in lines
    assert f"  sighting {sid} edited" in lines
    assert lines[-1].startswith("NOT INTACT:") and "data changed (source 1, movements)" in lines[-1]
    # put back, all is intact again: the digest is order-independent and exact
    sql(case, "UPDATE sightings SET amount = 200 WHERE sighting_id = ?", [sid])
    assert verify_lines(case)[0] == 0
    # in a movement derived from it: the sightings do not give it
    mid = query(case, "SELECT min(id) FROM transactions WHERE amount = 200")[0][0]
    sql(case, "UPDATE movement_rows SET amount = 20 WHERE id = ?", [mid])  # what `transactions` shows
    code, lines = verify_lines(case)
    assert code == 1
    assert "movements evidence changed: differ from the movements the sightings and the roster give" in lines
    assert f"  movement {mid} edited" in lines and "data changed (movements)" in lines[-1]


def test_a_deleted_finding_is_named(case):
    fid = query(case, "SELECT id FROM findings")[0][0]
    sql(case, "DELETE FROM findings WHERE id = ?", [fid])
    code, lines = verify_lines(case)
    assert code == 1
    assert f"  finding {fid} deleted" in lines
    assert not any(line.startswith("source 1 evidence") for line in lines)  # the rows read are as they were
    assert "data changed (findings)" in lines[-1]


def test_an_inserted_movement_is_named(case):
    sql(case, """INSERT INTO movement_rows SELECT * REPLACE (id + 1000 AS id, amount + 1 AS amount, line + 1000 AS line)
                 FROM movement_rows WHERE id = (SELECT min(id) FROM movement_rows)""")
    new_id = query(case, "SELECT max(id) FROM transactions")[0][0]
    code, lines = verify_lines(case)
    assert code == 1 and f"  movement {new_id} inserted" in lines
    assert "findings evidence changed" not in "\n".join(lines)  # no finding changed
    sql(case, "DELETE FROM movement_rows WHERE id = ?", [new_id])
    assert verify_lines(case)[0] == 0
    # a sighting of a source that was never ingested is named too
    sql(case, "INSERT INTO sightings SELECT * REPLACE (sighting_id + 2000 AS sighting_id, 99 AS source_id) FROM sightings LIMIT 1")
    code, lines = verify_lines(case)
    assert code == 1 and "source 99 evidence changed: rows of a source that was never ingested" in lines


def test_deleted_rows_and_their_fingerprints_are_still_caught(case):
    """Deleting a sighting and its fingerprint leaves the fingerprints short of the logged
    digest: still changed, and said so."""
    sid = query(case, "SELECT max(sighting_id) FROM sightings")[0][0]
    sql(case, "DELETE FROM sightings WHERE sighting_id = ?", [sid])
    sql(case, "DELETE FROM fingerprints WHERE row_kind = 'sighting' AND item = ?", [sid])
    code, lines = verify_lines(case)
    assert code == 1
    assert "source 1 evidence changed: differs from the digest of log entry 2; its fingerprints were changed too, so the rows named may not be all" in lines


def test_later_files_and_roster_loads_leave_earlier_evidence_intact(tmp_path):
    """What later commands legitimately change (the other side's sighting of a movement,
    persons resolved by a new roster, a re-scan) is not a change of the evidence."""
    from tests.conftest import ROOT

    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    sample = ROOT / "sample_data"
    wechat = sorted((sample / "wechat").iterdir())[:6]
    for folder in wechat:  # one at a time: each later bill merges sightings into earlier movements
        assert rpa("ingest", folder, "--case", case).exit_code in (0, 1)
    assert query(case, "SELECT count(*) FROM duplicates")[0][0] > 0
    assert rpa("roster", sample / "people.csv", "--relations", sample / "relations.csv", "--case", case).exit_code == 0
    assert query(case, "SELECT count(*) FROM transactions WHERE payer_person IS NOT NULL")[0][0] > 0
    assert rpa("scan", "--case", case).exit_code == 0
    assert rpa("scan", "--case", case).exit_code == 0
    code, lines = verify_lines(case)
    assert code == 0, lines
    assert f"evidence intact: the rows of {len(wechat)} source(s)" in "\n".join(lines)


def test_a_case_from_before_the_digests_says_what_is_not_recorded(case):
    """Entries written before the digests existed hold none: verify says the evidence
    is not recorded (it cannot tell), and is otherwise intact; the next scan records."""
    sql(case, "DELETE FROM fingerprints")
    # the log as an older rpa wrote it: no digest in the ingest and scan entries, chain rebuilt
    from analyzer.audit import GENESIS, HEAD_KEY, entry_hash

    rows = query(case, "SELECT seq, logged_at, actor, action, details FROM audit_log ORDER BY seq")
    con = duckdb.connect(str(case / "rpa.duckdb"))
    prev = GENESIS
    for seq, at, actor, action, details in rows:
        d = json.loads(details)
        d.pop("digest", None)
        text = json.dumps(d, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        digest = entry_hash(prev, seq, at, actor, action, d)
        con.execute("UPDATE audit_log SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?", [text, prev, digest, seq])
        prev = digest
    con.execute("UPDATE meta SET value = ? WHERE key = ?", [f"{rows[-1][0]} {prev}", HEAD_KEY])
    con.close()
    code, lines = verify_lines(case)
    assert code == 0, lines
    assert "evidence not recorded for source 1, findings: written by an rpa that logged no digest" in lines
    assert rpa("scan", "--rule", RULE, "--case", case).exit_code == 0
    code, lines = verify_lines(case)
    assert code == 0 and any(line.startswith("evidence intact: findings: 1 as scan 2 left them; movements:") for line in lines)


def test_verify_digests_many_sources_a_chunk_at_a_time_and_still_names_the_one_changed(tmp_path, monkeypatch):
    # verify digests the sources' rows in chunks of owners (an ordered aggregate over all
    # 13.6M rows of a 10M case ran out of memory): chunks of two or three files here,
    # and each source is still judged on its own.
    import analyzer.audit as audit
    from tests.helpers import write_canonical

    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    for k in range(5):
        write_canonical(tmp_path / f"m{k}.csv", [
            {"txn_id": f"T{k}-{i}", "ts": f"2026-01-0{k + 1} 10:00:0{i}", "payer": f"a{k}", "payee": f"b{k}", "amount": f"{i + 1}.00"}
            for i in range(3)])
        assert rpa("ingest", tmp_path / f"m{k}.csv", "--case", case).exit_code == 0
    monkeypatch.setattr(audit, "DIGEST_CHUNK_ROWS", 4)
    code, lines = verify_lines(case)
    assert code == 0 and "evidence intact: the rows of 5 source(s)" in " ".join(lines)
    sid = query(case, "SELECT sighting_id FROM sightings WHERE txn_id = 'T3-1'")[0][0]
    sql(case, "UPDATE sightings SET amount = 9 WHERE sighting_id = ?", [sid])
    code, lines = verify_lines(case)
    assert code == 1
    changed = [l for l in lines if "evidence changed" in l and l.startswith("source")]
    assert changed == ["source 4 evidence changed: differs from the digest of log entry 4"], lines
    assert f"  sighting {sid} edited" in lines
