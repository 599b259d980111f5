"""Sightings, then movements: one money movement seen in a WeChat bill (nicknames) and in
Tenpay productions (wxids, real names) is stored once, whatever the order in which the
exports and the roster arrive, with and without a roster.

The world, written in the real layouts (formats.md §1, §3): 老王 (wxid_laowang, 王大伟)
sends 张三 (wxid_zhangsan, nickname 三哥) a 200-yuan red packet, a 520-yuan transfer whose
bill id differs from Tenpay's, a 10-yuan group packet that 三哥 (4.00) and 李四 (2.80)
grab, its unclaimed 3.20 coming back as a refund, pays 京东 1,000 yuan and a shop's
收款码 10 yuan. Exports: 老王's WeChat bill (CSV or XLSX), 老王's and 张三's Tenpay
files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from analyzer.ingest import consolidate as consolidate_module
from tests import tenpay_samples as tp
from tests.helpers import query, rpa

TS = "2026-02-10 20:00:00"
T_RP = "100003980126021000000000000000000001"  # the packet's 交易单号: the sender's bill and Tenpay alike
M_RP = "1000039801202602100000000000001"  # its 商户单号
T_GRP = "100003980126021000000000000000000002"
M_GRP = "1000039801202602100000000000002"
T_TRANSFER_BILL = "1000050001202602100000000000003"  # the app's 转账单号: not Tenpay's
T_TRANSFER_TENPAY = "100005020126021000000000000000000003"
BIG_MERCHANT = "4200000000202602100000000004"  # the bill's 交易单号 = Tenpay's 大单号
BIG_QR = "53110000000000000000202602100005"

BILL_HEADER = ["交易时间", "交易类型", "交易对方", "商品", "收/支", "金额(元)", "支付方式", "当前状态", "交易单号", "商户单号", "备注"]
BILL_ROWS = [
    ["2026-02-10 20:00:00", "微信红包（单发）", "发给三哥", "/", "支出", "¥200.00", "零钱", "支付成功", T_RP, M_RP, "/"],
    ["2026-02-10 20:05:00", "转账", "三哥", "转账备注:还你的", "支出", "¥520.00", "零钱", "对方已收钱", T_TRANSFER_BILL, T_TRANSFER_BILL, "/"],
    ["2026-02-10 20:10:00", "微信红包（群红包）", "发出群红包", "/", "支出", "¥10.00", "零钱", "已退还(￥3.20)", T_GRP, M_GRP, "/"],
    ["2026-02-11 20:10:05", "微信红包-退款", "/", "/", "收入", "¥3.20", "/", "已存入零钱", "100003989826021100000000000000000006", M_GRP, "/"],
    ["2026-02-10 20:20:00", "商户消费", "京东", "日用品", "支出", "¥1,000.00", "零钱", "支付成功", BIG_MERCHANT, "JD0000000004", "/"],
    ["2026-02-10 20:30:00", "扫二维码付款", "小卖部", "收款方备注:二维码收款", "支出", "¥10.00", "零钱", "已转账", BIG_QR, BIG_QR, "/"],
]
PREAMBLE = [
    "微信支付账单明细", "微信昵称：[老王]", "起始时间：[2026-02-01 00:00:00] 终止时间：[2026-02-28 23:59:59]",
    "导出类型：[全部]", "导出时间：[2026-03-01 09:00:00]", "", "共6笔记录", "收入：1笔 3.20元", "支出：5笔 1740.00元",
    "中性交易：0笔 0.00元", "注：", "1. 充值/提现/理财通购买/零钱通存取/信用卡还款等交易，将计入中性交易",
    "2. 本明细仅展示当前账单中的交易，不包括已删除的记录", "3. 本明细仅供个人对账使用", "",
    "----------------------微信支付账单明细列表--------------------",
]


def write_bill_csv(path: Path) -> Path:
    lines = [line + "," * 10 for line in PREAMBLE] + [",".join(BILL_HEADER)]
    lines += [",".join(c + ("\t" if i in (8, 9) else "") for i, c in enumerate(r)).replace("¥1,000.00", '"¥1,000.00"') for r in BILL_ROWS]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    return path


def write_bill_xlsx(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    for text in PREAMBLE[:14] + ["4. 本账单中所有时间均为UTC+08:00时间"] + PREAMBLE[14:]:
        ws.append([text or None])
    ws.append(BILL_HEADER)
    for r in BILL_ROWS:
        cells = list(r)
        cells[5] = float(Decimal(r[5].strip("¥").replace(",", "")))  # the 2026 layout: amounts as numbers
        cells[8], cells[9] = r[8] + "\t", r[9] + "\t"
        ws.append(cells)
    for row in ws.iter_rows(min_row=19, min_col=6, max_col=6):
        row[0].number_format = "\\¥#,##0.00"
    wb.save(path)
    return path


def write_tenpay(folder: Path) -> list[Path]:
    laowang = dict(uid="wxid_laowang", name="王大伟")
    zhangsan = dict(uid="wxid_zhangsan", name="张三")
    merchant = tp.merchant_direct(merchant="京东", spid="1900000009", fen=100000, ts="2026-02-10 20:20:01", product="日用品", **laowang)
    merchant["大单号"] = BIG_MERCHANT
    qr = tp.qr_payment(payee="wxid_shop", payee_name="孙八", code_name="小卖部", fen=1000, ts="2026-02-10 20:30:00", **laowang)
    qr["大单号"] = BIG_QR
    rows_laowang = [
        tp.red_packet_out(peer="wxid_zhangsan", peer_name="张三", fen=20000, ts=TS, txn=T_RP, **laowang),
        tp.transfer_out(peer="wxid_zhangsan", peer_name="张三", fen=52000, ts="2026-02-10 20:05:01", memo="还你的",
                        txn=T_TRANSFER_TENPAY, **laowang),
        *tp.group_red_packet(total_fen=1000, shares=[("wxid_zhangsan", "张三", 400), ("wxid_lisi", "李四", 280)],
                             ts="2026-02-10 20:10:00", txn=T_GRP, **laowang),
        merchant,
        qr,
    ]
    rows_zhangsan = [
        tp.red_packet_in(payer="wxid_laowang", payer_name="王大伟", fen=20000, ts="2026-02-10 20:00:02", **zhangsan),
        tp.transfer_in(payer="wxid_laowang", payer_name="王大伟", fen=52000, ts="2026-02-10 20:05:01", memo="还你的",
                       txn=T_TRANSFER_TENPAY, **zhangsan),
        tp.red_packet_in(payer="wxid_laowang", payer_name="王大伟", fen=400, ts="2026-02-10 20:10:01", **zhangsan),
    ]
    paths = []
    for account, rows in (("wxid_laowang", rows_laowang), ("wxid_zhangsan", rows_zhangsan)):
        path = folder / account / "TenpayTrades.txt"
        path.parent.mkdir(parents=True)
        tp.write_trades(path, rows)
        paths.append(path.parent)
    return paths


PEOPLE = "person_id,name,accounts,party_member,official,org_unit,position,rank\n" \
         "P1,王大伟,wxid_laowang;老王,yes,yes,古云村党支部,支部书记,3\n" \
         "P2,张三,wxid_zhangsan;三哥,yes,no,古云村党支部,党员,\n" \
         "P3,李四,wxid_lisi,no,no,,,\n"

# (kind, amount) of every movement of the world: shares counted, the packet's total
# only for its unclaimed rest, which the refund gives back.
EXPECTED = sorted([
    ("red_packet", Decimal("200.00")), ("transfer", Decimal("520.00")),
    ("group_red_packet", Decimal("4.00")), ("group_red_packet", Decimal("2.80")), ("group_red_packet", Decimal("3.20")),
    ("refund", Decimal("3.20")), ("merchant", Decimal("1000.00")), ("qr_payment", Decimal("10.00")),
])


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    people = folder / "people.csv"
    people.write_text(PEOPLE, encoding="utf-8")
    tenpay = folder / "tenpay"
    tenpay.mkdir()
    write_tenpay(tenpay)
    return {
        "people": people,
        "tenpay": tenpay,
        "bill_csv": write_bill_csv(folder / "微信支付账单(20260201-20260228).csv"),
        "bill_xlsx": write_bill_xlsx(folder / "微信支付账单流水文件(20260201-20260228).xlsx"),
    }


def _load(case: Path, steps: list[str], exports: dict) -> None:
    assert rpa("init", case).exit_code == 0
    for step in steps:
        if step == "roster":
            result = rpa("roster", exports["people"], "--case", case)
        else:
            result = rpa("ingest", exports[step], "--case", case)
        assert result.exit_code == 0, result.output


def _movements(case: Path) -> list[tuple]:
    return sorted(query(case, "SELECT kind, amount FROM transactions"))


def _derived(case: Path) -> tuple:
    return (
        query(case, "SELECT * EXCLUDE (raw) FROM transactions ORDER BY id"),
        query(case, "SELECT * FROM sighting_movements ORDER BY sighting_id"),
        query(case, "SELECT * FROM match_notes ORDER BY ALL"),
        query(case, "SELECT source_id, rows_loaded, rows_duplicate FROM sources ORDER BY source_id"),
        query(case, "SELECT * FROM alias_links ORDER BY ALL"),
        query(case, "SELECT * FROM alias_evidence ORDER BY ALL"),
    )


def _derive_all(case: Path) -> None:
    from analyzer import db
    from analyzer.ingest.consolidate import consolidate

    con = db.connect(case / "rpa.duckdb")
    try:
        with db.transaction(con):
            consolidate(con)
    finally:
        con.close()


def _ids(case: Path) -> list[tuple]:
    """Each movement as the set of the exports' ids its sightings carry."""
    return sorted(
        tuple(sorted(set(r[1]))) for r in query(
            case,
            """SELECT l.movement_id, list(coalesce(s.txn_id, '') ORDER BY s.txn_id)
               FROM sighting_movements l JOIN sightings s USING (sighting_id) GROUP BY l.movement_id""",
        )
    )


@pytest.mark.parametrize("bill", ["bill_csv", "bill_xlsx"])
def test_a_movement_in_a_bill_and_in_tenpay_is_stored_once_without_a_roster(exports, tmp_path, bill):
    case = tmp_path / "case"
    _load(case, [bill, "tenpay"], exports)
    assert _movements(case) == EXPECTED
    # the red packet: the bill's row, 老王's Tenpay row and 张三's Tenpay row
    assert query(case, "SELECT seen_by_payer, seen_by_payee, payer, payee FROM transactions WHERE kind = 'red_packet'") == [
        (True, True, "wxid_laowang", "wxid_zhangsan")
    ]
    how = dict(query(case, """SELECT s.txn_id, l.matched_on FROM sightings s JOIN sighting_movements l USING (sighting_id)
                              JOIN sources USING (source_id) WHERE sources.format LIKE 'wechat%'"""))
    # the transfer shares no id: matched through the nicknames learned from the movements
    # that do (a merchant's and a 收款码's names too)
    assert query(case, "SELECT alias, account, status FROM alias_links ORDER BY alias") == [
        ("三哥", "wxid_zhangsan", "used"), ("京东", "京东(1900000009)", "used"), ("小卖部", "wxid_shop", "used"),
        ("老王", "wxid_laowang", "used"),
    ]
    transfer = query(case, "SELECT id FROM transactions WHERE kind = 'transfer'")[0][0]
    assert query(case, "SELECT count(*) FROM sighting_movements WHERE movement_id = ?", [transfer]) == [(3,)]
    # merchant and QR payments: the bill's 交易单号 is Tenpay's 大单号
    assert query(case, "SELECT kind, seen_by_payer FROM transactions WHERE kind IN ('merchant', 'qr_payment') ORDER BY kind") == [
        ("merchant", True), ("qr_payment", True)
    ]
    assert how[BIG_MERCHANT] == how[BIG_QR] == "first"  # the bill came first: its rows gave the ids
    # the group packet: the bill's total is counted as its shares; the unclaimed rest is
    # the movement the refund gives back
    rest = query(case, "SELECT id, packet_id FROM transactions WHERE kind = 'group_red_packet' AND payee IS NULL")
    assert len(rest) == 1 and rest[0][1] == M_GRP
    assert query(case, "SELECT refund_of FROM transactions WHERE kind = 'refund'") == [(rest[0][0],)]
    assert query(case, "SELECT count(DISTINCT packet_id) FROM transactions WHERE kind = 'group_red_packet'") == [(1,)]


# Six of the 24 orders (all 24 passed when written; 2 minutes): the roster first, last
# and between, each export first and last.
ORDERS = [
    ("roster", "bill_csv", "bill_xlsx", "tenpay"),
    ("tenpay", "bill_xlsx", "bill_csv", "roster"),
    ("bill_csv", "roster", "tenpay", "bill_xlsx"),
    ("bill_xlsx", "tenpay", "roster", "bill_csv"),
    ("tenpay", "roster", "bill_csv", "bill_xlsx"),
    ("bill_csv", "tenpay", "bill_xlsx", "roster"),
]


@pytest.mark.parametrize("share", [None, 1.01], ids=["default", "always-around-the-change"])
def test_every_order_of_exports_and_roster_gives_the_same_movements(exports, tmp_path, monkeypatch, share):
    # share 1.01: every ingest and roster load derives only around what it changed, however
    # much of this small case that is (by default a change reaching 40 % of it derives all)
    if share is not None:
        monkeypatch.setattr(consolidate_module, "SCOPE_SHARE", share)
    results = {}
    for i, order in enumerate(ORDERS):
        case = tmp_path / f"case{i}"
        _load(case, list(order), exports)
        results[order] = (_movements(case), _ids(case), query(case, "SELECT count(*) FROM duplicates"),
                          query(case, "SELECT payer_person, payee_person, kind, amount FROM transactions ORDER BY ALL"))
        # each ingest derived only around its files: the whole case derived again is the same
        before = _derived(case)
        _derive_all(case)
        assert _derived(case) == before, order
    first = next(iter(results.values()))
    assert first[0] == EXPECTED
    different = [order for order, r in results.items() if r != first]
    assert not different, f"orders that give another case: {different}"
    # with the roster, every party of a movement between the two resolves to a person
    assert ("P1", "P2", "transfer", Decimal("520.00")) in first[3]


PEOPLE_CHANGED = "person_id,name,accounts,party_member,official,org_unit,position,rank\n" \
                 "P1,王大伟,wxid_laowang;老王,yes,yes,古云村党支部,支部书记,3\n" \
                 "P2,张三,wxid_zhangsan;三哥,yes,no,古云村党支部,党员,\n" \
                 "P4,孙八,wxid_shop,no,no,,,\n"


def test_a_roster_changed_or_reloaded_derives_what_it_changes_as_a_whole_derivation_would(exports, tmp_path, monkeypatch):
    monkeypatch.setattr(consolidate_module, "SCOPE_SHARE", 1.01)  # always only around the change
    case = tmp_path / "case"
    _load(case, ["tenpay", "bill_csv", "roster"], exports)
    persons = "SELECT kind, amount, payer_person, payee_person FROM transactions ORDER BY ALL"
    assert ("group_red_packet", Decimal("2.80"), "P1", "P3") in query(case, persons)
    # 李四 leaves the roster, the shop's owner 孙八 joins it
    changed = tmp_path / "people2.csv"
    changed.write_text(PEOPLE_CHANGED, encoding="utf-8")
    assert rpa("roster", changed, "--case", case).exit_code == 0
    now = query(case, persons)
    assert ("group_red_packet", Decimal("2.80"), "P1", None) in now
    assert ("qr_payment", Decimal("10.00"), "P1", "P4") in now
    assert ("transfer", Decimal("520.00"), "P1", "P2") in now
    before = _derived(case)
    _derive_all(case)
    assert _derived(case) == before
    # the same roster again changes nothing
    assert rpa("roster", changed, "--case", case).exit_code == 0
    assert _derived(case) == before
    assert _movements(case) == EXPECTED


def test_movement_ids_hold_when_more_sightings_and_the_roster_arrive(exports, tmp_path):
    case = tmp_path / "case"
    _load(case, ["bill_csv"], exports)
    before = dict((k, i) for i, k in query(case, "SELECT id, txn_id FROM transactions WHERE kind IN ('red_packet', 'transfer')"))
    assert rpa("ingest", exports["tenpay"], "--case", case).exit_code == 0
    assert rpa("roster", exports["people"], "--case", case).exit_code == 0
    after = {r[0]: r[1] for r in query(
        case, """SELECT s.txn_id, l.movement_id FROM sightings s JOIN sighting_movements l USING (sighting_id)
                 WHERE s.txn_id IN (SELECT unnest(?))""", [list(before)])}
    assert after == before
    assert query(case, "SELECT count(*) FROM transactions WHERE id IN (SELECT unnest(?))", [list(before.values())]) == [(2,)]


def _ingest_killed_at(point: str, folder: Path, case: Path) -> None:
    """`rpa ingest FOLDER` in a child process, SIGKILLed once it pauses at `point`."""
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "RPA_PAUSE_AT": f"{point}:60"}
    proc = subprocess.Popen([sys.executable, "-m", "analyzer", "ingest", str(folder), "--case", str(case)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert f"paused at {point}" in proc.stderr.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_killed_before_the_movements_are_derived_the_next_command_derives_them(exports, tmp_path):
    case = tmp_path / "case"
    _load(case, ["bill_csv"], exports)
    _ingest_killed_at("ingest.before_consolidate", exports["tenpay"], case)
    # the Tenpay files are in, whole, as sightings; the movements are still the bill's
    assert query(case, "SELECT count(*) FROM sources") == [(3,)]
    assert query(case, "SELECT value FROM meta WHERE key = 'consolidated'") == [("no",)]
    status = rpa("status", "--case", case)
    assert "do not yet reflect" in status.stderr
    assert rpa("scan", "--case", case).exit_code == 0
    assert _movements(case) == EXPECTED
    assert query(case, "SELECT value FROM meta WHERE key = 'consolidated'") == [("yes",)]


def test_a_derivation_killed_half_way_is_refused_by_readers_and_done_again_whole(exports, tmp_path):
    # The derivation runs outside a transaction (inside one DuckDB keeps every dropped
    # temporary table until the commit): killed after writing the movements and before
    # linking the refunds, the case says so, the commands that read movements refuse
    # it, and the next command derives it whole, as a single run would.
    case, reference = tmp_path / "case", tmp_path / "reference"
    _load(case, ["bill_csv", "roster"], exports)
    _load(reference, ["bill_csv", "roster", "tenpay"], exports)
    _ingest_killed_at("derive.half_written", exports["tenpay"], case)
    assert query(case, "SELECT value FROM meta WHERE key = 'consolidated'") == [("deriving",)]
    # written so far: the movements, but not which refund gives back what
    assert query(case, "SELECT count(*) FROM transactions WHERE kind = 'refund' AND refund_of IS NOT NULL") == [(0,)]
    status = rpa("status", "--case", case)
    assert status.exit_code == 0 and "were being derived when rpa stopped" in status.stderr
    for command in (["people"], ["report", "--out", str(tmp_path / "r")]):
        result = rpa(*command, "--case", case)
        assert result.exit_code == 2 and "were being derived when rpa stopped" in result.stderr, result.output
        assert "Traceback" not in result.output
    assert rpa("scan", "--case", case).exit_code == 0
    assert query(case, "SELECT value FROM meta WHERE key = 'consolidated'") == [("yes",)]
    assert _derived(case) == _derived(reference)
    assert query(case, "SELECT count(*) FROM transactions WHERE kind = 'refund' AND refund_of IS NOT NULL") == [(1,)]
    assert rpa("people", "--case", case).exit_code == 0


def test_a_case_of_schema_4_becomes_sightings_and_keeps_its_movements(exports, tmp_path):
    import duckdb

    from analyzer.db import MIGRATIONS

    case = tmp_path / "old"
    case.mkdir()
    con = duckdb.connect(str(case / "rpa.duckdb"))
    for i, sql in enumerate(MIGRATIONS[:4], start=1):
        con.execute(sql)
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(i)])
    con.execute("""INSERT INTO sources VALUES (1, '/x/a.csv', 'a.csv', 'ab', 10, 'canonical_csv', 'utf-8', NULL, NULL, NULL,
                   NULL, 3, 1, 1, 1, '2026-02-10 20:00:00', '2026-02-10 20:00:00', now(), '0')""")
    con.execute("""INSERT INTO transactions VALUES (7, 'OLD1', NULL, NULL, '2026-02-01 09:00:00', 'wx_a', 'wx_b', NULL, NULL,
                   88.00, 'red_packet', 'success', 'wechat', NULL, NULL, NULL, NULL, NULL, true, false, 1, 2, '{}', NULL, NULL)""")
    con.execute("INSERT INTO duplicates VALUES (1, 3, 7, 'same row', '{}')")
    con.execute("INSERT INTO rejects VALUES (1, 4, 'x', 'no amount')")
    con.close()
    assert rpa("status", "--case", case).exit_code == 0  # migrates
    assert query(case, "SELECT sighting_id, source_id, line, direction, amount FROM sightings") == [(7, 1, 2, "out", Decimal("88.00"))]
    assert query(case, "SELECT source_id, line, transaction_id, matched_on FROM duplicates") == [(1, 3, 7, "same row")]
    # a later ingest derives the movements again: the old one keeps its id
    assert rpa("ingest", exports["bill_csv"], "--case", case).exit_code == 0
    assert query(case, "SELECT id, txn_id FROM transactions WHERE txn_id = 'OLD1'") == [(7, "OLD1")]
    assert query(case, "SELECT count(*) FROM transactions") == [(1 + 6,)]


def _production(root: Path) -> list[Path]:
    """A production of five accounts: group packets, a GBK file, a file with a bad row,
    a file that cannot be read, and one file twice (the same bytes in two folders)."""
    a = dict(uid="wxid_a", name="甲")
    b = dict(uid="wxid_b", name="乙")
    rows_a = [*tp.group_red_packet(total_fen=1000, shares=[("wxid_b", "乙", 600), ("wxid_c", "丙", 400)], ts=TS, **a),
              tp.transfer_out(peer="wxid_b", peer_name="乙", fen=8800, ts="2026-02-10 21:00:00", **a),
              "wxid_a\t1\t\t甲\t出\t余额支付\t转账\t2026-02-10 22:00:00\t12.5\t0"]
    rows_b = [tp.red_packet_in(payer="wxid_a", payer_name="甲", fen=600, ts="2026-02-10 20:00:01", **b),
              tp.transfer_in(payer="wxid_a", payer_name="甲", fen=8800, ts="2026-02-10 21:00:00",
                             txn=rows_a[2]["交易单号"], **b)]
    paths = tp.write_production(root, {"wxid_a": rows_a, "wxid_b": rows_b})
    gbk = tp.write_production(root / "gbk", {"wxid_c": [tp.red_packet_in(payer="wxid_a", payer_name="甲", fen=400,
                                                                          ts="2026-02-10 20:00:02", uid="wxid_c", name="丙")]},
                              encoding="gbk")
    broken = root / "x" / "wxid_d" / "TenpayTrades.txt"
    broken.parent.mkdir(parents=True)
    # detected as Tenpay (用户ID, 交易单号, 借贷类型, 交易金额), but without a 交易时间 column
    broken.write_bytes("\t".join(h.replace("交易时间", "日期") for h in tp.HEADER_27).encode() + b"\nwxid_d\t1\n")
    twice = root / "y" / "wxid_b" / "TenpayTrades.txt"
    twice.parent.mkdir(parents=True)
    twice.write_bytes(paths[1].read_bytes())
    return [*paths, *gbk, broken, twice]


def test_a_production_loads_many_files_at_a_time_as_each_would_alone(tmp_path):
    from analyzer import db
    from analyzer.ingest import ingest_paths

    files = _production(tmp_path / "prod")
    together = tmp_path / "together"
    alone = tmp_path / "alone"
    for case in (together, alone):
        assert rpa("init", case).exit_code == 0
    result = rpa("ingest", tmp_path / "prod", "--case", together)
    assert result.exit_code == 2  # the file that cannot be read
    assert "wxid_d/TenpayTrades.txt: not a TenpayTrades table, the header lacks 交易时间" in result.output
    assert "the same file as" in result.output
    for path in files[:-2]:
        assert rpa("ingest", path, "--case", alone).exit_code in (0, 1)
    # one file at a time through the single-file path (stage, not stage_many)
    con = db.connect(alone / "rpa.duckdb")
    assert all(r.status == "already" for r in ingest_paths(con, [files[0]]))
    con.close()

    def content(case):
        return (
            # (rows_loaded and rows_duplicate say which file showed a movement first: order)
            query(case, "SELECT format, owner, owner_name, encoding, rows_read, rows_rejected, "
                        "first_ts, last_ts, sha256 FROM sources ORDER BY sha256"),
            query(case, "SELECT sum(rows_loaded), sum(rows_duplicate) FROM sources"),
            query(case, "SELECT s.sha256, r.line, r.reason FROM rejects r JOIN sources s USING (source_id) ORDER BY ALL"),
            query(case, "SELECT src.sha256, s.line, s.txn_id, s.ts, s.payer, s.payee, s.amount, s.direction, s.kind, s.packet_id, "
                        "s.raw FROM sightings s JOIN sources src USING (source_id) ORDER BY ALL"),
            query(case, "SELECT kind, amount, payer, payee, seen_by_payer, seen_by_payee FROM transactions ORDER BY ALL"),
        )

    got, want = content(together), content(alone)
    assert got == want
    assert [r[:2] for r in got[0]].count(("tenpay_27", "wxid_c")) == 1 and any(r[3] == "gbk" for r in got[0])
    assert [r[2] for r in got[2]] == ["amount is not an integer number of fen: '12.5'"]
    # the group packet: two shares, 乙's seen from both sides
    assert ("group_red_packet", Decimal("6.00"), "wxid_a", "wxid_b", True, True) in got[4]
    assert query(together, "SELECT count(*) FROM audit_log WHERE action = 'ingest'") == [(3,)]
    assert rpa("verify", "--case", together).exit_code == 0


def test_a_header_only_tenpay_file_in_a_batch_verifies_intact(tmp_path):
    # an account without movements: its production file is the header alone
    tp.write_production(tmp_path / "prod", {"wxid_a": [tp.transfer_out(peer="wxid_b", peer_name="乙", fen=100, ts=TS, uid="wxid_a")],
                                            "wxid_empty": []})
    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    assert rpa("ingest", tmp_path / "prod", "--case", case).exit_code == 0
    assert query(case, "SELECT rows_read FROM sources ORDER BY rows_read") == [(0,), (1,)]
    result = rpa("verify", "--case", case)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("order", [("roster", "a", "b"), ("roster", "b", "a"), ("b", "a", "roster"), ("a", "roster", "b")])
def test_an_account_takes_its_person_from_a_real_name_shown_in_another_file_whatever_the_order(tmp_path, monkeypatch, order):
    # 王五 is on the roster by name only; file a shows his wxid beside that name, file b
    # shows the wxid alone, in a movement no other file touches
    from tests.helpers import write_canonical

    monkeypatch.setattr(consolidate_module, "SCOPE_SHARE", 1.01)  # always only around the change
    people = tmp_path / "people.csv"
    people.write_text("person_id,name,accounts,party_member,official\nP5,王五,,yes,no\nP6,赵六,wx_y,no,no\n", encoding="utf-8")
    files = {
        "a": write_canonical(tmp_path / "a.csv", [{"txn_id": "A1", "ts": "2026-03-01 10:00:00", "payer": "wx_x", "payer_name": "王五",
                                                   "payee": "wx_y", "amount": "10.00"}]),
        "b": write_canonical(tmp_path / "b.csv", [{"txn_id": "B1", "ts": "2026-05-01 10:00:00", "payer": "wx_x",
                                                   "payee": "wx_z", "amount": "20.00"}]),
    }
    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    for step in order:
        result = rpa("roster", people, "--case", case) if step == "roster" else rpa("ingest", files[step], "--case", case)
        assert result.exit_code == 0, result.output
    assert query(case, "SELECT txn_id, payer_person, payee_person FROM transactions ORDER BY txn_id") == [
        ("A1", "P5", "P6"), ("B1", "P5", None)]
    before = _derived(case)
    _derive_all(case)
    assert _derived(case) == before


def test_transactions_keeps_its_columns_and_shows_the_first_sightings_raw_cells(exports, tmp_path):
    case = tmp_path / "case"
    _load(case, ["tenpay", "bill_csv"], exports)
    columns = [r[0] for r in query(case, "SELECT column_name FROM information_schema.columns WHERE table_name = 'transactions' ORDER BY ordinal_position")]
    assert columns == ["id", "txn_id", "match_id", "packet_id", "ts", "payer", "payee", "payer_name", "payee_name", "amount", "kind",
                       "status", "channel", "memo", "raw_type", "raw_status", "refund_ref", "refund_of", "seen_by_payer",
                       "seen_by_payee", "source_id", "line", "raw", "payer_person", "payee_person"]
    rows = query(case, """SELECT t.raw, s.raw, t.source_id = s.source_id AND t.line = s.line
                          FROM transactions t JOIN sightings s ON s.sighting_id = t.id""")
    assert len(rows) == len(EXPECTED) and all(a == b and a and same for a, b, same in rows)
    # the raw cells are stored once, in the sightings: the derived table has none
    assert "raw" not in [r[0] for r in query(case, "SELECT column_name FROM information_schema.columns WHERE table_name = 'movement_rows'")]


def test_an_ingest_derives_only_around_its_files_and_a_stopped_one_is_derived_whole(tmp_path, monkeypatch):
    # The load marks the case stale until its movements are derived: that mark must not
    # make every ingest derive the whole case (it did: a bill in a 1M case took 67 s).
    from tests.helpers import write_canonical

    calls = []
    real = consolidate_module._derive
    monkeypatch.setattr(consolidate_module, "_derive", lambda con, *, scoped: (calls.append(scoped), real(con, scoped=scoped)))
    rows = [{"txn_id": f"T{i}", "ts": f"2026-03-{i % 28 + 1:02d} 10:00:00", "payer": f"a{i % 7}", "payee": f"b{i % 5}",
             "amount": f"{i + 1}.00"} for i in range(40)]
    first = write_canonical(tmp_path / "a.csv", rows)
    second = write_canonical(tmp_path / "b.csv", [{"txn_id": "X1", "ts": "2026-06-01 10:00:00", "payer": "c", "payee": "d", "amount": "9.99"}])
    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    assert rpa("ingest", first, "--case", case).exit_code == 0
    assert calls == [False]  # the first file is the whole case
    assert rpa("ingest", second, "--case", case).exit_code == 0
    assert calls == [False, True]
    before = _derived(case)
    _derive_all(case)
    assert _derived(case) == before


def test_a_bill_that_teaches_an_alias_link_derives_around_the_accounts_it_changes(exports, tmp_path, monkeypatch):
    # Tenpay first, then 老王's bill: its red packet to 三哥 shares Tenpay's id, so 三哥 is
    # learned to be wxid_zhangsan, which changes the parties of 三哥's other movements
    # (the transfer, matched on parties). That is derived around those accounts, not over
    # the whole case, and gives what a whole derivation gives, link counts included.
    monkeypatch.setattr(consolidate_module, "SCOPE_SHARE", 1.01)
    calls = []
    real = consolidate_module._derive
    monkeypatch.setattr(consolidate_module, "_derive", lambda con, *, scoped: (calls.append(scoped), real(con, scoped=scoped)))
    case = tmp_path / "case"
    _load(case, ["tenpay"], exports)
    assert query(case, "SELECT count(*) FROM alias_links") == [(0,)]
    calls.clear()
    _load_more = rpa("ingest", exports["bill_csv"], "--case", case)
    assert _load_more.exit_code == 0, _load_more.output
    assert calls == [True, True]  # the neighbourhood taught the link, then grew around 三哥's accounts
    links = query(case, "SELECT alias, account, movements, status FROM alias_links ORDER BY ALL")
    assert links == [("三哥", "wxid_zhangsan", 1, "used"), ("京东", "京东(1900000009)", 1, "used"),
                     ("小卖部", "wxid_shop", 1, "used"), ("老王", "wxid_laowang", 3, "used")]
    assert _movements(case) == EXPECTED
    before = _derived(case)
    _derive_all(case)
    assert _derived(case) == before


def test_a_case_with_alias_links_from_before_their_evidence_derives_it_at_the_next_command(exports, tmp_path):
    # A case of schema 8 has alias links but no evidence for them: migrating marks it for
    # a whole derivation, which the next roster load runs, filling the evidence.
    import duckdb

    case = tmp_path / "case"
    _load(case, ["tenpay", "bill_csv"], exports)
    links = query(case, "SELECT * FROM alias_links ORDER BY ALL")
    assert links and query(case, "SELECT count(*) FROM alias_evidence") != [(0,)]
    con = duckdb.connect(str(case / "rpa.duckdb"))
    con.execute("DROP TABLE alias_evidence")
    con.execute("DROP TABLE shown_names")  # (migration 10, after it)
    con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '8')")
    con.close()
    assert rpa("status", "--case", case).exit_code == 0  # migrates
    assert query(case, "SELECT value FROM meta WHERE key = 'consolidated'") == [("no",)]
    assert rpa("roster", exports["people"], "--case", case).exit_code == 0
    assert query(case, "SELECT value FROM meta WHERE key = 'consolidated'") == [("yes",)]
    assert query(case, "SELECT count(*) FROM alias_evidence") != [(0,)]
    before = _derived(case)
    _derive_all(case)
    assert _derived(case) == before


def test_the_names_shown_beside_accounts_are_kept_whatever_the_path_and_filled_by_migration(exports, tmp_path):
    """`shown_names` (each account with each name shown beside it) is what the sightings
    give: kept up by the derivation around new files, rebuilt by a whole derivation,
    and filled from the sightings when a case of schema 9 migrates. (An account taking
    its person through it, in every order: the test of 王五 above.)"""
    import duckdb

    names = "SELECT account, name FROM shown_names ORDER BY ALL"
    truth = """SELECT payer, payer_name FROM sightings WHERE payer IS NOT NULL AND payer_name IS NOT NULL
               UNION SELECT payee, payee_name FROM sightings WHERE payee IS NOT NULL AND payee_name IS NOT NULL ORDER BY ALL"""
    case = tmp_path / "case"
    _load(case, ["tenpay", "roster", "bill_csv", "bill_xlsx"], exports)  # the bills each derived around
    kept = query(case, names)
    assert len(kept) >= 5 and kept == query(case, truth) and len(kept) == len(set(kept))
    persons = query(case, "SELECT account, person_id FROM account_keys WHERE person_id IS NOT NULL ORDER BY ALL")
    _derive_all(case)
    assert query(case, names) == kept
    assert query(case, "SELECT account, person_id FROM account_keys WHERE person_id IS NOT NULL ORDER BY ALL") == persons
    con = duckdb.connect(str(case / "rpa.duckdb"))
    con.execute("DROP TABLE shown_names")
    con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '9')")
    con.close()
    assert rpa("status", "--case", case).exit_code == 0  # migrates
    assert query(case, names) == kept


def test_alike_rows_pair_only_across_files_and_a_single_file_skips_the_pairing(tmp_path):
    # Two payments alike in parties, amount and time, without ids: in one file they are
    # two movements (a file never shows one movement twice, and the derivation of a case
    # of one file skips the pairing); in two files, one movement seen twice; one of them
    # seen again in a second file pairs with one of the two.
    from tests.helpers import write_canonical

    row = {"ts": "2026-03-01 10:00:00", "payer": "甲", "payee": "乙", "amount": "88.00", "kind": "transfer"}
    later = {**row, "ts": "2026-03-01 10:00:30"}
    cases = {
        "one file": [[row, later]],
        "two files": [[row], [later]],
        "one file and one more sighting": [[row, later], [later]],
    }
    got = {}
    for name, files in cases.items():
        case = tmp_path / name.replace(" ", "_")
        assert rpa("init", case).exit_code == 0
        for i, rows in enumerate(files):
            assert rpa("ingest", write_canonical(tmp_path / f"{case.name}_{i}.csv", rows), "--case", case).exit_code == 0
        got[name] = (
            query(case, "SELECT count(*), sum(amount) FROM transactions")[0],
            sorted(r[0] for r in query(case, "SELECT matched_on FROM sighting_movements")),
        )
    assert got == {
        "one file": ((2, Decimal("176.00")), ["first", "first"]),
        "two files": ((1, Decimal("88.00")), ["first", "parties+amount+time"]),
        "one file and one more sighting": ((2, Decimal("176.00")), ["first", "first", "parties+amount+time"]),
    }
