"""Tenpay TenpayTrades.txt parser (analyzer.formats.tenpay), on synthetic files."""

from __future__ import annotations

import importlib.util
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from analyzer.errors import FormatError
from analyzer.formats import tenpay
from analyzer.formats.base import KINDS, MOVEMENT_COLUMNS, STATUSES
from tests import tenpay_samples as ts
from tests.helpers import query, rpa

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TENPAY = FIXTURES / "tenpay"
WECHAT_CSV = FIXTURES / "formats/wechat_bill/deb-sig_double-entry-generator@16c48b0/example-wechat-records.csv"
OWNER = ts.OWNER


def head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(64 * 1024)


def parse_rows(tmp_path: Path, rows, **kw) -> tenpay.Parsed:
    path = tmp_path / "TenpayTrades.txt"
    ts.write_trades(path, rows, **kw)
    return tenpay.parse(path)


def only(parsed) -> dict:
    assert len(parsed.rows) == 1, parsed.rejects
    return parsed.rows.iloc[0].to_dict()


def total(rows) -> Decimal:
    return sum((Decimal(a) for a in rows["amount"]), Decimal("0"))


# --------------------------------------------------------------------------- sniff, ids


def test_sniff_true_on_fixtures_and_false_on_wechat_bill():
    for f in (TENPAY / "TenpayTrades_27_utf8.txt", TENPAY / "TenpayTrades_26_gbk.txt"):
        assert tenpay.sniff(f, head(f))
    assert not tenpay.sniff(WECHAT_CSV, head(WECHAT_CSV))
    assert not tenpay.sniff(Path("x.txt"), b"")
    assert not tenpay.sniff(Path("x.txt"), "用户ID 交易单号 借贷类型 交易金额(分)\n".encode())  # no TABs


def test_sniff_bom_and_utf16(tmp_path):
    p = tmp_path / "TenpayTrades.txt"
    ts.write_trades(p, [], bom=True)
    assert tenpay.sniff(p, head(p))
    text = "\t".join(ts.HEADER_27) + "\n"
    assert tenpay.sniff(p, text.encode("utf-16"))


def test_committed_fixtures_match_the_generator(tmp_path):
    for fresh in ts.write_fixtures(tmp_path):
        assert fresh.read_bytes() == (TENPAY / fresh.name).read_bytes(), f"regenerate {fresh.name}"
    with pytest.raises(UnicodeDecodeError):
        (TENPAY / "TenpayTrades_26_gbk.txt").read_bytes().decode("utf-8")


def test_fixture_27_utf8():
    p = tenpay.parse(TENPAY / "TenpayTrades_27_utf8.txt")
    assert p.format == "tenpay_27"
    assert (p.owner, p.owner_name) == (OWNER, ts.OWNER_NAME)
    assert p.rejects == [] and p.rows_read == len(p.rows) == 13
    assert tuple(p.rows.columns) == MOVEMENT_COLUMNS
    assert str(p.rows["line"].dtype) == "int64"
    assert all(p.rows[c].dtype == object for c in MOVEMENT_COLUMNS[1:])
    assert list(p.rows["line"]) == list(range(2, 15))
    assert set(p.rows["kind"]) <= set(KINDS) and set(p.rows["status"]) <= set(STATUSES)
    assert list(p.rows["kind"]) == [
        "red_packet", "red_packet", *["group_red_packet"] * 4, "transfer", "qr_payment",
        "merchant", "merchant", "gift_card", "withdrawal", "other",
    ]  # fmt: skip
    assert set(p.rows["channel"]) == {"tenpay"}
    assert p.rows["raw_status"].isna().all() and p.rows["refund_ref"].isna().all()


def test_fixture_26_gbk():
    p = tenpay.parse(TENPAY / "TenpayTrades_26_gbk.txt")
    assert p.format == "tenpay_26"
    assert (p.owner, p.owner_name) == ("owner_custom26", "陈七")
    assert list(p.rows["kind"]) == ["red_packet", "transfer", "transfer", "merchant"]
    assert list(p.rows["status"]) == ["success", "returned", "success", "success"]
    assert list(p.rows["amount"]) == ["200.00", "666.00", "666.00", "168.00"]
    raw = json.loads(p.rows["raw"].iloc[0])
    assert list(raw) == ts.HEADER_26[:20] + ["网联/银联#21", "第三方账户名称#22"] + ts.HEADER_26[22:]
    assert raw["用户侧银行名称"] == ""


# --------------------------------------------------------------------------- archetypes

TS = "2025-03-01 12:00:00"
CASES = {
    "red_packet_out": (
        ts.red_packet_out(peer="wxid_b", peer_name="李四", fen=20000, ts=TS, txn="1000039801250301" + "1" * 20),
        dict(direction="out", payer=OWNER, payee="wxid_b", payer_name="张三", payee_name="李四", amount="200.00",
             kind="red_packet", status="success", txn_id="1000039801250301" + "1" * 20,
             match_id=None, packet_id=None, memo=None, raw_type="微信红包/转账"),
    ),
    "red_packet_in_by_card": (
        ts.red_packet_in(payer="wxid_c", payer_name="王五", fen=5, ts=TS, by_card=True, txn="1000039901250301" + "2" * 24),
        dict(direction="in", payer="wxid_c", payee=OWNER, payer_name="王五", payee_name="张三", amount="0.05",
             kind="red_packet", status="success", txn_id="1000039901250301" + "2" * 24,
             match_id=None, packet_id=None, memo=None, raw_type="微信红包/转账"),
    ),
    "transfer_out_with_note": (
        ts.transfer_out(peer="wxid_d", peer_name="赵六", fen=2000, ts=TS, memo="借款", txn="T1"),
        dict(direction="out", payer=OWNER, payee="wxid_d", amount="20.00", kind="transfer", status="success",
             txn_id="T1", match_id="5301" + ts._digits(28, "T1"), packet_id=None, memo="借款", raw_type="微信转账/转账"),
    ),
    "transfer_out_not_received": (
        ts.transfer_out(peer="wxid_d", peer_name="赵六", fen=2000, ts=TS, recv_fen=0, txn="T2"),
        dict(direction="out", payer=OWNER, payee="wxid_d", amount="20.00", kind="transfer", status="returned",
             memo=None),
    ),
    "transfer_in": (
        ts.transfer_in(payer="wxid_e", payer_name="钱七", fen=123456789, ts=TS, memo="货款", txn="T3"),
        dict(direction="in", payer="wxid_e", payee=OWNER, payer_name="钱七", payee_name="张三",
             amount="1234567.89", kind="transfer", status="success", memo="货款"),
    ),
    "qr_payment": (
        ts.qr_payment(payee="wxid_f", payee_name="孙八", code_name="孙八的店", fen=3550, ts=TS, txn="Q1"),
        dict(direction="out", payer=OWNER, payee="wxid_f", payee_name="孙八", amount="35.50", kind="qr_payment",
             status="success", txn_id="Q1", match_id="5311" + ts._digits(28, "Q1"), memo="扫二维码付款-给孙八的店"),
    ),
    "merchant_direct": (
        ts.merchant_direct(merchant="示例超市", spid="1900000001", fen=100, ts=TS, product="日用品", txn="M1"),
        dict(direction="out", payer=OWNER, payee="示例超市(1900000001)", payee_name="示例超市", amount="1.00",
             kind="merchant", status="success", txn_id="M1", memo="日用品", raw_type="/消费"),
    ),
    "merchant_indirect": (
        ts.merchant_indirect(merchant="示例茶叶店", fen=88800, ts=TS, product="茶叶", txn="M2"),
        dict(direction="out", payer=OWNER, payee="中国银联股份有限公司", payee_name="示例茶叶店", amount="888.00",
             kind="merchant", status="success", memo="茶叶"),
    ),
    "gift_card_by_product": (
        ts.merchant_direct(merchant="示例电商", spid="1900000002", fen=100000, ts=TS, product="京东e卡1000元"),
        dict(kind="gift_card", amount="1000.00", memo="京东e卡1000元"),
    ),
    "gift_card_by_merchant_name": (
        ts.merchant_direct(merchant="示例礼品卡有限公司", spid="1900000003", fen=50000, ts=TS, product="商品"),
        dict(kind="gift_card"),
    ),
    "gift_card_by_indirect_merchant": (
        ts.merchant_indirect(merchant="阳澄湖蟹卡专卖", fen=99900, ts=TS, product="商品"),
        dict(kind="gift_card", payee="中国银联股份有限公司", payee_name="阳澄湖蟹卡专卖"),
    ),
    "fee": (
        ts.withdrawal(fen=100000, fee_fen=100, ts=TS)[1],
        dict(direction="out", payee=ts.TENPAY_CO, amount="1.00", kind="other", raw_type="/手续费", memo=None),
    ),
    "refund_by_type": (
        {**ts.merchant_direct(merchant="示例超市", spid="1900000001", fen=100, ts=TS, product="退货"),
         "借贷类型": "入", "交易用途类型": "退款"},
        dict(direction="in", payer="示例超市(1900000001)", payee=OWNER, kind="refund", amount="1.00"),
    ),
    "transfer_in_noted_refund_stays_transfer": (
        ts.transfer_in(payer="wxid_e", payer_name="钱七", fen=500, ts=TS, memo="退款"),
        dict(kind="transfer", memo="退款"),
    ),
    "red_packet_in_refund": (
        {**ts.red_packet_in(payer="wxid_c", payer_name="王五", fen=500, ts=TS), "备注2": "微信红包退款"},
        dict(kind="refund", direction="in"),
    ),
}


@pytest.mark.parametrize("columns,encoding", [(27, "utf-8"), (26, "gbk")])
def test_unknown_direction_is_rejected_not_guessed(tmp_path, columns, encoding):
    # 借贷类型 other than 出/入: no side is guessed, the row is rejected with its reason,
    # as WeChat and Alipay reject a 收/支 value they do not know.
    rows = [{**ts.transfer_in(payer="wxid_e", payer_name="钱七", fen=500, ts=TS), "借贷类型": "其他"},
            {**ts.transfer_in(payer="wxid_f", payer_name="孙八", fen=600, ts=TS), "借贷类型": ""},
            ts.transfer_in(payer="wxid_g", payer_name="周九", fen=700, ts=TS)]
    parsed = parse_rows(tmp_path, rows, columns=columns, encoding=encoding)
    assert [(r.line, r.reason) for r in parsed.rejects] == [
        (2, "unknown 借贷类型 value '其他'"), (3, "借贷类型 is empty")]
    assert parsed.rows[["line", "payer", "direction", "amount"]].values.tolist() == [[4, "wxid_g", "in", "7.00"]]


@pytest.mark.parametrize("columns,encoding", [(27, "utf-8"), (26, "gbk")])
@pytest.mark.parametrize("case", sorted(CASES))
def test_archetype_fields(tmp_path, case, columns, encoding):
    row, expected = CASES[case]
    got = only(parse_rows(tmp_path, [row], columns=columns, encoding=encoding))
    assert got["ts"] == TS and got["channel"] == "tenpay" and got["line"] == 2
    assert {k: got[k] for k in expected} == expected


def test_withdrawal_and_fee_share_one_txn(tmp_path):
    p = parse_rows(tmp_path, ts.withdrawal(fen=100000, fee_fen=100, ts=TS))
    assert list(p.rows["kind"]) == ["withdrawal", "other"]
    assert list(p.rows["amount"]) == ["1000.00", "1.00"]
    assert p.rows["txn_id"].nunique() == 1
    assert list(p.rows["payee"]) == [OWNER, ts.TENPAY_CO]
    assert p.rows["packet_id"].isna().all()


# --------------------------------------------------------------------------- group red packets


def test_group_red_packet_counts_shares_not_the_total(tmp_path):
    shares = [("wxid_g1", "赵一", 2500), ("wxid_g2", "钱二", 3100), ("wxid_g3", "孙三", 1400), ("wxid_g4", "周四", 3000)]
    rows = ts.group_red_packet(total_fen=10000, shares=shares, ts=TS, txn="G" * 36)
    p = parse_rows(tmp_path, rows)
    assert p.rejects == []
    assert len(p.rows) == 4
    assert total(p.rows) == Decimal("100.00")  # not 400.00
    assert list(p.rows["amount"]) == ["25.00", "31.00", "14.00", "30.00"]
    assert set(p.rows["kind"]) == {"group_red_packet"}
    assert set(p.rows["packet_id"]) == {"G" * 36}
    assert set(p.rows["txn_id"]) == {"G" * 36}
    assert set(p.rows["payer"]) == {OWNER}
    assert list(p.rows["payee"]) == ["wxid_g1", "wxid_g2", "wxid_g3", "wxid_g4"]
    assert list(p.rows["payee_name"]) == ["赵一", "钱二", "孙三", "周四"]
    assert set(p.rows["status"]) == {"success"}
    # the packet total is kept in raw
    assert {json.loads(r)["交易金额(分)"] for r in p.rows["raw"]} == {"10000"}


def test_lone_group_share(tmp_path):
    row = ts.red_packet_out(peer="wxid_g1", peer_name="赵一", fen=10000, recv_fen=2500, ts=TS, txn="L1")
    got = only(parse_rows(tmp_path, [row]))
    assert (got["kind"], got["amount"], got["packet_id"], got["payee"]) == ("group_red_packet", "25.00", "L1", "wxid_g1")


def test_red_packet_not_received_is_returned(tmp_path):
    row = ts.red_packet_out(peer="wxid_b", peer_name="李四", fen=20000, recv_fen=0, ts=TS)
    got = only(parse_rows(tmp_path, [row]))
    assert (got["kind"], got["status"], got["amount"]) == ("red_packet", "returned", "200.00")


def test_group_row_without_share_is_rejected_not_counted_at_total(tmp_path):
    rows = ts.group_red_packet(total_fen=1000, shares=[("a", "A", 600), ("b", "B", 400)], ts=TS, txn="G2")
    rows[1]["对手方接收金额(分)"] = ""
    p = parse_rows(tmp_path, rows)
    assert list(p.rows["amount"]) == ["6.00"]
    assert [(r.line, "share" in r.reason) for r in p.rejects] == [(3, True)]
    assert p.rows_read == 2


def test_exact_duplicates_are_kept_identical_and_not_a_group(tmp_path):
    row = ts.red_packet_out(peer="wxid_b", peer_name="李四", fen=20000, ts=TS)
    p = parse_rows(tmp_path, [row, dict(row)])
    assert list(p.rows["kind"]) == ["red_packet", "red_packet"]
    key = ["txn_id", "payer", "payee", "amount", "ts"]
    assert p.rows[key].duplicated().tolist() == [False, True]  # ingest's exact-duplicate rule drops one


# --------------------------------------------------------------------------- raw, quoting


def test_quoted_json_and_duplicated_headers_in_raw(tmp_path):
    row = ts.merchant_indirect(merchant="示例茶叶店", fen=88800, ts=TS, product='茶叶 "特级"/礼盒\\A')
    row.update({"用户侧网联/银联": "银联", "对手侧网联/银联": "网联", "第三方账户名称": "收单机构"})
    p = parse_rows(tmp_path, [row])
    raw = json.loads(only(p)["raw"])
    assert list(raw) == ts.HEADER_27[:19] + ["网联/银联#20", "基金公司信息", "间联/非间联交易", "第三方账户名称#23"] + ts.HEADER_27[23:]
    assert (raw["网联/银联"], raw["网联/银联#20"]) == ("银联", "网联")
    assert raw["第三方账户名称"] == "收单机构"
    assert json.loads(raw["第三方账户名称#23"])["fextend_name"] == "示例茶叶店"
    assert raw["备注2"] == '茶叶 "特级"/礼盒\\A'
    assert only(p)["memo"] == '茶叶 "特级"/礼盒\\A'


def test_raw_escapes_control_characters(tmp_path):
    row = ts.transfer_in(payer="wxid_e", payer_name="钱七", fen=500, ts=TS, memo="a\x01b\rc")
    raw = json.loads(only(parse_rows(tmp_path, [row]))["raw"])
    assert raw["备注2"] == "a\x01b\rc"


def test_stray_quote_does_not_swallow_lines(tmp_path):
    rows = [
        ts.transfer_in(payer="wxid_e", payer_name="钱七", fen=500, ts=TS, memo='"谢谢'),
        ts.transfer_in(payer="wxid_f", payer_name="孙八", fen=600, ts=TS, memo="ok"),
    ]
    p = parse_rows(tmp_path, rows)
    assert list(p.rows["memo"]) == ['"谢谢', "ok"]
    assert list(p.rows["line"]) == [2, 3]


# --------------------------------------------------------------------------- malformed rows


def test_short_rows_padded_long_rows_rejected(tmp_path):
    full = ts._line(ts.red_packet_in(payer="wxid_c", payer_name="王五", fen=800, ts=TS), ts.FIELDS_27).split("\t")
    rows = [
        "\t".join(full[:9]),  # short: stops after 交易金额(分)
        "\t".join(full + ["x", "y"]),  # long, with content
        "\t".join(full + ["", " "]),  # long but the extra fields are empty
        "\t".join(full + [""] * 20 + ["z"]),  # far too long
    ]
    p = parse_rows(tmp_path, rows)
    assert list(p.rows["line"]) == [2, 4]
    assert list(p.rows["amount"]) == ["8.00", "8.00"]
    short = p.rows.iloc[0]
    assert (short["payee"], short["payer"], short["memo"]) == (OWNER, None, None)
    assert json.loads(short["raw"])["备注2"] == ""
    assert [r.line for r in p.rejects] == [3, 5]
    assert p.rejects[0].reason == "row has 29 fields, the header has 27"
    assert p.rejects[0].raw == "\t".join(full + ["x", "y"])
    assert p.rows_read == 4


def test_non_integer_fen(tmp_path):
    good = ts.transfer_in(payer="wxid_e", payer_name="钱七", fen=500, ts=TS)
    rows = [{**good, "交易金额(分)": "12a"}, {**good, "交易金额(分)": "12.5"}, {**good, "交易金额(分)": ""}, good,
            "garbage"]  # fmt: skip
    p = parse_rows(tmp_path, rows)
    assert list(p.rows["line"]) == [5]
    assert [(r.line, r.reason) for r in p.rejects] == [
        (2, "amount is not an integer number of fen: '12a'"),
        (3, "amount is not an integer number of fen: '12.5'"),
        (4, "amount is empty"),
        (6, "row has only 1 of 27 fields, no amount"),
    ]
    assert p.rows_read == 5


@pytest.mark.parametrize(("fen", "yuan"), [("2000", "20.00"), ("5", "0.05"), ("0", "0.00"), ("007", "0.07"),
                                          (" 150 ", "1.50"), ("\u200b99", "0.99")])  # fmt: skip
def test_fen_to_yuan(tmp_path, fen, yuan):
    row = {**ts.transfer_in(payer="wxid_e", payer_name="钱七", fen=1, ts=TS), "交易金额(分)": fen}
    assert only(parse_rows(tmp_path, [row]))["amount"] == yuan


def test_bom_crlf_blank_lines_and_repeated_header(tmp_path):
    a = ts.transfer_in(payer="wxid_e", payer_name="钱七", fen=500, ts=TS)
    b = ts.transfer_in(payer="wxid_f", payer_name="孙八", fen=600, ts=TS)
    p = parse_rows(tmp_path, [a, "", "\t".join(ts.HEADER_27), b, "   "], bom=True, newline="\r\n")
    assert p.format == "tenpay_27"
    assert list(p.rows["line"]) == [2, 5]
    assert p.rejects == [] and p.rows_read == 2
    assert json.loads(p.rows["raw"].iloc[1])["备注2"] == "微信转账"  # no '\r' left


# --------------------------------------------------------------------------- owner


def test_owner_most_frequent_and_latest_name(tmp_path):
    rows = [
        ts.transfer_in(payer="x", payer_name="X", fen=1, ts="2025-01-02 00:00:00", name="旧名"),
        ts.transfer_in(payer="x", payer_name="X", fen=2, ts="2025-03-01 00:00:00", name="新名"),
        ts.transfer_in(payer="x", payer_name="X", fen=3, ts="2025-02-01 00:00:00", name="旧名"),
        ts.transfer_in(payer="x", payer_name="X", fen=4, ts="2025-04-01 00:00:00", uid="wxid_other", name="别人"),
    ]
    p = parse_rows(tmp_path, rows)
    assert (p.owner, p.owner_name) == (OWNER, "新名")
    assert p.rows["payee"].iloc[3] == "wxid_other"  # rows keep their own 用户ID
    assert tenpay.parse(tmp_path / "TenpayTrades.txt", owner="wxid_given").owner == "wxid_given"


def test_header_only_file_owner_from_folder(tmp_path):
    (path,) = ts.write_production(tmp_path, {"wxid_empty01": []})
    p = tenpay.parse(path)
    assert (len(p.rows), p.rows_read, p.rejects) == (0, 0, [])
    assert tuple(p.rows.columns) == MOVEMENT_COLUMNS
    assert (p.owner, p.owner_name, p.format) == ("wxid_empty01", None, "tenpay_27")
    assert tenpay.parse(path, owner="o").owner == "o"


# --------------------------------------------------------------------------- file errors


def test_missing_amount_column(tmp_path):
    path = tmp_path / "TenpayTrades.txt"
    header = [h for h in ts.HEADER_27 if h != "交易金额(分)"]
    path.write_text("\t".join(header) + "\n", encoding="utf-8")
    with pytest.raises(FormatError) as e:
        tenpay.parse(path)
    msg = str(e.value)
    assert "\n" not in msg and "TenpayTrades.txt" in msg and "交易金额(分)" in msg


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\x01\x02\xff\xfe\x00garbage", bytes(range(256)) * 4, b"\x81\x30\xff\xff\x80\x80\n\t\t"],
    ids=["empty", "nul", "all-bytes", "bad-gbk"],
)
def test_junk_bytes(tmp_path, data):
    path = tmp_path / "TenpayTrades.txt"
    path.write_bytes(data)
    with pytest.raises(FormatError) as e:
        tenpay.parse(path)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_unknown_order_mapped_by_keyword(tmp_path):
    """A reshuffled, renamed header (full-width brackets, zero-width chars, fewer columns)."""
    header = ["\ufeff交易时间", "借贷类型", "交易金额（分）", "用户ID", "交易单号", "对手方ID\u200b", "对手侧账户名称",
              "交易用途类型", "对手方接收金额（分）", "备注1", "备注2"]  # fmt: skip
    line = ["2025-05-05 10:00:00", "出", "10000", OWNER, "G9", "wxid_g1", "赵一", "转账", "4000", "微信红包", "微信红包"]
    line2 = [*line[:5], "wxid_g2", "钱二", *line[7:8], "6000", *line[9:]]
    path = tmp_path / "TenpayTrades.txt"
    path.write_text("\n".join("\t".join(r) for r in (header, line, line2)) + "\n", encoding="utf-8")
    assert tenpay.sniff(path, head(path))
    p = tenpay.parse(path)
    assert p.format == "tenpay_11"
    assert list(p.rows["amount"]) == ["40.00", "60.00"]
    assert set(p.rows["kind"]) == {"group_red_packet"}
    assert "交易时间" in json.loads(p.rows["raw"].iloc[0])


# --------------------------------------------------------------------------- productions, paths


def test_write_production_gbk_folder_and_display_path(tmp_path):
    rows = [ts.red_packet_out(peer="wxid_b", peer_name="李四", fen=20000, ts=TS)]
    paths = ts.write_production(tmp_path, {"wxid_acct01": rows, "custom_acct": []}, id_number="000000199001010011")
    top = "财付通_0123456789abcdef0123456789abcdef".encode("gbk")
    assert os.listdir(bytes(tmp_path)) == [top]  # GBK bytes on disk, not UTF-8
    assert len(paths) == 2 and all(p.is_file() for p in paths)
    walked = sorted(Path(d) / f for d, _, fs in os.walk(tmp_path) for f in fs if tenpay.is_trades_file(Path(f)))
    assert walked == sorted(paths)
    shown = tenpay.display_path(paths[0])
    assert shown == str(tmp_path / "财付通_0123456789abcdef0123456789abcdef/TP0a1b2c3d/IDCARD/000000199001010011"
                                   "/wxid_acct01/TenpayTrades.txt")  # fmt: skip
    assert not any(0xDC80 <= ord(ch) <= 0xDCFF for ch in shown)  # no surrogate escapes left
    assert tenpay.display_path(os.fsencode(paths[0])) == shown
    p = tenpay.parse(paths[0])
    assert (p.owner, len(p.rows)) == (OWNER, 1)
    assert (paths[0].parent / "TenpayRegInfo.txt").is_file()
    assert not tenpay.is_trades_file(paths[0].parent / "TenpayRegInfo.txt")


def test_display_path_keeps_utf8_names():
    assert tenpay.display_path(Path("/case/财付通_ab/x.txt")) == "/case/财付通_ab/x.txt"


def test_format_error_names_gbk_folder_readably(tmp_path):
    (path,) = ts.write_production(tmp_path, {"acct": ["not\ta\theader"]}, columns=27)
    path.write_bytes(b"hello\tworld\n")
    with pytest.raises(FormatError) as e:
        tenpay.parse(path)
    assert "财付通_" in str(e.value)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("TenpayTrades.txt", True), ("TenpayTrades（公开）.txt", True), ("tenpaytrades.TXT", True),
     ("TenpayTrades(1).txt", True), ("TenpayRegInfo.txt", False), ("TenpayTrades.xls", False),
     ("my_TenpayTrades.txt", False)],
)  # fmt: skip
def test_is_trades_file(name, ok):
    assert tenpay.is_trades_file(Path("/x") / name) is ok


# --------------------------------------------------------------------------- scale


def test_200k_rows_set_wise(tmp_path):
    """40 000 blocks of 5 rows: a 1:1 red packet and a 4-grabber group packet."""
    rows = []
    for i in range(40_000):
        t = f"2025-01-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00"
        rows.append(ts.red_packet_out(peer=f"wxid_{i}", peer_name="李四", fen=100 + i % 1000, ts=t, txn=f"R{i}"))
        rows += ts.group_red_packet(total_fen=10000, shares=[("a", "A", 2500), ("b", "B", 3100), ("c", "C", 1400),
                                                            ("d", "D", 3000)], ts=t, txn=f"G{i}")  # fmt: skip
    p = parse_rows(tmp_path, rows)
    assert len(p.rows) == 200_000 and p.rejects == []
    # each 1:1 packet: 100 + i % 1000 fen; each group packet: exactly 100.00 yuan
    one_to_one = sum(100 + i % 1000 for i in range(40_000))
    fen = p.rows["amount"].str.replace(".", "", regex=False).astype("int64").sum()
    assert fen == one_to_one + 40_000 * 10_000
    assert (p.rows["kind"] == "group_red_packet").sum() == 160_000
    assert p.rows["line"].iloc[-1] == 200_001


# --------------------------------------------------------------------------- streaming


def _same_parse(a: tenpay.Parsed, b: tenpay.Parsed) -> None:
    """Two parses of one file give the same rows, rejects and metadata."""
    assert a.rows.to_dict("records") == b.rows.to_dict("records")
    assert [(r.line, r.raw, r.reason) for r in a.rejects] == [(r.line, r.raw, r.reason) for r in b.rejects]
    assert (a.format, a.owner, a.owner_name, a.rows_read, a.encoding) == (b.format, b.owner, b.owner_name, b.rows_read, b.encoding)


def _mixed_rows(n: int) -> list:
    """n blocks of every archetype plus damaged lines, blank lines and a repeated header."""
    rows: list = []
    for i in range(n):
        t = f"2025-02-{1 + i % 28:02d} 10:{i % 60:02d}:00"
        rows += ts.group_red_packet(total_fen=1000, shares=[("a", "A", 600), ("b", "B", 400)], ts=t, txn=f"G{i}")
        rows.append(ts.transfer_in(payer="wxid_e", payer_name="钱七", fen=500 + i, ts=t, memo=f"货款{i}"))
        rows.append(ts.merchant_indirect(merchant="示例茶叶店", fen=88800, ts=t, product="茶叶礼盒"))
        rows.append({**ts.transfer_in(payer="wxid_e", payer_name="钱七", fen=1, ts=t), "交易金额(分)": f"1{i}a"})
        rows.append("")
        if i % 7 == 0:
            rows.append("\t".join(ts.HEADER_27))
            rows.append("short\tline")
    return rows


@pytest.mark.parametrize(("encoding", "newline"), [("utf-8", "\n"), ("gbk", "\r\n")])
def test_small_pieces_give_the_same_result(tmp_path, monkeypatch, encoding, newline):
    """The file is read a piece at a time; rows, line numbers and rejects must not
    depend on where the pieces end (here every few lines, mid-GBK character too)."""
    path = tmp_path / "TenpayTrades.txt"
    ts.write_trades(path, _mixed_rows(60), encoding=encoding, newline=newline)
    whole = tenpay.parse(path)
    assert len(whole.rows) == 60 * 4 and len(whole.rejects) == 60 + 9  # bad fen, short lines
    assert whole.encoding == ("gbk" if encoding == "gbk" else "utf-8")
    monkeypatch.setattr(tenpay, "CHUNK_BYTES", 1000)
    _same_parse(tenpay.parse(path), whole)
    monkeypatch.setattr(tenpay, "CHUNK_BYTES", 7)  # pieces shorter than a line
    _same_parse(tenpay.parse(path), whole)


def test_group_packet_rows_far_apart_count_once(tmp_path, monkeypatch):
    """One group packet's rows at the start, middle and end of a file read in many
    pieces (and one row repeated): every share counts once, the total never."""
    monkeypatch.setattr(tenpay, "CHUNK_BYTES", 4096)
    shares = [("wxid_g1", "赵一", 2500), ("wxid_g2", "钱二", 3100), ("wxid_g3", "孙三", 4400)]
    g1, g2, g3 = ts.group_red_packet(total_fen=10000, shares=shares, ts=TS, txn="GFAR")
    filler = [ts.transfer_in(payer=f"wxid_{i}", payer_name="钱七", fen=100 + i, ts=TS, txn=f"T{i}") for i in range(400)]
    rows = [g1, *filler[:200], g2, *filler[200:], g3, dict(g2)]
    p = parse_rows(tmp_path, rows)
    group = p.rows[p.rows["packet_id"] == "GFAR"]
    assert list(group["line"]) == [2, 203, 404, 405]
    assert list(group["amount"]) == ["25.00", "31.00", "44.00", "31.00"]
    assert set(group["kind"]) == {"group_red_packet"}
    # through ingest: the repeated row is a duplicate, the packet is its three shares
    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    result = rpa("ingest", tmp_path / "TenpayTrades.txt", "--case", case)
    assert result.exit_code == 0, result.output
    assert query(case, "SELECT count(*), sum(amount) FROM transactions WHERE packet_id = 'GFAR'") == [(3, Decimal("100.00"))]
    assert query(case, "SELECT line, matched_on FROM duplicates") == [(405, "same row")]
    assert query(case, "SELECT count(*), sum(amount) FROM transactions") == [(403, Decimal("100.00") + sum(Decimal(100 + i) / 100 for i in range(400)))]


def test_utf8_start_and_gbk_later_is_decoded_as_a_whole(tmp_path, monkeypatch):
    """A UTF-8 file with one GBK row far down: read in pieces, the first of which are
    valid UTF-8, it is decoded as one whole file would be: UTF-8 with one damaged line,
    which is rejected with its line number while the 50 good rows load (not half and
    half, not the whole file refused)."""
    rows = [ts.transfer_in(payer=f"wxid_{i}", payer_name="钱七", fen=100, ts=TS, txn=f"A{i}") for i in range(50)]
    late = ts._line(ts.transfer_in(payer="wxid_z", payer_name="郑八", fen=200, ts=TS, txn="Z1"), ts.FIELDS_27)
    path = tmp_path / "TenpayTrades.txt"
    ts.write_trades(path, rows)
    path.write_bytes(path.read_bytes() + late.encode("gbk") + b"\n")
    whole = tenpay.parse(path)
    monkeypatch.setattr(tenpay, "CHUNK_BYTES", 2048)
    pieces = tenpay.parse(path)
    for p in (whole, pieces):
        assert p.encoding == "utf-8 (damaged)"
        assert [(r.line, r.reason) for r in p.rejects] == [(52, "undecodable bytes or NUL in the line")]
        assert p.rows["line"].tolist() == list(range(2, 52)) and set(p.rows["payer_name"]) == {"钱七"}
    # and a GBK file that is plain ASCII for its first pieces reads as GBK throughout
    ascii_rows = [["wxid_owner", f"A{i}", "", "zhang", "入", "", "", TS, "100"] for i in range(50)]
    gbk_row = ["wxid_owner", "Z1", "", "张三", "入", "余额支付", "转账", TS, "200", "", "", "", "", "", "wxid_z", "郑八"]
    header = "\t".join(ts.HEADER_27).encode("gbk")
    body = "\n".join("\t".join(r) for r in [*ascii_rows, gbk_row]).encode("gbk")
    path.write_bytes(header + b"\n" + body + b"\n")
    p = tenpay.parse(path)
    assert p.encoding == "gbk" and len(p.rows) == 51 and p.rejects == []
    assert (p.rows["payer_name"].iloc[-1], p.rows["payee_name"].iloc[-1], p.rows["line"].iloc[-1]) == ("郑八", "张三", 52)


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_nul_bytes_and_bad_bytes_late_in_the_file_reject_their_lines(tmp_path, monkeypatch, encoding):
    # One line with NUL bytes, one with a byte that decodes in neither encoding: those two
    # lines are rejected with their numbers and their text (NUL written \x00); the 40
    # good rows load, in pieces as in one.
    rows = [ts.transfer_in(payer=f"wxid_{i}", payer_name="钱七", fen=100, ts=TS) for i in range(40)]
    path = tmp_path / "TenpayTrades.txt"
    ts.write_trades(path, rows, encoding=encoding)
    lines = path.read_bytes().split(b"\n")
    lines[10] = lines[10].replace(b"wxid_9", b"wxid\x00\x009")
    lines[30] = lines[30].replace(b"wxid_29", b"wxid_\xff29")
    path.write_bytes(b"\n".join(lines))
    for chunk in (tenpay.CHUNK_BYTES, 1024):
        monkeypatch.setattr(tenpay, "CHUNK_BYTES", chunk)
        p = tenpay.parse(path)
        assert p.encoding == f"{'gbk' if encoding == 'gbk' else 'utf-8'} (damaged)"
        assert [(r.line, r.reason) for r in p.rejects] == [(11, "undecodable bytes or NUL in the line"),
                                                          (31, "undecodable bytes or NUL in the line")]
        assert "wxid\\x00\\x009" in p.rejects[0].raw and "\ufffd" in p.rejects[1].raw
        assert len(p.rows) == 38 and 11 not in set(p.rows["line"]) and 31 not in set(p.rows["line"])


def _benchmark():
    """benchmarks/ingest.py, which writes large synthetic TenpayTrades files with their ground truth."""
    spec = importlib.util.spec_from_file_location("rpa_benchmark_ingest", ROOT / "benchmarks" / "ingest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_large_generated_file_totals_equal_ground_truth(tmp_path):
    """200,000 rows through `rpa ingest`: movements, money and kinds equal what the
    generator wrote (group packets counted by their shares, each packet's total
    in every row of it never summed)."""
    path = tmp_path / "TenpayTrades.txt"
    truth = _benchmark().write_tenpay(path, 200_000)
    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 0, result.output
    (loaded, total, first, last), = query(case, "SELECT count(*), sum(amount), min(line), max(line) FROM transactions")
    assert (loaded, f"{total:.2f}", first, last) == (truth["rows"], truth["total"], 2, 200_001)
    assert dict(query(case, "SELECT kind, count(*) FROM transactions GROUP BY kind")) == truth["kinds"]
    assert query(case, "SELECT rows_read, rows_loaded, rows_rejected, rows_duplicate, encoding FROM sources") == [
        (200_000, 200_000, 0, 0, "utf-8")
    ]
    # every group packet: four shares summing to the packet total that each of its rows repeats
    assert query(case, """
        SELECT count(*), count(*) FILTER (WHERE n = 4 AND total_fen = share_fen) FROM (
            SELECT packet_id, count(*) AS n, sum(amount) * 100 AS share_fen,
                   max(CAST(json_extract_string(raw, '$."交易金额(分)"') AS BIGINT)) AS total_fen
            FROM transactions WHERE kind = 'group_red_packet' GROUP BY packet_id)
    """) == [(20_000, 20_000)]


def test_ingest_caps_and_restores_duckdb_memory(tmp_path):
    """A Tenpay file loads under a lowered DuckDB memory limit (its temporary tables
    would otherwise fill the case's whole limit); the case's own limit comes back after."""
    from analyzer import db, ingest

    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    con = db.connect(case / "rpa.duckdb")
    try:
        before = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert ingest.setting_bytes(before) > ingest.STAGED_MEMORY_LIMIT
        seen = []
        results = ingest.ingest_paths(
            con, [TENPAY / "TenpayTrades_27_utf8.txt"],
            on_file=lambda *_: seen.append(con.execute("SELECT current_setting('memory_limit')").fetchone()[0]),
        )
        assert [r.status for r in results] == ["loaded"] and results[0].loaded == 13
        assert any(ingest.setting_bytes(v) <= ingest.STAGED_MEMORY_LIMIT for v in seen)  # while it loaded
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == before
    finally:
        con.close()


def test_cells_are_trimmed_of_exactly_what_python_strips():
    """The whitespace trimmed from cells is written out (working it out took 0.4 s of
    every start); it is every character str.isspace knows, and nothing else."""
    assert set(tenpay._WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert len(tenpay._WHITESPACE) == len(set(tenpay._WHITESPACE))
