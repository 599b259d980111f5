"""The whole-case derivation in bounded memory.

A 10M-movement case derives under the default 512 MB limit (README, Speed). The same
shape, scaled down: a Tenpay production of 100,000 movements (one file per account,
both sides of every movement present) derives whole under a 120 MB limit, and gives
what the derivation with ample memory gave. The derivation before it ran out of
memory there (it needed about 160 MB): it held wide rows of every sighting in its
joins, a list of each node's files, and ran inside one transaction, which keeps every
dropped temporary table until the commit.
"""

from __future__ import annotations

import shutil

from analyzer import db
from analyzer.ingest.consolidate import derive_movements
from tests.helpers import query, rpa

DERIVED = {
    "movements": """SELECT count(*), sum(amount), sum(hash(id, txn_id, match_id, packet_id, ts, payer, payee, payer_name,
                        payee_name, amount, kind, status, memo, refund_ref, refund_of, seen_by_payer, seen_by_payee,
                        source_id, line, payer_person, payee_person)) FROM movement_rows""",
    "sightings": "SELECT count(*), sum(hash(sighting_id, movement_id, matched_on)) FROM sighting_movements",
    "notes": "SELECT count(*), sum(hash(movement_id, note)) FROM match_notes",
    "sources": "SELECT sum(rows_loaded), sum(rows_duplicate) FROM sources",
}


def _derived(case) -> dict:
    return {name: query(case, sql) for name, sql in DERIVED.items()}


def test_a_100k_movement_production_derives_whole_under_a_120_mb_memory_limit(tmp_path, monkeypatch):
    world, case = tmp_path / "world", tmp_path / "case"
    assert rpa("synth", world, "--movements", "100000", "--format", "tenpay", "--seed", "3").exit_code == 0
    assert rpa("init", case).exit_code == 0
    shutil.copy(world / "rpa.toml", case / "rpa.toml")
    assert rpa("ingest", world, "--case", case).exit_code in (0, 1)  # 1: the world's non-export files are listed
    ample = _derived(case)
    assert ample["sightings"][0][0] > 130_000 and ample["movements"][0][0] > 85_000

    monkeypatch.setenv("RPA_MEMORY_LIMIT", "120MB")
    con = db.connect(case / "rpa.duckdb")
    try:
        # as many threads as the machine this was measured on: each thread holds its own
        # share of a join or an aggregate, so more threads need more memory
        con.execute("SET threads = 2")
        derive_movements(con)  # without the files just loaded: the whole case
        assert con.execute("SELECT value FROM meta WHERE key = 'consolidated'").fetchall() == [("yes",)]
    finally:
        con.close()
    assert _derived(case) == ample
