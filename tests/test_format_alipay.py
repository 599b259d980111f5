"""Alipay bill parser (analyzer/formats/alipay.py): the licensed samples, the shared
grade-C sample, and synthetic files for the edge cases.

Expected values were read from the files themselves (`iconv -f gbk -t utf-8`) and
summed by hand; they are hard-coded here, not recomputed with the parser's logic.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from analyzer.errors import FormatError
from analyzer.formats import alipay
from analyzer.formats.base import KINDS, MOVEMENT_COLUMNS, STATUSES

ALIPAY = Path(__file__).resolve().parent / "fixtures" / "formats" / "alipay_bill"
LEGACY = ALIPAY / "deb-sig_double-entry-generator@e204a82" / "example-alipay-records.csv"
APP_2021 = ALIPAY / "deb-sig_double-entry-generator@d765283" / "example-alipay-records.csv"
APP_2023 = ALIPAY / "deb-sig_double-entry-generator@ef964f3" / "example-alipay-records.csv"
DAORU_2023 = ALIPAY / "aqni_beancount-daoru@e6c4dc8" / "支付宝交易明细(20230210-20230213).csv"
DAORU_2020 = ALIPAY / "aqni_beancount-daoru@e6c4dc8" / "支付宝交易明细(20201122-20201214).csv"
SAMPLES = (LEGACY, APP_2021, APP_2023, DAORU_2023, DAORU_2020)
WECHAT = Path(__file__).resolve().parent / "fixtures" / "formats" / "wechat_bill" / "deb-sig_double-entry-generator@16c48b0" / "example-wechat-records.csv"

SEPARATOR_2023 = "------------------------支付宝（中国）网络技术有限公司  电子客户回单------------------------"
SEPARATOR_2025 = "------------------------支付宝支付科技有限公司  电子客户回单------------------------"
HEADER_2023 = "交易时间,交易分类,交易对方,对方账号,商品说明,收/支,金额,收/付款方式,交易状态,交易订单号,商家订单号,备注,"


def head(path: Path) -> bytes:
    """What the dispatcher hands to sniff: the first 64 KiB."""
    return path.read_bytes()[:65536]


def row_at(parsed, line: int) -> dict:
    """The movement parsed from physical line `line`, missing values as None."""
    rows = parsed.rows[parsed.rows["line"] == line]
    assert len(rows) == 1, f"expected one row from line {line}, got {len(rows)}"
    return {k: (None if not isinstance(v, (list, dict)) and pd.isna(v) else v) for k, v in rows.iloc[0].to_dict().items()}


def totals(parsed) -> dict[str, tuple[int, Decimal]]:
    """(row count, amount sum) per direction."""
    out: dict[str, tuple[int, Decimal]] = {}
    for direction, amount in zip(parsed.rows["direction"], parsed.rows["amount"]):
        n, s = out.get(direction, (0, Decimal("0")))
        out[direction] = (n + 1, s + Decimal(amount))
    return out


def check(row: dict, **expected) -> None:
    """Compare several fields at once, reporting every difference."""
    got = {k: row[k] for k in expected}
    assert got == expected


def preamble_2023(account: str = "someone@example.com", name: str = "张三") -> list[str]:
    return [
        "-" * 84,
        "导出信息：",
        f"姓名：{name}",
        f"支付宝账户：{account}",
        "起始时间：[2024-03-01 00:00:00]    终止时间：[2024-03-31 23:59:59]",
        "导出交易类型：[全部]",
        "导出时间：[2024-04-01 08:00:00]",
        "共3笔记录",
        "",
        "特别提示：",
        "1.本明细仅供个人对账使用。",
        "",
    ]


def write(tmp_path: Path, name: str, lines: list[str], encoding: str = "gbk") -> Path:
    path = tmp_path / name
    path.write_bytes("\r\n".join(lines).encode(encoding) + b"\r\n")
    return path


# --------------------------------------------------------------------------- sniff


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sniff_accepts_every_alipay_sample(path: Path) -> None:
    assert alipay.sniff(path, head(path)) is True


def test_sniff_accepts_the_shared_utf8_sample(shared_formats: Path) -> None:
    path = shared_formats / "alipay_bill" / "focus000_preciouss@71e7880" / "alipay_sample.csv"
    assert alipay.sniff(path, head(path)) is True


def test_sniff_rejects_wechat_bill_empty_and_junk(tmp_path: Path) -> None:
    assert alipay.sniff(WECHAT, head(WECHAT)) is False
    assert alipay.sniff(tmp_path / "empty.csv", b"") is False
    assert alipay.sniff(tmp_path / "junk.bin", bytes(range(256)) * 8) is False
    assert alipay.sniff(tmp_path / "other.csv", "日期,金额,备注\n2024-01-01,1.00,x\n".encode("gbk")) is False


def test_sniff_survives_a_head_cut_inside_a_character(tmp_path: Path) -> None:
    # 65536 bytes rarely end on a character boundary; here the cut falls inside the
    # first GBK character of the header line (and inside a UTF-8 one for the BOM copy).
    data = APP_2023.read_bytes()
    at = data.index("交易时间".encode("gbk")) + 1
    assert alipay.sniff(APP_2023, data[:at]) is True  # the separator line is already in
    utf8 = "\ufeff".encode() + data.decode("gbk").encode("utf-8")
    cut = utf8.index("电子客户回单".encode()) + len("电子客户回单".encode()) - 1  # inside 单
    assert alipay.sniff(APP_2023, utf8[:cut]) is True  # via 导出信息： + 支付宝账户


# --------------------------------------------------------------------------- samples: header facts


@pytest.mark.parametrize(
    ("path", "fmt", "owner", "owner_name", "start", "end", "count"),
    [
        (LEGACY, "alipay_legacy_web", "faker@faker.com", "测试", "2019-08-01 00:00:00", "2019-10-01 00:00:00", 7),
        (APP_2021, "alipay_app_2021", "abc@triplez.cn", "TripleZ", "2021-05-19 00:00:00", "2021-06-19 23:59:59", 16),
        (APP_2023, "alipay_app_2023", "xx@gmail.com", "xx", "2023-02-10 00:00:00", "2023-02-13 23:59:59", 10),
        (DAORU_2023, "alipay_app_2023", "xx@gmail.com", "xx", "2023-02-10 00:00:00", "2023-02-13 23:59:59", 11),
        # 姓名 is the placeholder *** in this synthetic file; it is kept as exported.
        (DAORU_2020, "alipay_app_2023", "1234567890", "***", "2020-11-22 00:00:00", "2020-12-14 23:59:59", 24),
    ],
    ids=["legacy", "app2021", "app2023", "daoru2023", "daoru2020"],
)
def test_sample_format_owner_period_and_count(path, fmt, owner, owner_name, start, end, count) -> None:
    parsed = alipay.parse(path)
    assert (parsed.format, parsed.encoding) == (fmt, "gbk")
    assert parsed.owner == owner
    assert parsed.owner_name == owner_name
    assert (parsed.period_start, parsed.period_end) == (start, end)
    assert len(parsed.rows) == count
    assert parsed.rows_read == count
    assert parsed.rejects == []
    assert list(parsed.rows.columns) == list(MOVEMENT_COLUMNS)
    assert set(parsed.rows["channel"]) == {"alipay"}
    assert set(parsed.rows["kind"]) <= set(KINDS)
    assert set(parsed.rows["status"]) <= set(STATUSES)
    assert not parsed.rows["txn_id"].dropna().str.contains(r"[\t ]").any()
    assert parsed.rows["match_id"].isna().all() and parsed.rows["packet_id"].isna().all()


def test_shared_sample_loads(shared_formats: Path) -> None:
    # Grade C: hand-written legacy layout, UTF-8, cells padded with TABs, no trailing
    # comma, no separator lines, no footer (so no owner name).
    path = shared_formats / "alipay_bill" / "focus000_preciouss@71e7880" / "alipay_sample.csv"
    parsed = alipay.parse(path)
    assert (parsed.format, parsed.encoding) == ("alipay_legacy_web", "utf-8")
    assert (parsed.owner, parsed.owner_name) == ("test@example.com", None)
    assert (parsed.period_start, parsed.period_end) == ("2024-01-01 00:00:00", "2024-01-31 23:59:59")
    assert len(parsed.rows) == 4 and parsed.rejects == []
    check(
        row_at(parsed, 5),
        txn_id="2024011500001", ts="2024-01-15 10:30:00", amount="35.00", direction="out", kind="merchant",
        status="success", payer="test@example.com", payee="星巴克", payee_name="星巴克", memo="拿铁咖啡",
    )
    # 类型 转账, 收入 → a transfer from 张三
    check(
        row_at(parsed, 7),
        txn_id="2024011600001", amount="200.00", direction="in", kind="transfer", status="success",
        payer="张三", payer_name="张三", payee="test@example.com", raw_type="转账",
    )
    # 收/支 and 资金状态 both empty → neutral
    check(row_at(parsed, 8), amount="100.00", direction="neutral", status="closed", raw_status="交易关闭")
    assert totals(parsed) == {"out": (2, Decimal("80.50")), "in": (1, Decimal("200.00")), "neutral": (1, Decimal("100.00"))}


# --------------------------------------------------------------------------- samples: totals


def test_totals_legacy() -> None:
    # Footer says 已收入 1笔 0.01元, 已支出 1笔 27元 (共6笔): the sample was hand-edited
    # (7 rows, refund rows added); these are the sums of the rows as they are. The two
    # refunds have an empty 收/支 and 资金状态 已收入, so they count as 'in'.
    assert totals(alipay.parse(LEGACY)) == {
        "out": (4, Decimal("3137.00")),
        "in": (3, Decimal("2725.43") + Decimal("83.00")),
    }


def test_totals_app_2021() -> None:
    # The 导出信息 block says 共21笔 and 支出 x笔 1234.56元: placeholders, not sums.
    assert totals(alipay.parse(APP_2021)) == {
        "out": (6, Decimal("321.81")),
        "in": (3, Decimal("161.90")),
        "neutral": (7, Decimal("3197.41")),
    }


def test_totals_app_2023() -> None:
    # The preamble says 共66笔, 收入 1笔 28.50元: rows were cut and edited; 10 rows remain.
    assert totals(alipay.parse(APP_2023)) == {
        "out": (5, Decimal("211.64")),
        "in": (1, Decimal("222228.50")),
        "neutral": (4, Decimal("247.37")),
    }


def test_totals_daoru_2023() -> None:
    # The deb-sig 2023 rows plus one synthetic 2025 余额宝 row (不计收支 66.57).
    assert totals(alipay.parse(DAORU_2023)) == {
        "out": (5, Decimal("211.64")),
        "in": (1, Decimal("222228.50")),
        "neutral": (5, Decimal("313.94")),
    }


def test_totals_daoru_2020() -> None:
    # The preamble says 共35笔, 收入 2笔 125.19, 支出 15笔 579.68, 不计收支 18笔 11.55;
    # none of it matches the 24 synthetic rows.
    assert totals(alipay.parse(DAORU_2020)) == {
        "out": (18, Decimal("1853.20")),
        "in": (1, Decimal("88.88")),
        "neutral": (5, Decimal("58.04")),
    }


# --------------------------------------------------------------------------- samples: rows


def test_legacy_rows() -> None:
    parsed = alipay.parse(LEGACY)
    check(
        row_at(parsed, 6),
        txn_id="123456", ts="2019-09-30 13:11:25", amount="27.00", direction="out", kind="merchant",
        status="success", payer="faker@faker.com", payee="肯德基(张江高科餐厅)", payee_name="肯德基(张江高科餐厅)",
        payer_name=None, memo="张江高科餐厅", raw_type="即时到账交易", raw_status="交易成功", refund_ref=None,
    )
    # `123456 \t`: a space before the TAB, both trimmed; fund income → other
    check(row_at(parsed, 8), txn_id="123456", amount="0.01", direction="in", kind="other", payer="中欧基金管理有限公司", payee="faker@faker.com")
    # the original of the refund: 交易创建时间 is the ts, not 付款时间 / 最近修改时间
    check(row_at(parsed, 10), txn_id="987654", ts="2021-02-06 10:01:39", amount="3000.00", direction="out", kind="merchant", status="success")
    check(row_at(parsed, 12), txn_id="202011", status="closed", raw_status="交易关闭", kind="merchant", raw_type="支付宝担保交易")
    raw = json.loads(row_at(parsed, 10)["raw"])
    assert raw["付款时间"] == "2021-02-06 10:01:43" and raw["成功退款（元）"] == "2725.42" and raw["资金状态"] == "已支出"
    assert list(raw)[0] == "交易号" and len(raw) == 16


def test_legacy_refund_987654_321() -> None:
    row = row_at(alipay.parse(LEGACY), 9)
    check(
        row,
        txn_id="987654_321", refund_ref="987654", kind="refund", status="success", raw_status="退款成功",
        amount="2725.42", ts="2021-02-06 14:53:31",
        # 收/支 is empty: 资金状态 已收入 makes it 'in'; the money flows back from the hospital
        direction="in", payer="医院", payer_name="医院", payee="faker@faker.com", memo="退款-住院预交金",
    )
    check(row_at(alipay.parse(LEGACY), 11), txn_id="202011_133899", refund_ref="202011", kind="refund", direction="in")


def test_app_2021_rows() -> None:
    parsed = alipay.parse(APP_2021)
    check(
        row_at(parsed, 3),
        txn_id="123456", ts="2021-06-14 14:00:38", amount="6.51", direction="out", kind="merchant", status="success",
        payer="abc@triplez.cn", payee="蚂蚁会员（北京）网络技术服务有限公司",  # 对方账号 empty → 交易对方
        payee_name="蚂蚁会员（北京）网络技术服务有限公司", raw_type="互助保障", memo="相互宝分摊-6月第1期-*",
    )
    # refund with 收/支 其他 → neutral, but payer is the shop, payee the owner
    check(
        row_at(parsed, 4),
        direction="neutral", kind="refund", status="success", amount="109.90", payer="zhi***@hkmanon.com",
        payer_name="dettol滴露官方旗舰店", payee="abc@triplez.cn", refund_ref="ABC9876",
    )
    check(row_at(parsed, 6), direction="out", kind="merchant", status="closed", raw_type="日用百货")
    # 余额宝-…-收益发放, 其他: the money came from the fund to the holder (not the other way)
    check(row_at(parsed, 8), direction="neutral", kind="other", raw_type="投资理财", payer="广发基金管理有限公司", payee="abc@triplez.cn")
    # 余额宝-单次转入: from the holder into the fund
    check(row_at(parsed, 7), direction="neutral", kind="other", payer="abc@triplez.cn", payee="e-f***@gffunds.com.cn")
    # category 收入 → other
    check(row_at(parsed, 13), direction="in", kind="other", amount="10.00", payer="111******11", payee="abc@triplez.cn")
    check(
        row_at(parsed, 15),
        txn_id="2021121122001468815736847417", ts="2021-12-11 16:53:51", amount="31.00", direction="out",
        kind="merchant", payee="北京稻香村食品有限责任公司",
    )


def test_app_2021_transfer_income_row() -> None:
    # 交易分类 转账红包 with 商品说明 我就随便转着玩 (a transfer note, no 红包) → transfer
    row = row_at(alipay.parse(APP_2021), 14)
    check(
        row,
        txn_id="123456", ts="2021-06-25 00:00:00", amount="42.00", direction="in", kind="transfer", status="success",
        payer="111******11", payer_name="*三", payee="abc@triplez.cn", payee_name=None,
        raw_type="转账红包", memo="我就随便转着玩", refund_ref=None,
    )


def test_app_2023_rows() -> None:
    parsed = alipay.parse(APP_2023)
    check(
        row_at(parsed, 26),
        txn_id="202302xxxxxx0011000103xxxxxx", ts="2023-02-12 21:32:14", amount="49.74", direction="out",
        kind="merchant", status="success", payer="xx@gmail.com", payee="xxxxxxxxxxxx",  # 对方账号 '/' → 交易对方
        payee_name="xxxxxxxxxxxx", raw_type="亲友代付", memo="亲情卡",
    )
    check(row_at(parsed, 27), status="pending", raw_status="等待确认收货", payee="rim***@qq.com", payee_name="x4***6")
    # refund without `_` in its id → refund_ref is the 商家订单号
    check(row_at(parsed, 28), kind="refund", direction="neutral", refund_ref="20xxxxxxxxxxxxxxxx5", payer="xxxxxxx", payee="xx@gmail.com")
    check(
        row_at(parsed, 30),
        txn_id="2xxxxxxxxxxxxxxxxxxxxxxxxx9", ts="2023-01-18 10:17:29", amount="222228.50", direction="in",
        kind="transfer", raw_type="转账红包", payer="xxx***@163.com", payer_name="xxxx", payee="xx@gmail.com",
    )
    # refund `<orig>_<suffix>`: refund_ref is the original's txn_id (row on line 33)
    check(row_at(parsed, 32), txn_id="2023xxxxx88_2023xx57", kind="refund", refund_ref="2023xxxxx88", payer="fin***@jieyisoft.com")
    check(row_at(parsed, 33), txn_id="2023xxxxx88", kind="merchant", status="closed", direction="out")
    raw = json.loads(row_at(parsed, 26)["raw"])
    assert list(raw) == HEADER_2023.rstrip(",").split(",")  # trimmed headers, no trailing empty key
    assert raw["对方账号"] == "/" and raw["交易订单号"] == "202302xxxxxx0011000103xxxxxx" and raw["备注"] == ""


def test_daoru_2020_rows() -> None:
    parsed = alipay.parse(DAORU_2020)
    check(
        row_at(parsed, 26),
        txn_id="2020121422001155631423825023", ts="2020-12-14 16:50:20", amount="129.00", direction="out",
        kind="merchant", status="success", payer="1234567890", payee="order***@apple.com", payee_name="Apple Store",
    )
    # 交易分类 转账 (synthetic), 交易对方 微信红包, 商品说明 朋友转账: the item text wins → transfer
    check(row_at(parsed, 27), kind="transfer", direction="in", payer="139******88", payer_name="微信红包", amount="88.88")
    # 余额宝-12月4日-收益发放 (不计收支): from the fund (对方账号 empty → 交易对方) to the holder
    check(row_at(parsed, 36), kind="other", direction="neutral", payer="天弘基金", payee="1234567890", amount="0.31")
    check(row_at(parsed, 38), kind="refund", refund_ref="D320201205171545159381", payer="138******99", payee="1234567890")
    check(row_at(parsed, 44), amount="0.00", direction="neutral", status="closed", kind="merchant")


def test_owner_argument_overrides_the_file() -> None:
    parsed = alipay.parse(APP_2023, owner="investigated@example.com")
    assert parsed.owner == "investigated@example.com"
    assert parsed.owner_name == "xx"
    assert row_at(parsed, 26)["payer"] == "investigated@example.com"
    assert row_at(parsed, 30)["payee"] == "investigated@example.com"


# --------------------------------------------------------------------------- synthetic files


def test_utf8_bom_2023_layout_with_red_packets_and_kinds(tmp_path: Path) -> None:
    rows = [
        "2024-03-05 10:00:00,转账红包,李四,138******00,发普通红包,支出,88.00,余额,交易成功,20240305001\t,\t,恭喜发财,",
        "2024-03-06 11:00:00,转账红包,王五,139******11,收红包,收入,66.66,余额,交易成功,20240306001\t,,,",
        "2024/3/7 9:05,日用百货,某商城,shop***@x.com,京东E卡 面值500元,支出,\"5,000.00\",招商银行储蓄卡(1234)&支付宝随机立减,交易成功,20240307001\t,M001\t,,",
        "2024-03-08 12:00:00,其他,赵六,136******22,收钱码收款,收入,20.00,余额,交易成功,20240308001\t,,,",
        "2024-03-09 13:00:00,账户存取,余额,/,余额提现到招商银行,不计收支,300.00,,提现成功,20240309001\t,,,",
        "2024-03-10 14:00:00,信用借还,花呗,/,花呗还款,不计收支,12.00,余额,还款成功,20240310001\t,,,",
        "2024-03-11 15:00:00,生活服务,某公司,/,服务费,支出,1.00,余额,支付失败,20240311001\t,,,",
        "2024-03-12 16:00:00,生活服务,某公司,/,服务费,支出,1.00,余额,等待对方发货,20240312001\t,,,",
        "2024-03-13 17:00:00,未知分类,某人,/,xyz,支出,2.00,余额,奇怪状态,20240313001\t,,,",
    ]
    path = write(tmp_path, "bom.csv", preamble_2023() + [SEPARATOR_2025, HEADER_2023, *rows], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert alipay.sniff(path, head(path)) is True
    parsed = alipay.parse(path)
    assert (parsed.format, parsed.encoding) == ("alipay_app_2023", "utf-8")
    assert (parsed.owner, parsed.owner_name) == ("someone@example.com", "张三")
    assert len(parsed.rows) == 9 and parsed.rejects == []
    check(
        row_at(parsed, 15),
        kind="red_packet", direction="out", payer="someone@example.com", payee="138******00", payee_name="李四",
        memo="发普通红包 | 恭喜发财", amount="88.00", txn_id="20240305001",
    )
    check(row_at(parsed, 16), kind="red_packet", direction="in", payer="139******11", payee="someone@example.com", memo="收红包")
    # quoted thousands separator, Excel-style time, a gift card
    check(row_at(parsed, 17), amount="5000.00", ts="2024-03-07 09:05:00", kind="gift_card", refund_ref=None)
    check(row_at(parsed, 18), kind="qr_payment", direction="in")
    check(row_at(parsed, 19), kind="withdrawal", direction="neutral", status="success", raw_status="提现成功")
    check(row_at(parsed, 20), kind="other", status="success")
    check(row_at(parsed, 21), kind="merchant", status="failed")
    check(row_at(parsed, 22), status="pending")
    check(row_at(parsed, 23), kind="other", status="other", raw_status="奇怪状态")


def test_2026_layout_without_a_preamble_line_is_found_by_content(tmp_path: Path) -> None:
    # The 2026 export reportedly drops a preamble line: no fixed skip count may be assumed.
    pre = [line for line in preamble_2023() if not line.startswith(("共", "导出交易类型"))]
    row = "2024-03-05 10:00:00,餐饮美食,某店,/,午饭,支出,25.50,余额,交易成功,1\t,,,"
    path = write(tmp_path, "2026.csv", pre + [SEPARATOR_2025, HEADER_2023, row])
    parsed = alipay.parse(path)
    header_line = len(pre) + 2
    check(row_at(parsed, header_line + 1), amount="25.50", kind="merchant", txn_id="1")


def test_wrong_column_count_is_rejected_with_its_physical_line(tmp_path: Path) -> None:
    bad = "2024-03-06 11:00:00,餐饮美食,多逗号,/,午饭,加辣,支出,30.00,余额,交易成功,20240306001\t,,,"
    short = "2024-03-08 11:00:00,餐饮美食,少列"
    lines = preamble_2023() + [
        SEPARATOR_2023,
        HEADER_2023,
        "2024-03-05 10:00:00,餐饮美食,某店,/,早饭,支出,12.00,余额,交易成功,20240305001\t,,,",
        "",
        bad,
        "2024-03-07 12:00:00,餐饮美食,某店,/,晚饭,支出,40.00,余额,交易成功,20240307001\t,,,",
        short,
    ]
    path = write(tmp_path, "bad.csv", lines)  # GBK
    parsed = alipay.parse(path)
    first = len(preamble_2023()) + 3  # 1-based line of the first data row
    assert list(parsed.rows["line"]) == [first, first + 3]
    assert list(parsed.rows["amount"]) == ["12.00", "40.00"]
    assert parsed.rows_read == 4
    assert [(r.line, r.raw) for r in parsed.rejects] == [(first + 2, bad), (first + 4, short)]
    assert "14" in parsed.rejects[0].reason and "12" in parsed.rejects[0].reason


def test_stray_quote_does_not_swallow_following_rows(tmp_path: Path) -> None:
    lines = [
        SEPARATOR_2023,
        HEADER_2023,
        '2024-03-05 10:00:00,日用百货,某店,/,"特价 12寸,支出,12.00,余额,交易成功,1\t,,,',
        "2024-03-06 10:00:00,日用百货,某店,/,正常,支出,13.00,余额,交易成功,2\t,,,",
        '2024-03-07 10:00:00,日用百货,某店,/,"多行',
        '说明",支出,14.00,余额,交易成功,3\t,,,',
    ]
    parsed = alipay.parse(write(tmp_path, "quote.csv", lines))
    assert list(parsed.rows["txn_id"]) == ["2", "3"]
    assert row_at(parsed, 5)["memo"] == "多行\n说明"  # a quoted line break, joined
    assert [r.line for r in parsed.rejects] == [3]


def test_app_2021_footer_read_after_data(tmp_path: Path) -> None:
    header = "收/支,交易对方,对方账号,商品说明,收/付款方式,金额,交易状态,交易分类,交易订单号,商家订单号,交易时间,"
    lines = [
        SEPARATOR_2023,
        header,
        "支出,某店,/,午饭,余额,9.00,交易成功,餐饮美食,77\t,,2022-01-02 03:04:05,",
        "-" * 84,
        "导出信息：",
        "姓名：王五",
        "支付宝账户：138****0000",
        "起始时间：[2022-01-01 00:00:00]    终止时间：[2022-01-31 23:59:59]",
    ]
    parsed = alipay.parse(write(tmp_path, "2021.csv", lines))
    assert (parsed.format, parsed.owner, parsed.owner_name) == ("alipay_app_2021", "138****0000", "王五")
    assert parsed.period_end == "2022-01-31 23:59:59"
    check(row_at(parsed, 3), payer="138****0000", payee="某店", amount="9.00", ts="2022-01-02 03:04:05")


def test_separator_without_header_is_a_format_error(tmp_path: Path) -> None:
    path = write(tmp_path, "noheader.csv", preamble_2023() + [SEPARATOR_2023, "2024-03-05 10:00:00,餐饮美食,某店"])
    assert alipay.sniff(path, head(path)) is True
    with pytest.raises(FormatError) as info:
        alipay.parse(path)
    message = str(info.value)
    assert message.startswith("noheader.csv: ") and "header" in message and "\n" not in message


def test_empty_file_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(FormatError, match=r"^empty\.csv: empty file"):
        alipay.parse(path)


@pytest.mark.parametrize(
    "junk",
    [bytes(range(256)) * 40, b"\x89PNG\r\n\x1a\n" + bytes(1000), b"PK\x03\x04" + bytes(range(200, 256)) * 30],
    ids=["bytes", "png", "zip"],
)
def test_binary_junk_is_a_format_error(tmp_path: Path, junk: bytes) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(junk)
    assert alipay.sniff(path, head(path)) is False
    with pytest.raises(FormatError) as info:
        alipay.parse(path)
    assert str(info.value).startswith("junk.csv: ") and "\n" not in str(info.value)


def test_header_without_amount_column_is_a_format_error(tmp_path: Path) -> None:
    path = write(tmp_path, "cut.csv", [SEPARATOR_2023, "交易时间,交易分类,交易对方,交易订单号,", "2024-03-05 10:00:00,x,y,1,"])
    with pytest.raises(FormatError, match=r"^cut\.csv: .*金额"):
        alipay.parse(path)


def test_header_only_gives_an_empty_frame(tmp_path: Path) -> None:
    parsed = alipay.parse(write(tmp_path, "none.csv", preamble_2023() + [SEPARATOR_2023, HEADER_2023]))
    assert parsed.format == "alipay_app_2023" and parsed.rows.empty and parsed.rows_read == 0
    assert list(parsed.rows.columns) == list(MOVEMENT_COLUMNS)


def test_unparseable_time_and_amount_are_left_for_ingest(tmp_path: Path) -> None:
    row = "昨天下午,餐饮美食,某店,/,午饭,支出,十二元,余额,交易成功,1\t,,,"
    parsed = alipay.parse(write(tmp_path, "odd.csv", [SEPARATOR_2023, HEADER_2023, row]))
    check(row_at(parsed, 3), ts="昨天下午", amount="十二元")


def test_a_damaged_byte_rejects_only_its_row(tmp_path: Path) -> None:
    # One byte that is not GBK in the middle of a data row, and the file cut inside the
    # last character (a download that stopped early): the other rows still load.
    data = bytearray(APP_2023.read_bytes())
    at = data.index("商品示例".encode("gbk"))  # in the row on line 27
    data[at] = 0xFF
    assert data.endswith(b"xxxx\t,,\n")
    data = data[: len(data) - 4] + "失".encode("gbk")[:1]  # last row ends inside a GBK character
    path = tmp_path / "damaged.csv"
    path.write_bytes(bytes(data))
    parsed = alipay.parse(path)
    assert (parsed.owner, parsed.encoding) == ("xx@gmail.com", "gbk (damaged)")
    assert [r.line for r in parsed.rejects] == [27, 35]
    assert parsed.rejects[0].reason.startswith("undecodable")
    assert list(parsed.rows["line"]) == [26, 28, 29, 30, 31, 32, 33, 34]
