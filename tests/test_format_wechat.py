"""WeChat Pay bill parser (analyzer/formats/wechat.py): samples and synthetic bills.

Expected values were read off the sample files by hand (they are anonymised and
edited by their maintainers, so their preamble totals do not always match the rows).
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from analyzer.errors import FormatError
from analyzer.formats import wechat
from analyzer.formats.base import MOVEMENT_COLUMNS

WECHAT = Path(__file__).resolve().parent / "fixtures" / "formats" / "wechat_bill"
ALIPAY = Path(__file__).resolve().parent / "fixtures" / "formats" / "alipay_bill"
CSV_2019 = WECHAT / "deb-sig_double-entry-generator@bbd5c9d" / "example-wechat-records.csv"
CSV_2025 = WECHAT / "deb-sig_double-entry-generator@16c48b0" / "example-wechat-records.csv"
XLSX_2025 = WECHAT / "deb-sig_double-entry-generator@5d250e2" / "example-wechat-records.xlsx"
XLSX_2026 = WECHAT / "deb-sig_double-entry-generator@d93c79d" / "example-wechat-records.xlsx"
XLSX_AQNI = next((WECHAT / "aqni_beancount-daoru@e6c4dc8").glob("*.xlsx"))
PRECIOUSS = "wechat_bill/focus000_preciouss@71e7880"


def _parse(path: Path, **kw):
    return wechat.parse(path, **kw)


def _row(parsed, line: int) -> dict:
    rows = parsed.rows[parsed.rows["line"] == line]
    assert len(rows) == 1, f"no single row at line {line}"
    # base.frame() lets pandas infer its `str` dtype, whose missing value is NaN: read
    # missing cells back as None.
    return {k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in rows.iloc[0].to_dict().items()}


def _sums(parsed) -> dict[str, Decimal]:
    out = {"in": Decimal(0), "out": Decimal(0), "neutral": Decimal(0)}
    for amount, direction in zip(parsed.rows["amount"], parsed.rows["direction"]):
        out[direction] += Decimal(amount)
    return out


def _check(row: dict, **expected) -> None:
    got = {k: row[k] for k in expected}
    assert got == expected


# --------------------------------------------------------------------------- samples


def test_csv_2019_two_rows_match_the_preamble_totals():
    p = _parse(CSV_2019)
    assert p.format == "wechat_csv"
    assert p.owner == "测试"
    assert (p.period_start, p.period_end) == ("2019-08-01 00:00:00", "2019-09-30 23:59:59")
    assert len(p.rows) == 2 and p.rows_read == 2 and p.rejects == []
    assert list(p.rows.columns) == list(MOVEMENT_COLUMNS)
    # Preamble: 收入：1笔 0.35元, 支出：1笔 28.16元, 中性交易：0笔 0.00元.
    assert _sums(p) == {"in": Decimal("0.35"), "out": Decimal("28.16"), "neutral": Decimal("0")}
    _check(
        _row(p, 18),
        ts="2019-09-26 12:45:27", amount="28.16", direction="out", kind="merchant", status="success",
        payer="测试", payee="云膳过桥米线(传奇广场店)", txn_id="3985734", match_id=None,
        memo="总共消费:28.16", raw_type="商户消费", raw_status="支付成功", channel="wechat",
    )
    _check(
        _row(p, 19),
        ts="2019-09-24 10:10:11", amount="0.35", direction="in", kind="red_packet", status="success",
        payer="同性好友", payee="测试", txn_id="3985734", match_id="129847129", memo=None,
    )
    raw = json.loads(_row(p, 18)["raw"])
    assert raw["交易单号"] == "3985734\t" and raw["金额(元)"] == "¥28.16"


def test_csv_2025_rows_fields_and_sums():
    p = _parse(CSV_2025)
    assert p.format == "wechat_csv" and p.owner == "测试"
    assert len(p.rows) == 27 and p.rejects == []
    assert p.rows["line"].tolist() == list(range(18, 45))
    # The preamble still says 1/1/0 rows (hand-edited sample); these are the rows' own totals.
    assert _sums(p) == {"in": Decimal("28.49"), "out": Decimal("2904.53"), "neutral": Decimal("26100.89")}
    # First row was re-quoted by hand: "3985734"\t must come out as 3985734.
    _check(_row(p, 18), txn_id="3985734", match_id=None, amount="28.16", payee="云膳过桥米线(传奇广场店)")
    _check(
        _row(p, 21),
        kind="transfer", direction="out", status="success", payer="测试", payee="房东",
        memo="微信转账", match_id="129847129", amount="500.00",
    )
    _check(
        _row(p, 22),
        kind="qr_payment", direction="in", payer="用户A", payee="测试", memo="二维码收款", match_id=None,
    )
    _check(
        _row(p, 24),
        kind="withdrawal", direction="neutral", status="success", payer="测试", payee="招商银行()",
        amount="100.10", txn_id="207210715100077148235523883175", memo=None,  # 服务费 note dropped
    )
    _check(_row(p, 33), kind="other", direction="neutral", status="success", payer="工商银行(9876)", payee="测试")
    # Ids padded with spaces instead of a TAB are trimmed too.
    _check(_row(p, 34), kind="merchant", txn_id="42000011202110191201583411", amount="2243.46")
    _check(_row(p, 39), kind="transfer", raw_type="赞赏码", match_id="1000108101202209241820542253348")
    _check(_row(p, 40), kind="other", direction="in", memo="赞赏作者的收款_20230623", payer="赞赏作者的收款_20230623")
    _check(_row(p, 42), amount="50.00")  # '¥50.0' in the file
    _check(_row(p, 44), kind="other", raw_type="deg-不认识的-txType")


def test_xlsx_2025_uses_sheet1_not_the_power_query_sheet():
    p = _parse(XLSX_2025)
    assert p.format == "wechat_xlsx" and p.owner == "测试"
    assert len(p.rows) == 27 and p.rejects == []
    # Sheet1 has the header on row 17; the Power-Query sheet has it on row 18.
    assert p.rows["line"].tolist() == list(range(18, 45))
    assert _sums(p) == {"in": Decimal("28.49"), "out": Decimal("2904.53"), "neutral": Decimal("26100.89")}
    _check(
        _row(p, 19),
        ts="2019-09-24 10:10:11", amount="0.35", direction="in", kind="red_packet", status="success",
        payer="同性好友", payee="测试", txn_id="3985734", match_id="129847129",
    )
    _check(_row(p, 26), kind="withdrawal", amount="1001.10", txn_id="207210711100077147832088993175")


def test_xlsx_2026_numeric_amounts_give_exact_text():
    p = _parse(XLSX_2026)
    assert p.format == "wechat_xlsx" and p.owner == "测试"
    assert (p.period_start, p.period_end) == ("2019-08-01 00:00:00", "2019-09-30 23:59:59")
    assert len(p.rows) == 27 and p.rejects == []
    assert p.rows["line"].tolist() == list(range(19, 46))  # header on row 18
    amounts = p.rows["amount"].tolist()
    assert amounts[:8] == ["28.16", "0.35", "12.00", "500.00", "23.00", "2000.00", "100.10", "10.10"]
    assert amounts[-6:] == ["36.99", "5.00", "9.90", "50.00", "0.01", "0.01"]
    assert _sums(p) == {"in": Decimal("28.49"), "out": Decimal("2904.53"), "neutral": Decimal("26100.89")}
    _check(
        _row(p, 19),
        ts="2019-09-26 12:45:27", amount="28.16", direction="out", kind="merchant", status="success",
        payer="测试", payee="云膳过桥米线(传奇广场店)", txn_id="3985734",
    )
    _check(_row(p, 29), amount="10000.00", kind="other", payee="理财通", memo="鹏华增值宝(000569)")


def test_xlsx_aqni_merchant_refund_row():
    p = _parse(XLSX_AQNI)
    assert p.format == "wechat_xlsx" and p.owner == "测试"
    assert len(p.rows) == 28 and p.rejects == []
    assert _sums(p) == {"in": Decimal("28.60"), "out": Decimal("2955.23"), "neutral": Decimal("26100.89")}
    _check(
        _row(p, 43),
        kind="refund", direction="in", status="success", raw_status="已退款￥0.11", amount="0.11",
        payer="美团平台商户", payee="测试", txn_id="123456", match_id=None, refund_ref="123456",
    )
    _check(
        _row(p, 44),
        kind="merchant", status="partly_refunded", amount="50.71",
        memo="物美（xxxx店）-美团App-123456 | 已优惠¥0.77",
    )


def test_preciouss_csv_grade_c_loads(shared_formats):
    p = _parse(shared_formats / PRECIOUSS / "wechat_sample.csv")
    assert p.format == "wechat_csv" and p.owner == "测试用户"
    assert len(p.rows) == 8 and p.rejects == []
    # Preamble: 收入：2笔 250.00元, 支出：5笔 289.50元, 中性交易：1笔 88.00元 (they agree).
    assert _sums(p) == {"in": Decimal("250.00"), "out": Decimal("289.50"), "neutral": Decimal("88.00")}
    _check(_row(p, 16), kind="transfer", direction="in", payer="张三", payee="测试用户", txn_id="W2024011600001")
    _check(_row(p, 17), status="closed", direction="neutral")
    _check(_row(p, 19), status="refunded")
    _check(_row(p, 20), kind="refund", status="success", refund_ref="W2024011900002")
    _check(_row(p, 21), status="partly_refunded", raw_status="已退款(￥5.00)")


def test_preciouss_xlsx_grade_c_loads(shared_formats):
    path = shared_formats / PRECIOUSS / "wechat_sample.xlsx"
    # Inline strings written as &#NNNNN; character references: sniff must parse the XML.
    assert wechat.sniff(path, path.read_bytes()[:65536]) is True
    p = _parse(path)  # sheet named 'Sheet'
    assert p.format == "wechat_xlsx" and p.owner == "测试用户"
    assert len(p.rows) == 4 and p.rejects == []
    assert p.rows["line"].tolist() == [10, 11, 12, 13]
    assert _sums(p) == {"in": Decimal("500.00"), "out": Decimal("243.30"), "neutral": Decimal("0")}
    _check(_row(p, 12), ts="2024-02-01 09:00:00", amount="68.80", payee="盒马鲜生", txn_id="W2024020100001")


@pytest.mark.parametrize("path", [CSV_2019, CSV_2025, XLSX_2025, XLSX_2026, XLSX_AQNI], ids=lambda p: p.parent.name)
def test_sniff_true_on_wechat_samples(path):
    assert wechat.sniff(path, path.read_bytes()[:65536]) is True


@pytest.mark.parametrize("path", sorted(ALIPAY.glob("*/*.csv")), ids=lambda p: p.parent.name + "/" + p.name)
def test_sniff_false_on_alipay_samples(path):
    assert wechat.sniff(path, path.read_bytes()[:65536]) is False


def test_owner_argument_overrides_the_nickname():
    p = _parse(CSV_2019, owner="wxid_owner")
    assert p.owner == "wxid_owner"
    _check(_row(p, 18), payer="wxid_owner")
    _check(_row(p, 19), payee="wxid_owner")


# --------------------------------------------------------------------------- synthetic CSV

PREAMBLE = [
    "微信支付账单明细",
    "微信昵称：[老王]",
    "起始时间：[2024-05-01 00:00:00] 终止时间：[2024-05-31 23:59:59]",
    "导出类型：[全部]",
    "导出时间：[2024-06-01 09:00:00]",
    "",
    "共9笔记录",
    "收入：2笔 8.20元",
    "支出：6笔 1750.00元",
    "中性交易：1笔 100.10元",
    "注：",
    "1. 充值/提现/理财通购买/零钱通存取/信用卡还款等交易，将计入中性交易",
    "2. 本明细仅展示当前账单中的交易，不包括已删除的记录",
    "3. 本明细仅供个人对账使用",
    "",
    "----------------------微信支付账单明细列表--------------------",
]
HEADER = "交易时间,交易类型,交易对方,商品,收/支,金额(元),支付方式,当前状态,交易单号,商户单号,备注"

# Physical lines 18.. of the synthetic bill (line 17 is the header).
DATA = [
    '2024-05-01 10:00:00,微信红包（单发）,发给张三,"/",支出,¥200.00,零钱,支付成功,100003990124050100000000000000000001\t,1000039901202405010000000000001\t,"/"',  # 18
    '2024-05-02 20:00:00,微信红包（群红包）,发出群红包,"/",支出,¥10.00,零钱,已退还(￥3.20),100003990124050200000000000000000002\t,1000039901202405020000000000002\t,"/"',  # 19
    '2024-05-03 20:00:05,微信红包-退款,/,"/",收入,¥3.20,/,已存入零钱,100003990124050300000000000000000003\t,1000039901202405020000000000002\t,"/"',  # 20
    '2024-05-04 09:30:00,转账,李四,"转账备注:生日快乐",支出,¥520.00,零钱,对方已退还,100005000124050400000000000000000004\t,1000050001202405040000000000004\t,"/"',  # 21
    '2024-05-05 15:00:00,商户消费,京东商城,"京东E卡 面值1000元",支出,"¥1,000.00",招商银行(1234),支付成功,4200000000202405050000000005\t,JD0000000005\t,"/"',  # 22
    '2024-05-06 08:00:00,零钱提现,招商银行(1234),"/",/,¥100.10,零钱,提现已到账,207240506100000000000000000006\t,/\t,"服务费¥0.10"',  # 23
    "",  # 24: blank, skipped
    '2024-05-07 12:00:00,微信红包,王五,"/",收入,¥5.00,/,已存入零钱,1000039901240507000000000000007\t,1000039901202405070000000000007\t,"/"',  # 25
    '2024-05-08 12:00:00,扫二维码付款,小卖部,"收款方备注:二维码收款\r\n付款方留言:两瓶水",支出,¥10.00,零钱,已转账,1000049901240508000000000000008\t,1000049901202405080000000000008\t,"/"',  # 26-27
    "2024-05-09 12:00:00,转账,赵六,/,支出,¥9.00,零钱",  # 28: 7 cells, rejected
    '2024-05-10 18:00:00,微信红包(面对面红包),/,"/",支出,¥10.00,零钱,支付成功,1000039901240510000000000000010\t,1000039901202405100000000000010\t,"备注二"',  # 29
]


def _write_csv(path: Path, lines: list[str], *, pad: int = 10, encoding: str = "utf-8-sig") -> Path:
    pre = [line + "," * pad for line in PREAMBLE]
    text = "\r\n".join(pre + [HEADER] + lines) + "\r\n"
    path.write_bytes(text.encode(encoding))
    return path


def test_synthetic_csv_bom_crlf(tmp_path):
    path = _write_csv(tmp_path / "微信支付账单(20240501-20240531).csv", DATA)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in path.read_bytes()
    assert wechat.sniff(path, path.read_bytes()[:65536]) is True
    p = _parse(path)
    assert p.format == "wechat_csv" and p.owner == "老王" and p.encoding == "utf-8"
    assert (p.period_start, p.period_end) == ("2024-05-01 00:00:00", "2024-05-31 23:59:59")
    assert p.rows["line"].tolist() == [18, 19, 20, 21, 22, 23, 25, 26, 29]
    assert p.rows_read == 10

    # The short row: a reject with its physical line (after a two-line quoted field).
    assert len(p.rejects) == 1
    rej = p.rejects[0]
    assert rej.line == 28
    assert rej.raw == "2024-05-09 12:00:00,转账,赵六,/,支出,¥9.00,零钱"
    assert rej.reason == "11 columns expected, 7 found"

    _check(
        _row(p, 18),
        kind="red_packet", direction="out", status="success", payer="老王", payee="张三", amount="200.00",
        txn_id="100003990124050100000000000000000001", match_id="1000039901202405010000000000001",
        packet_id=None, refund_ref=None, raw_type="微信红包（单发）",
    )
    _check(
        _row(p, 19),
        kind="group_red_packet", direction="out", status="partly_refunded", raw_status="已退还(￥3.20)",
        payer="老王", payee=None, amount="10.00",
        match_id="1000039901202405020000000000002", packet_id="1000039901202405020000000000002",
    )
    _check(
        _row(p, 20),
        kind="refund", direction="in", status="success", payer=None, payee="老王", amount="3.20",
        refund_ref="1000039901202405020000000000002", match_id="1000039901202405020000000000002",
        packet_id=None,
    )
    _check(
        _row(p, 21),
        kind="transfer", direction="out", status="returned", payer="老王", payee="李四",
        memo="生日快乐", match_id="1000050001202405040000000000004",
    )
    _check(
        _row(p, 22),
        kind="gift_card", direction="out", status="success", payee="京东商城", amount="1000.00",
        match_id=None, memo="京东E卡 面值1000元",
    )
    _check(
        _row(p, 23),
        kind="withdrawal", direction="neutral", status="success", payer="老王", payee="招商银行(1234)",
        txn_id="207240506100000000000000000006", match_id=None, memo=None, amount="100.10",
    )
    _check(_row(p, 25), kind="red_packet", direction="in", payer="王五", payee="老王", status="success")
    _check(
        _row(p, 26),
        kind="qr_payment", payee="小卖部", match_id="1000049901202405080000000000008",
        memo="二维码收款\n付款方留言:两瓶水",
    )
    _check(_row(p, 29), kind="red_packet", raw_type="微信红包(面对面红包)", payee=None, memo="备注二")
    # Preamble totals of the synthetic bill agree with the loaded rows (the reject excluded).
    assert _sums(p) == {"in": Decimal("8.20"), "out": Decimal("1750.00"), "neutral": Decimal("100.10")}


def test_synthetic_csv_gbk_and_no_padding(tmp_path):
    # GB18030 (the superset decode_bytes falls back to): plain GBK cannot encode ¥ (U+00A5).
    path = _write_csv(tmp_path / "bill.csv", DATA[:2], pad=0, encoding="gb18030")
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert wechat.sniff(path, path.read_bytes()[:65536]) is True
    p = _parse(path)
    assert p.owner == "老王" and len(p.rows) == 2
    assert p.encoding == "gbk"
    _check(_row(p, 19), kind="group_red_packet", payee=None, raw_status="已退还(￥3.20)")


def test_extra_column_and_reordered_columns_map_by_name(tmp_path):
    header = "交易类型,交易时间,交易对方,商品,收/支,金额(元),支付方式,当前状态,交易单号,商户单号,订单号,备注"
    # Not detected as a header (交易时间 is not first): header must be found by content.
    path = tmp_path / "odd.csv"
    row = "转账,2024-05-01 10:00:00,甲,/,支出,¥1.00,零钱,支付成功,T1\t,M1\t,X1,/"
    path.write_text("\n".join(PREAMBLE + [header, row]), encoding="utf-8")
    with pytest.raises(FormatError, match="header row"):
        _parse(path)
    header = "交易时间,交易类型,交易对方,订单号,商品,收/支,金额(元),支付方式,当前状态,交易单号,商户单号,备注"
    row = "2024-05-01 10:00:00,转账,甲,X1,/,支出,¥1.00,零钱,支付成功,T1\t,M1\t,/"
    path.write_text("\n".join(PREAMBLE + [header, row]), encoding="utf-8")
    p = _parse(path)
    _check(_row(p, 18), kind="transfer", payee="甲", amount="1.00", txn_id="T1", match_id="M1", status="success")
    assert json.loads(_row(p, 18)["raw"])["订单号"] == "X1"


def test_unknown_direction_is_a_reject(tmp_path):
    path = _write_csv(tmp_path / "bill.csv", [DATA[0].replace(",支出,", ",出去,"), DATA[1]])
    p = _parse(path)
    assert [(r.line, r.reason) for r in p.rejects] == [(18, "unknown 收/支 value '出去'")]
    assert p.rows["line"].tolist() == [19] and p.rows_read == 2


def test_no_nickname_gives_no_owner(tmp_path):
    path = tmp_path / "bill.csv"
    lines = [line for line in PREAMBLE if not line.startswith("微信昵称")] + [HEADER, DATA[0]]
    path.write_text("\n".join(lines), encoding="utf-8")
    p = _parse(path)
    assert p.owner is None
    _check(_row(p, 17), payer=None, payee="张三")
    assert _parse(path, owner="me").owner == "me"


def test_statuses_and_kinds_vocabulary():
    status = wechat._status
    assert status("已全额退款", "merchant") == "refunded"
    assert status("已退款(￥1.00)", "merchant") == "partly_refunded"
    assert status("对方已退还", "transfer") == "returned"
    assert status("已过期", "transfer") == "returned"
    assert status("等待对方确认收钱", "transfer") == "pending"
    assert status("提现失败，已退回零钱", "withdrawal") == "failed"
    assert status("交易关闭", "merchant") == "closed"
    assert status("充值成功", "other") == "success"
    assert status("奇怪的状态", "other") == "other"
    kind = wechat._kind
    assert kind("微信红包(群红包)", "发出群红包", None) == "group_red_packet"
    assert kind("企业微信红包", "某公司", None) == "red_packet"
    assert kind("企业微信红包-退款", None, None) == "refund"
    assert kind("亲属卡交易-退款", "哈哈", None) == "refund"
    assert kind("群收款", "甲", None) == "transfer"
    assert kind("经营账户提现", "招商银行", None) == "withdrawal"
    assert kind("付款码付款", "沃尔玛", "购物卡充值") == "gift_card"
    assert kind("商户消费", "阳澄湖大闸蟹蟹卡专营", "/") == "gift_card"
    assert kind("有价券", "某平台", None) == "gift_card"
    assert kind("商户消费", "星巴克", "拿铁") == "merchant"
    assert kind("购买理财通", "理财通", None) == "other"


# --------------------------------------------------------------------------- synthetic XLSX


def _write_xlsx_2026(path: Path, rows: list[list], *, decoy_first: bool = True) -> Path:
    wb = openpyxl.Workbook()
    if decoy_first:
        decoy = wb.active
        decoy.title = "example-wechat-records"
        decoy.append(["Column1", "Column2"])
        decoy.append(["交易时间", "交易类型", "交易对方"])
        decoy.append(["2000-01-01 00:00:00", "转账", "不该读到"])
        ws = wb.create_sheet("Sheet1")
    else:
        ws = wb.active
        ws.title = "Sheet1"
    pre = PREAMBLE[:14] + ["4. 本账单中所有时间均为UTC+08:00时间"] + PREAMBLE[14:]
    for text in pre:
        ws.append([text or None])
    ws.append(HEADER.split(","))
    for r in rows:
        ws.append(r)
    for row in ws.iter_rows(min_row=19, min_col=6, max_col=6):
        row[0].number_format = "\\¥#,##0.00"
    wb.save(path)
    return path


XLSX_ROWS = [
    ["2024-05-01 10:00:00", "微信红包（单发）", "发给张三", "/", "支出", 28.16, "零钱", "支付成功", "T1\t", "S1\t", "/"],  # 19
    [dt.datetime(2024, 5, 2, 20, 0, 0), "微信红包（群红包）", "发出群红包", "/", "支出", 1234.5, "零钱", "已退还(￥3.20)", "T2\t", "S2\t", "/"],  # 20
    ["2024-05-03 20:00:05", "微信红包-退款", "/", "/", "收入", 3.2, "/", "已存入零钱", "T3\t", "S2\t", "/"],  # 21
    [None] * 11,  # 22 blank
    ["2024-05-04 09:30:00", "转账", "李四", "转账备注:生日快乐", "支出", 100, "零钱", "对方已退还", "T4\t", "S4\t", "/"],  # 23
    ["2024-05-05 15:00:00", "商户消费", "某超市", "预付卡充值", "支出", 0.07, "零钱", "支付成功", "T5\t", "S5\t", "/", "多余"],  # 24: 12 cells
    ["2024-05-06 08:00:00", "零钱提现", "招商银行(1234)", "/", "/", 100.1, "零钱", "提现已到账", "T6\t", "/\t", "服务费¥0.10"],  # 25
    ["2024-05-07 08:00:00", "商户消费", "加油站", "中石化加油卡充值", "支出", 0.1 + 0.2, "零钱", "支付成功", "T7\t", "S7\t", "/"],  # 26
]


def test_synthetic_xlsx_2026_layout(tmp_path):
    path = _write_xlsx_2026(tmp_path / "微信支付账单流水文件(20240501-20240531)_20240601090000.xlsx", XLSX_ROWS)
    assert wechat.sniff(path, path.read_bytes()[:65536]) is True
    p = _parse(path)
    assert p.format == "wechat_xlsx" and p.owner == "老王"
    assert p.rows["line"].tolist() == [19, 20, 21, 23, 25, 26]
    assert p.rows_read == 7
    assert [(r.line, r.reason) for r in p.rejects] == [(24, "11 columns expected, 12 found")]
    assert "多余" in p.rejects[0].raw
    assert p.rows["amount"].tolist() == ["28.16", "1234.50", "3.20", "100.00", "100.10", "0.30"]
    _check(_row(p, 19), kind="red_packet", payee="张三", match_id="S1", txn_id="T1", ts="2024-05-01 10:00:00")
    _check(
        _row(p, 20),
        kind="group_red_packet", status="partly_refunded", payee=None, packet_id="S2", match_id="S2",
        ts="2024-05-02 20:00:00",
    )
    _check(_row(p, 21), kind="refund", refund_ref="S2", status="success", payee="老王")
    _check(_row(p, 23), kind="transfer", status="returned", memo="生日快乐")
    _check(_row(p, 25), kind="withdrawal", payer="老王", payee="招商银行(1234)", memo=None)
    _check(_row(p, 26), kind="gift_card", amount="0.30")
    assert "不该读到" not in p.rows["payee"].tolist()


def test_sniff_reads_a_rich_text_title(tmp_path):
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    wb = openpyxl.Workbook()
    wb.active.append([CellRichText(TextBlock(InlineFont(b=True), "微信支付"), "账单明细")])
    path = tmp_path / "rich.xlsx"
    wb.save(path)
    assert wechat.sniff(path, path.read_bytes()[:65536]) is True


def test_synthetic_xlsx_without_dimension_still_reads(tmp_path):
    """Some writers store a wrong <dimension ref="A1"/>; rows must not be cut to it."""
    path = _write_xlsx_2026(tmp_path / "a.xlsx", XLSX_ROWS[:1], decoy_first=False)
    fixed = tmp_path / "b.xlsx"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(fixed, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                start = text.index("<dimension")
                end = text.index("/>", start) + 2
                data = (text[:start] + '<dimension ref="A1"/>' + text[end:]).encode()
            zout.writestr(item, data)
    p = _parse(fixed)
    assert len(p.rows) == 1
    _check(_row(p, 19), amount="28.16", payee="张三", txn_id="T1")


# --------------------------------------------------------------------------- malformed files


def test_title_without_header_is_a_format_error(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("\n".join(PREAMBLE) + "\n2024-05-01 10:00:00,转账,甲\n", encoding="utf-8-sig")
    assert wechat.sniff(path, path.read_bytes()) is True
    with pytest.raises(FormatError, match=r"^broken\.csv: WeChat bill header row \(交易时间, 交易类型, …\) not found$"):
        _parse(path)


def test_empty_file_is_a_format_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert wechat.sniff(path, b"") is False
    with pytest.raises(FormatError, match="empty.csv"):
        _parse(path)


@pytest.mark.parametrize(
    "name, data",
    [
        ("random.xlsx", bytes(range(256)) * 40),
        ("random.csv", bytes(range(256)) * 40),
        ("zip-not-xlsx.xlsx", None),
        ("truncated.xlsx", XLSX_2026.read_bytes()[: len(XLSX_2026.read_bytes()) // 2]),
        ("legacy.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504),
    ],
)
def test_malformed_files_raise_only_format_error(tmp_path, name, data):
    path = tmp_path / name
    if data is None:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "微信支付账单明细")
    else:
        path.write_bytes(data)
    assert wechat.sniff(path, path.read_bytes()[:65536]) is False
    with pytest.raises(FormatError) as err:
        _parse(path)
    msg = str(err.value)
    assert msg.startswith(f"{name}: ") and "\n" not in msg


def test_workbook_without_bill_sheet_is_a_format_error(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["hello", "world"])
    path = tmp_path / "other.xlsx"
    wb.save(path)
    assert wechat.sniff(path, path.read_bytes()[:65536]) is False
    with pytest.raises(FormatError, match=r"^other\.xlsx: WeChat bill header row"):
        _parse(path)


def test_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(FormatError, match="nope.csv"):
        _parse(tmp_path / "nope.csv")
