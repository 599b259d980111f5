"""A finding keeps its identity as the case grows: when new data adds a movement to a
finding (a further kept gift, another night of a game), the scan gives it under the
same id, so its decisions stay with it, and it records what changed and what its status
was; a finding that shares nothing with it stays a finding of its own."""

from __future__ import annotations

import json

from tests.helpers import movement_keys, query, rpa, write_canonical
from tests.rule_world import TX_COLUMNS, build_case

WORLD = {
    "persons": [
        {"person_id": "P1", "name": "周志明", "accounts": ["wx_zhou"], "party_member": True, "official": True,
         "org_unit": "县住建局", "position": "科长", "rank": 3},
        {"person_id": "K1", "name": "韩建军", "accounts": ["wx_han"]},
        {"person_id": "K2", "name": "钱立", "accounts": ["wx_qian"]},
    ],
    "relations": [{"person_id": "K1", "other_id": "P1", "relation": "service_object"},
                  {"person_id": "K2", "other_id": "P1", "relation": "service_object"}],
    "transactions": [
        {"txn_id": "G1", "ts": "2026-03-10 20:00:00", "payer": "wx_han", "payee": "wx_zhou", "amount": 200},
        {"txn_id": "G2", "ts": "2026-03-24 20:00:00", "payer": "wx_han", "payee": "wx_zhou", "amount": 200},
        {"txn_id": "END", "ts": "2026-04-30 09:00:00", "payer": "wx_zhou", "payee": "某超市", "amount": 12, "kind": "merchant"},
    ],
}


def ingest(case, name, rows):
    full = [{c: r.get(c, "") for c in TX_COLUMNS} | {"kind": r.get("kind", "red_packet"), "status": "success",
                                                      "channel": "wechat", "amount": f"{r['amount']:.2f}"} for r in rows]
    assert rpa("ingest", write_canonical(case / name, full, TX_COLUMNS), "--case", case).exit_code == 0


def active(case):
    return {fid: (sorted(cps), sorted(r[0] for r in query(
                case, "SELECT t.txn_id FROM finding_evidence e JOIN transactions t ON t.id = e.transaction_id WHERE e.finding_id = ?", [fid])),
                  json.loads(metrics))
            for fid, cps, metrics in query(case, "SELECT id, counterparties, metrics FROM findings WHERE rule = 'unreturned_gift' AND NOT stale")}


def test_a_growing_finding_keeps_its_id_its_decision_and_says_what_changed(tmp_path):
    case = build_case(tmp_path / "case", WORLD)
    assert rpa("scan", "--rule", "unreturned_gift", "--case", case).exit_code == 0
    (fid,) = active(case)
    assert rpa("triage", fid, "--status", "confirmed", "--note", "谈话核实", "--by", "李明", "--case", case).exit_code == 0
    # new data: a third packet from the same contractor, and a first one from another
    ingest(case, "more.csv", [
        {"txn_id": "G3", "ts": "2026-04-07 20:00:00", "payer": "wx_han", "payee": "wx_zhou", "amount": 200},
        {"txn_id": "H1", "ts": "2026-04-08 20:00:00", "payer": "wx_qian", "payee": "wx_zhou", "amount": 500},
    ])
    assert rpa("scan", "--rule", "unreturned_gift", "--case", case).exit_code == 0
    found = active(case)
    assert set(found) >= {fid} and len(found) == 2
    cps, txns, metrics = found[fid]
    assert cps == ["K1"] and txns == ["G1", "G2", "G3"]
    (g3,) = query(case, "SELECT id FROM transactions WHERE txn_id = 'G3'")[0]
    assert metrics["_evidence_history"] == [{"scan_id": 2, "status": "confirmed", "subject_was": None, "added": [g3], "removed": []}]
    (other,) = set(found) - {fid}
    assert found[other][:2] == (["K2"], ["H1"]) and "_evidence_history" not in found[other][2]
    # the decision stays with it: still confirmed, never stale, first found by scan 1
    assert query(case, "SELECT stale, first_scan_id, scan_id FROM findings WHERE id = ?", [fid]) == [(False, 1, 2)]
    listed = json.loads(rpa("findings", "--format", "json", "--case", case).stdout)
    assert {f["id"]: f["status"] for f in listed} == {fid: "confirmed", other: "new"}
    # rpa show: the earlier decision and what changed since
    shown = rpa("show", fid, "--case", case).output
    assert "谈话核实" in shown and "scan 2 (status then: confirmed): +1 movement(s) [G3], −0" in shown
    # a re-scan of the same data changes nothing: same ids, the history not repeated
    assert rpa("scan", "--rule", "unreturned_gift", "--case", case).exit_code == 0
    again = active(case)
    assert set(again) == set(found) and again[fid][2]["_evidence_history"] == metrics["_evidence_history"]
    assert query(case, "SELECT count(*) FROM findings WHERE stale")[0][0] == 0


def test_a_game_that_gains_a_night_stays_the_same_finding(tmp_path):
    from datetime import datetime
    from decimal import Decimal

    from tests.test_gambling_games import Play, persons, sweep_mines

    play = Play(5)
    sweep_mines(play, datetime(2026, 9, 4, 22, 10), 20, Decimal(100), Decimal("1.5"), "red_packet")
    first = list(play.rows)
    sweep_mines(play, datetime(2026, 9, 6, 22, 30), 15, Decimal(100), Decimal("1.5"), "red_packet")
    case = build_case(tmp_path / "case", {"persons": persons(), "transactions": first})
    assert rpa("scan", "--rule", "red_packet_gambling", "--case", case).exit_code == 0
    ((fid, subject),) = query(case, "SELECT id, subject FROM findings")
    assert rpa("triage", fid, "--status", "escalated", "--case", case).exit_code == 0
    ingest(case, "night2.csv", [dict(r, amount=float(r["amount"])) for r in play.rows[len(first):]])
    assert rpa("scan", "--rule", "red_packet_gambling", "--case", case).exit_code == 0
    # the same finding, grown by a night, whoever is its biggest winner now
    ((same, stale, metrics, now),) = query(case, "SELECT id, stale, metrics, subject FROM findings")
    assert (same, stale) == (fid, False)
    metrics = json.loads(metrics)
    assert metrics["n_nights"] == 2
    (change,) = metrics["_evidence_history"]
    # (counted movement by movement: a round's total row is a sighting of its shares)
    added = movement_keys(case, [r["txn_id"] for r in play.rows[len(first):]])
    assert change["status"] == "escalated" and len(change["added"]) == len(added) and change["removed"] == []
    assert change["subject_was"] == (subject if now != subject else None)
