"""Ingest mechanics on rpa's canonical format: loading, rejects, idempotence, dedupe of
one movement seen from both sides, atomicity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal

import pytest

from tests.helpers import query, rpa, write_canonical


@pytest.fixture
def case(tmp_path):
    folder = tmp_path / "case"
    assert rpa("init", folder).exit_code == 0
    return folder


def movement(txn_id, ts, payer, payee, amount, **extra):
    return {"txn_id": txn_id, "ts": ts, "payer": payer, "payee": payee, "amount": amount, **extra}


def test_canonical_rows_load_with_types_and_provenance(case, tmp_path):
    src = write_canonical(
        tmp_path / "m.csv",
        [
            movement("A1", "2026-01-10 09:00:00", "张三", "李四", "200.00", kind="red_packet", memo="恭喜发财", channel="wechat"),
            movement("A2", "2026-01-10 09:05:30", "张三", "李四", "0.01", kind="transfer", status="pending", channel="wechat"),
        ],
    )
    result = rpa("ingest", src, "--case", case)
    assert result.exit_code == 0, result.output
    assert "2 movements added" in result.stdout
    rows = query(case, "SELECT txn_id, ts::VARCHAR, payer, payee, amount, kind, status, channel, memo, line, source_id FROM transactions ORDER BY line")
    assert rows == [
        ("A1", "2026-01-10 09:00:00", "张三", "李四", Decimal("200.00"), "red_packet", "success", "wechat", "恭喜发财", 2, 1),
        ("A2", "2026-01-10 09:05:30", "张三", "李四", Decimal("0.01"), "transfer", "pending", "wechat", None, 3, 1),
    ]
    assert query(case, "SELECT typeof(amount), typeof(ts) FROM transactions LIMIT 1") == [("DECIMAL(18,2)", "TIMESTAMP")]
    (src_row,) = query(case, "SELECT format, rows_read, rows_loaded, rows_duplicate, rows_rejected, first_ts::VARCHAR, last_ts::VARCHAR, size, length(sha256), rpa_version FROM sources")
    assert src_row == ("canonical_csv", 2, 2, 0, 0, "2026-01-10 09:00:00", "2026-01-10 09:05:30", src.stat().st_size, 64, "0.1.0")


def test_extra_columns_are_kept_as_json(case, tmp_path):
    src = write_canonical(tmp_path / "m.csv", [movement("A1", "2026-01-10 09:00:00", "a", "b", "5", group_name="古云村党员群")])
    rpa("ingest", src, "--case", case)
    assert query(case, "SELECT raw FROM transactions") == [('{"group_name":"古云村党员群"}',)]


def test_bad_rows_are_rejected_with_line_and_reason_and_good_rows_load(case, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text(
        "txn_id,ts,payer,payee,amount,kind\n"
        "1,2026-01-01 10:00:00,a,b,10.00,transfer\n"  # line 2: good
        "2,2026-13-01 10:00:00,a,b,10.00,transfer\n"  # line 3: bad month
        "3,2026-01-01 10:00:00,a,b,ten,transfer\n"  # line 4: bad amount
        "4,2026-01-01 10:00:00,a,b\n"  # line 5: short row
        "5,2026-01-01 10:00:00,a,b,1.00,bribe\n"  # line 6: unknown kind
        "6,2026-01-01 10:00:00,a,b,-5.00,transfer\n"  # line 7: negative
        "7,2026-01-02 11:00:00,a,c,3.50,red_packet\n",  # line 8: good
        encoding="utf-8",
    )
    result = rpa("ingest", src, "--case", case)
    assert result.exit_code == 1
    assert "2 movements added" in result.stdout and "5 rows rejected" in result.stdout
    assert query(case, "SELECT txn_id, line FROM transactions ORDER BY line") == [("1", 2), ("7", 8)]
    rejects = dict(query(case, "SELECT line, reason FROM rejects ORDER BY line"))
    assert set(rejects) == {3, 4, 5, 6, 7}
    assert rejects[3] == "time does not parse: 2026-13-01 10:00:00"
    assert rejects[4] == "amount is not a decimal number of yuan with at most two decimals: ten"
    assert rejects[5] == "6 columns expected, 4 found"
    assert rejects[6] == "unknown kind: bribe"
    assert rejects[7] == "negative amount (amounts are unsigned; the direction says who paid): -5.00"
    assert query(case, "SELECT rows_read, rows_loaded, rows_rejected FROM sources") == [(7, 2, 5)]
    listing = rpa("rejects", "--case", case)
    assert "unknown kind: bribe" in listing.stdout


def test_ingesting_a_file_twice_adds_nothing(case, tmp_path):
    src = write_canonical(tmp_path / "m.csv", [movement("A1", "2026-01-10 09:00:00", "a", "b", "1")])
    rpa("ingest", src, "--case", case)
    again = rpa("ingest", src, "--case", case)
    assert again.exit_code == 0
    assert "already ingested as source 1; nothing added" in again.stdout
    assert query(case, "SELECT count(*) FROM transactions") == [(1,)]
    assert query(case, "SELECT count(*) FROM sources") == [(1,)]


def test_unknown_layout_is_one_line_and_exit_2(case, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\nworld\n", encoding="utf-8")
    result = rpa("ingest", junk, "--case", case)
    assert result.exit_code == 2
    assert "notes.txt: no known layout (tried WeChat Pay bill" in result.stderr
    assert result.stderr.count("\n") == 1
    assert query(case, "SELECT count(*) FROM sources") == [(0,)]


def test_missing_file_is_a_clear_error(case, tmp_path):
    result = rpa("ingest", tmp_path / "nope.csv", "--case", case)
    assert result.exit_code == 2 and "no such file or folder" in result.stderr


def test_folder_skips_files_of_no_layout(case, tmp_path):
    # more in test_skipped_files.py
    folder = tmp_path / "exports"
    folder.mkdir()
    write_canonical(folder / "m.csv", [movement("A1", "2026-01-10 09:00:00", "a", "b", "1")])
    (folder / "README.txt").write_text("not an export", encoding="utf-8")
    result = rpa("ingest", folder, "--case", case)
    assert result.exit_code == 1  # a .txt no layout recognised may be an export
    assert "README.txt: skipped, no known layout, though it looks like an export" in result.stderr
    assert query(case, "SELECT count(*) FROM transactions") == [(1,)]


def test_one_movement_in_payer_and_payee_exports_is_stored_once(case, tmp_path):
    # The payer's export (out) and the payee's (in) carry different ids and times
    # 40 s apart: matched on parties, amount and time.
    payer_side = write_canonical(tmp_path / "payer.csv", [movement("P-1", "2026-02-01 20:00:00", "wx_zhang", "wx_li", "88.00", direction="out", kind="red_packet")])
    payee_side = write_canonical(tmp_path / "payee.csv", [movement("R-9", "2026-02-01 20:00:40", "wx_zhang", "wx_li", "88.00", direction="in", kind="red_packet")])
    rpa("ingest", payer_side, "--case", case)
    result = rpa("ingest", payee_side, "--case", case)
    assert "0 movements added, 1 already known" in result.stdout
    assert query(case, "SELECT txn_id, seen_by_payer, seen_by_payee FROM transactions") == [("P-1", True, True)]
    (dup,) = query(case, "SELECT d.source_id, d.line, t.txn_id, d.matched_on FROM duplicates d JOIN transactions t ON t.id = d.transaction_id")
    assert dup == (2, 2, "P-1", "parties+amount+time")
    assert query(case, "SELECT rows_duplicate FROM sources ORDER BY source_id") == [(0,), (1,)]


def test_shared_id_matches_whatever_the_time(case, tmp_path):
    # A red packet grabbed hours after it was sent: both bills carry the packet id.
    send = write_canonical(tmp_path / "s.csv", [movement("S1", "2026-02-01 08:00:00", "a", "b", "66.00", match_id="1000039901202602010000000000001", direction="out")])
    grab = write_canonical(tmp_path / "g.csv", [movement("G7", "2026-02-01 19:30:00", "a", "b", "66.00", match_id="1000039901202602010000000000001", direction="in")])
    rpa("ingest", send, "--case", case)
    rpa("ingest", grab, "--case", case)
    assert query(case, "SELECT txn_id, seen_by_payer, seen_by_payee FROM transactions") == [("S1", True, True)]
    assert query(case, "SELECT matched_on FROM duplicates") == [("shared id",)]


def test_split_packets_pair_one_to_one_not_all_onto_one(case, tmp_path):
    # Five 200-yuan packets 20 s apart, seen from both sides: five movements, not one.
    times = [f"2026-02-10 10:00:{s:02d}" for s in (0, 20, 40)] + ["2026-02-10 10:01:00", "2026-02-10 10:01:20"]
    out = [movement(f"O{i}", t, "boss", "official", "200.00", direction="out", kind="red_packet") for i, t in enumerate(times)]
    # the payee's bill shows each packet 5 s later than the payer's
    later = [t[:-2] + f"{int(t[-2:]) + 5:02d}" for t in times]
    inn = [movement(f"I{i}", t, "boss", "official", "200.00", direction="in", kind="red_packet") for i, t in enumerate(later)]
    rpa("ingest", write_canonical(tmp_path / "o.csv", out), "--case", case)
    result = rpa("ingest", write_canonical(tmp_path / "i.csv", inn), "--case", case)
    assert "0 movements added, 5 already known" in result.stdout
    assert query(case, "SELECT count(*), sum(amount), bool_and(seen_by_payer AND seen_by_payee) FROM transactions") == [(5, Decimal("1000.00"), True)]
    # each stored packet matched exactly once
    assert query(case, "SELECT count(DISTINCT transaction_id) FROM duplicates") == [(5,)]


def test_same_side_twice_with_other_ids_is_not_merged(case, tmp_path):
    # Two real packets of the same amount a minute apart, both in the payer's bill:
    # not duplicates of each other.
    rows = [movement("X1", "2026-02-10 10:00:00", "a", "b", "200", direction="out"), movement("X2", "2026-02-10 10:01:00", "a", "b", "200", direction="out")]
    rpa("ingest", write_canonical(tmp_path / "x.csv", rows), "--case", case)
    assert query(case, "SELECT count(*) FROM transactions") == [(2,)]


def test_movements_outside_the_time_window_do_not_match(case, tmp_path):
    rpa("ingest", write_canonical(tmp_path / "a.csv", [movement("A", "2026-02-10 10:00:00", "a", "b", "50", direction="out")]), "--case", case)
    rpa("ingest", write_canonical(tmp_path / "b.csv", [movement("B", "2026-02-10 10:02:01", "a", "b", "50", direction="in")]), "--case", case)
    assert query(case, "SELECT count(*) FROM transactions") == [(2,)]


def test_same_row_twice_in_one_file_loads_once(case, tmp_path):
    rows = [movement("T1", "2026-03-01 10:00:00", "a", "b", "9.90")] * 2 + [movement("T2", "2026-03-01 10:00:00", "a", "b", "9.90")]
    result = rpa("ingest", write_canonical(tmp_path / "d.csv", rows), "--case", case)
    assert "2 movements added, 1 already known" in result.stdout
    assert query(case, "SELECT matched_on, line FROM duplicates") == [("same row", 3)]


def test_refund_links_to_its_original(case, tmp_path):
    rows = [
        movement("T1", "2026-03-01 10:00:00", "me", "friend", "200.00", kind="transfer", status="returned", direction="out"),
        movement("T1-R", "2026-03-02 10:00:00", "friend", "me", "200.00", kind="refund", refund_ref="T1", direction="in"),
        movement("P1", "2026-03-05 10:00:00", "me", None, "50.00", kind="group_red_packet", status="partly_refunded", direction="out"),
        movement("P1-R", "2026-03-06 10:00:01", "微信红包", "me", "12.30", kind="refund", direction="in"),
    ]
    rpa("ingest", write_canonical(tmp_path / "r.csv", rows), "--case", case)
    links = dict(query(case, "SELECT r.txn_id, o.txn_id FROM transactions r JOIN transactions o ON o.id = r.refund_of"))
    assert links == {"T1-R": "T1", "P1-R": "P1"}


def test_parquet_canonical_loads(case, tmp_path):
    import duckdb

    path = tmp_path / "m.parquet"
    duckdb.connect().execute(
        f"""COPY (SELECT 'Q' || i AS txn_id, '2026-04-0' || i || ' 12:00:00' AS ts, 'a' AS payer, 'b' AS payee,
                  (i * 1.5)::VARCHAR AS amount, 'transfer' AS kind FROM range(1, 4) r(i)) TO '{path}' (FORMAT parquet)"""
    )
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 0, result.output
    assert query(case, "SELECT txn_id, amount, line FROM transactions ORDER BY line") == [
        ("Q1", Decimal("1.50"), 1), ("Q2", Decimal("3.00"), 2), ("Q3", Decimal("4.50"), 3)
    ]
    assert query(case, "SELECT format FROM sources") == [("canonical_parquet",)]


def test_killed_ingest_leaves_nothing_half_loaded(case, tmp_path):
    src = write_canonical(tmp_path / "m.csv", [movement(f"K{i}", "2026-01-10 09:00:00", "a", f"p{i}", "1") for i in range(500)])
    env = {**os.environ, "RPA_PAUSE_AT": "ingest.before_commit:60"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "analyzer", "ingest", str(src), "--case", str(case)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # The rows are inserted, the transaction not yet committed: kill it there.
    line = proc.stderr.readline()
    assert "paused at ingest.before_commit" in line
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert query(case, "SELECT count(*) FROM transactions") == [(0,)]
    assert query(case, "SELECT count(*) FROM sources") == [(0,)]
    # The next run completes and loads the file whole.
    again = rpa("ingest", src, "--case", case)
    assert again.exit_code == 0
    assert query(case, "SELECT count(*) FROM transactions") == [(500,)]


def test_line_numbers_hold_on_a_large_file_with_rejects(case, tmp_path):
    # Large enough for DuckDB to read in parallel chunks: every stored row's line must
    # be its physical line (txn_id is written as the line number).
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write("txn_id,ts,payer,payee,amount\n")
        for line in range(2, 300_002):
            if line % 7919 == 0:
                f.write(f"{line},not a time,a,b,1.00\n")
            elif line % 10007 == 0:
                f.write(f"{line},2026-01-01 00:00:00,a\n")
            else:
                f.write(f"{line},2026-01-01 00:00:00,a,b,1.00\n")
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 1
    bad = {l for l in range(2, 300_002) if l % 7919 == 0 or l % 10007 == 0}
    assert query(case, "SELECT count(*), count(*) FILTER (WHERE CAST(txn_id AS BIGINT) <> line) FROM transactions") == [
        (300_000 - len(bad), 0)
    ]
    assert {r[0] for r in query(case, "SELECT line FROM rejects")} == bad


def test_line_numbers_and_repeats_on_a_large_file_without_rejects(case, tmp_path):
    # The path without rejects numbers rows straight from the staged table's order; every
    # 5000th line repeats the line before it (same txn_id and values): the same row twice.
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write("txn_id,ts,payer,payee,amount\n")
        for line in range(2, 250_002):
            txn = line - 1 if line % 5000 == 0 else line
            f.write(f"{txn},2026-01-01 00:00:00,a,b,{txn % 997}.25\n")
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 0, result.output
    repeats = {line for line in range(2, 250_002) if line % 5000 == 0}
    assert query(case, "SELECT count(*), count(*) FILTER (WHERE CAST(txn_id AS BIGINT) <> line) FROM transactions") == [
        (250_000 - len(repeats), 0)
    ]
    dupes = query(case, "SELECT d.line, t.line, d.matched_on FROM duplicates d JOIN transactions t ON t.id = d.transaction_id")
    assert sorted(dupes) == [(line, line - 1, "same row") for line in sorted(repeats)]


def test_canonical_file_without_ids_loads_every_row(case, tmp_path):
    # No txn_id column: nothing tells two equal rows apart as one movement, so both stay.
    rows = [{"ts": "2026-03-01 10:00:00", "payer": "a", "payee": "b", "amount": "9.90"}] * 2
    result = rpa("ingest", write_canonical(tmp_path / "n.csv", rows, ["ts", "payer", "payee", "amount"]), "--case", case)
    assert result.exit_code == 0, result.output
    assert query(case, "SELECT txn_id, line, amount FROM transactions ORDER BY line") == [
        (None, 2, Decimal("9.90")), (None, 3, Decimal("9.90"))
    ]


def test_extra_columns_named_like_internals_are_kept_as_data(case, tmp_path):
    # `rowid` would shadow DuckDB's row id and `c0` is how the stage names columns:
    # both are plain extra columns of the file, kept in raw, and lines stay right.
    path = tmp_path / "odd.csv"
    path.write_text(
        "c0,ts,amount,payer,payee,rowid\n"
        "x,2026-01-01 00:00:00,oops,a,b,zz\n"
        "y,2026-01-01 00:00:00,2.00,a,b,yy\n",
        encoding="utf-8",
    )
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 1, result.output
    assert query(case, "SELECT line, amount, raw FROM transactions") == [(3, Decimal("2.00"), '{"c0":"y","rowid":"yy"}')]
    assert query(case, "SELECT line, reason FROM rejects") == [(2, "amount is not a decimal number of yuan with at most two decimals: oops")]


def test_canonical_amounts_are_exact_or_rejected_in_csv_and_parquet(case, tmp_path):
    # 199.999 would round to 200.00, exactly the packet cap that split_packets looks for
    lines = ["txn_id,ts,payer,payee,amount", "A,2026-01-01 10:00:00,a,b,199.999", "B,2026-01-01 10:00:00,a,b,+5",
             "C,2026-01-01 10:00:00,a,b,1e3", "D,2026-01-01 10:00:00,a,b,5.5", "E,2026-01-01 10:00:00,a,b,200.00"]
    csv_path = tmp_path / "amounts.csv"
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert rpa("ingest", csv_path, "--case", case).exit_code == 1
    assert query(case, "SELECT txn_id, amount FROM transactions ORDER BY txn_id") == [("D", Decimal("5.50")), ("E", Decimal("200.00"))]
    reason = "amount is not a decimal number of yuan with at most two decimals: "
    assert query(case, "SELECT line, reason FROM rejects ORDER BY line") == [
        (2, reason + "199.999"), (3, reason + "+5"), (4, reason + "1e3")]
    # a Parquet file with the amount as a float: 199.999 is not a number of fen either
    import duckdb

    parquet = tmp_path / "amounts.parquet"
    duckdb.sql(f"""COPY (SELECT * FROM (VALUES ('P1', TIMESTAMP '2026-01-02 10:00:00', 'a', 'b', 199.999::DOUBLE),
                                             ('P2', TIMESTAMP '2026-01-02 11:00:00', 'a', 'b', 12.5::DOUBLE))
                       t(txn_id, ts, payer, payee, amount)) TO '{parquet}' (FORMAT parquet)""")
    assert rpa("ingest", parquet, "--case", case).exit_code == 1
    assert query(case, "SELECT txn_id, amount, line FROM transactions WHERE txn_id LIKE 'P%'") == [("P2", Decimal("12.50"), 2)]
    assert query(case, "SELECT line, reason FROM rejects WHERE source_id = 2") == [(1, reason + "199.999")]


def test_out_of_memory_is_one_line_and_the_same_ingest_with_more_memory_completes_the_case(tmp_path, monkeypatch):
    # A case bigger than DuckDB's memory limit is not the user's mistake nor a parser
    # bug: one line saying how to give DuckDB more, exit 2, nothing half-written; the
    # same command with more memory then gives the case a single run gives.
    from tests.conftest import ROOT

    sample = ROOT / "sample_data"
    small, full = tmp_path / "small", tmp_path / "full"
    for case in (small, full):
        assert rpa("init", case).exit_code == 0
    monkeypatch.setenv("RPA_MEMORY_LIMIT", "10MB")
    result = rpa("ingest", sample, "--case", small)
    assert result.exit_code == 2, result.output
    assert "rpa: DuckDB ran out of memory (limit 10MB)" in result.stderr
    assert "RPA_MEMORY_LIMIT=2GB" in result.stderr
    assert "Traceback" not in result.output and "rpa bug" not in result.output
    monkeypatch.delenv("RPA_MEMORY_LIMIT")
    assert rpa("status", "--case", small).exit_code == 0
    for case in (small, full):
        assert rpa("ingest", sample, "--case", case).exit_code in (0, 1)
    count = "SELECT count(*), sum(amount) FROM transactions"
    assert query(small, count) == query(full, count)
    assert query(small, "SELECT count(*) FROM sightings") == query(full, "SELECT count(*) FROM sightings")
    assert rpa("verify", "--case", small).exit_code == 0


@pytest.mark.parametrize("key", [None, "a key of the case"])
def test_a_big_ingest_derives_in_duckdb_opened_afresh_and_gives_the_same_case(tmp_path, monkeypatch, key):
    """A big ingest closes DuckDB and opens the case again before deriving the movements
    (what staging left resident would sit under the derivation's peak). Plain and
    encrypted, the case is the one an ingest without the reopen gives."""
    import shutil

    import analyzer.ingest as ingest
    from analyzer.params import CaseConnection
    from tests.conftest import ROOT

    env = {"RPA_KEY": key} if key else {}
    data = tmp_path / "data"
    shutil.copytree(ROOT / "sample_data", data)
    reopened = []
    real_reopen = CaseConnection.reopen

    def counted(self):
        reopened.append(1)
        real_reopen(self)

    monkeypatch.setattr(CaseConnection, "reopen", counted)
    seen = {}
    for rows, name in ((10**12, "kept"), (1, "reopened")):
        monkeypatch.setattr(ingest, "REOPEN_ROWS", rows)
        case = tmp_path / name
        assert rpa("init", *(["--encrypt"] if key else []), case, env=env).exit_code == 0
        assert rpa("ingest", data, "--case", case, env=env).exit_code in (0, 1)
        assert len(reopened) == (0 if name == "kept" else 1)
        # the derivation after the reopen finished: the case is marked derived
        sql = ("SELECT count(*), sum(amount), count(DISTINCT txn_id), sum(hash(id, payer, payee, ts, source_id, line)), "
               "(SELECT value FROM meta WHERE key = 'consolidated') FROM transactions")
        if key:
            from analyzer import db

            with db.connect(case / "rpa.duckdb", new_key=key) as con:
                seen[name] = con.execute(sql).fetchall()
        else:
            seen[name] = query(case, sql)
    assert seen["kept"] == seen["reopened"] and seen["kept"][0][0] > 2000 and seen["kept"][0][4] == "yes"
