"""Directions are never invented (issue #14, point 7).

* Alipay 不计收支 / 其他 rows take the holder's side from what the bill says (交易分类,
  商品说明): money that came in (借呗放款至银行卡, 余额宝收益发放, 备用金取出至余额) is
  stored counterparty → holder; money that left him, holder → counterparty; when the bill
  does not tell, the row stays neutral with the holder and the other side empty.
* A 收/支 (借贷类型) value a layout does not have is rejected with its reason, in every
  layout, never merged or stored as a side.
* A row repeated with a later status (已全额退款, 交易关闭) keeps that status.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests import tenpay_samples as tp
from tests.conftest import FORMATS
from tests.helpers import query, rpa

HOLDER = "zhang.san@example.com"
SEPARATOR = "------------------------支付宝（中国）网络技术有限公司  电子客户回单------------------------"
HEADER_2023 = "交易时间,交易分类,交易对方,对方账号,商品说明,收/支,金额,收/付款方式,交易状态,交易订单号,商家订单号,备注,"
WECHAT = FORMATS / "wechat_bill/deb-sig_double-entry-generator@16c48b0/example-wechat-records.csv"


@pytest.fixture
def case(tmp_path):
    folder = tmp_path / "case"
    assert rpa("init", folder).exit_code == 0
    return folder


def alipay_2023(path: Path, rows: list[str]) -> Path:
    """An app-2023 Alipay bill (GBK, CRLF) of HOLDER with these data rows (from line 8)."""
    lines = ["-" * 84, "导出信息：", "姓名：张三", f"支付宝账户：{HOLDER}", "", SEPARATOR, HEADER_2023, *rows]
    path.write_bytes("\r\n".join(lines).encode("gbk") + b"\r\n")
    return path


def row(ts, category, party, account, item, flow, amount, status, txn, merchant=""):
    return f"{ts},{category},{party},{account},{item},{flow},{amount},余额,{status},{txn}\t,{merchant}\t,,"


NEUTRAL_ROWS = [
    # line 8 on: (row, expected payer, payee)
    (row("2024-03-01 09:00:00", "信用借还", "蚂蚁借呗", "/", "借呗放款至银行卡", "不计收支", "20000.00", "交易成功", "A01"),
     "蚂蚁借呗", HOLDER),
    (row("2024-03-02 03:10:00", "投资理财", "天弘基金", "/", "余额宝-2024.03.01-收益发放", "不计收支", "1.23", "交易成功", "A02"),
     "天弘基金", HOLDER),
    (row("2024-03-03 10:00:00", "信用借还", "备用金", "/", "备用金取出至余额", "不计收支", "500.00", "交易成功", "A03"),
     "备用金", HOLDER),
    (row("2024-03-04 10:00:00", "投资理财", "蚂蚁财富-蚂蚁（杭州）基金销售有限公司", "/", "蚂蚁财富-某混合C-卖出至余额宝", "不计收支", "99.34", "交易成功", "A04"),
     "蚂蚁财富-蚂蚁（杭州）基金销售有限公司", HOLDER),
    (row("2024-03-05 10:00:00", "投资理财", "天弘基金", "fun***@thfund.com.cn", "余额宝-自动转入", "不计收支", "300.00", "交易成功", "A05"),
     HOLDER, "fun***@thfund.com.cn"),
    (row("2024-03-06 10:00:00", "信用借还", "花呗", "/", "花呗还款", "不计收支", "812.40", "还款成功", "A06"),
     HOLDER, "花呗"),
    (row("2024-03-07 10:00:00", "日用百货", "某店", "shop***@qq.com", "保温杯", "不计收支", "82.00", "交易关闭", "A07"),
     HOLDER, "shop***@qq.com"),  # a closed purchase: the holder is the buyer
    (row("2024-03-08 10:00:00", "退款", "某店", "shop***@qq.com", "退款-保温杯", "不计收支", "82.00", "退款成功", "A07_1", "M7"),
     "shop***@qq.com", HOLDER),
    # the bill does not say which way: neutral, the other side empty
    (row("2024-03-09 10:00:00", "其他", "某平台", "/", "资金冻结", "不计收支", "1000.00", "交易成功", "A09"), HOLDER, None),
    (row("2024-03-10 10:00:00", "投资理财", "天弘基金", "/", "收益转入", "不计收支", "5.00", "交易成功", "A10"), HOLDER, None),
]


def test_alipay_neutral_rows_take_the_side_the_bill_tells(case, tmp_path):
    path = alipay_2023(tmp_path / "alipay_record_20240401.csv", [r for r, _, _ in NEUTRAL_ROWS])
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 0, result.output
    got = query(case, "SELECT line, direction, payer, payee FROM sightings ORDER BY line")
    assert got == [(8 + i, "neutral", payer, payee) for i, (_, payer, payee) in enumerate(NEUTRAL_ROWS)]
    # the money that came in is the holder's as payee, in the movements too
    assert query(case, "SELECT payer, payee, amount FROM transactions WHERE txn_id = 'A01'") == [
        ("蚂蚁借呗", HOLDER, Decimal("20000.00"))]
    assert query(case, "SELECT payer_name, payee_name FROM transactions WHERE txn_id = 'A09'") == [(None, None)]


def test_alipay_2021_and_legacy_neutral_rows(tmp_path):
    # 2021–22 layout: 收/支 其他
    sep = SEPARATOR
    header = "收/支,交易对方,对方账号,商品说明,收/付款方式,金额,交易状态,交易分类,交易订单号,商家订单号,交易时间,"
    path = tmp_path / "a2021.csv"
    path.write_bytes("\r\n".join([
        sep, header,
        "其他,广发基金管理有限公司,,余额宝-2021.06.08-收益发放,余额宝,0.11,交易成功,投资理财,B1,,2021-06-09 02:57:13,",
        "其他,广发基金管理有限公司,,余额宝-单次转入,余额,2.00,交易成功,投资理财,B2,,2021-06-09 09:00:00,",
        "-" * 84, "导出信息：", f"支付宝账户：{HOLDER}",
    ]).encode("gbk") + b"\r\n")
    from analyzer.formats import alipay

    p = alipay.parse(path)
    assert p.rows[["txn_id", "payer", "payee"]].values.tolist() == [
        ["B1", "广发基金管理有限公司", HOLDER], ["B2", HOLDER, "广发基金管理有限公司"]]
    # legacy web: 收/支 empty, 资金状态 empty → the item text; else 资金状态
    legacy = tmp_path / "legacy.csv"
    head = "交易号,商家订单号,交易创建时间,付款时间,最近修改时间,交易来源地,类型,交易对方,商品名称,金额（元）,收/支,交易状态,服务费（元）,成功退款（元）,备注,资金状态,"
    legacy.write_bytes("\r\n".join([
        "支付宝交易记录明细查询", f"账号:[{HOLDER}]", "-" * 40 + "交易记录明细列表" + "-" * 40, head,
        "L1,,2016-05-01 10:00:00,,,支付宝网站,即时到账交易,天弘基金,余额宝收益发放,0.50,,交易成功,0,0,,,",
        "L2,,2016-05-02 10:00:00,,,支付宝网站,即时到账交易,某人,说不清的款项,9.00,,交易成功,0,0,,,",
        "L3,,2016-05-03 10:00:00,,,支付宝网站,即时到账交易,某人,说不清的款项,9.00,,交易成功,0,0,,已收入,",
        "-" * 84,
    ]).encode("gbk") + b"\r\n")
    p = alipay.parse(legacy)
    assert p.rows[["txn_id", "direction", "payer", "payee"]].values.tolist() == [
        ["L1", "neutral", "天弘基金", HOLDER], ["L2", "neutral", HOLDER, None], ["L3", "in", "某人", HOLDER]]


# ---------------------------------------------------------------- unknown 收/支 values


def test_unknown_flow_values_are_rejected_in_every_layout(case, tmp_path):
    # Alipay: before, 转入 / income were taken as neutral (and merged as "the same row")
    alipay = alipay_2023(tmp_path / "alipay_record_20240402.csv", [
        row("2024-03-01 09:00:00", "转账红包", "李四", "li***@qq.com", "转账", "收入", "66.00", "交易成功", "C1"),
        row("2024-03-01 09:00:00", "转账红包", "李四", "li***@qq.com", "转账", "转入", "66.00", "交易成功", "C1"),
        row("2024-03-01 09:05:00", "转账红包", "李四", "li***@qq.com", "转账", "income", "8.00", "交易成功", "C2"),
    ])
    # WeChat: a 收/支 the bill does not have, on line 19
    lines = WECHAT.read_bytes().split(b"\n")
    lines[18] = lines[18].replace("收入".encode(), "转入".encode(), 1)
    wechat = tmp_path / "wechat.csv"
    wechat.write_bytes(b"\n".join(lines))
    # Tenpay: 借贷类型 other than 出/入, on line 3
    tenpay = tmp_path / "TenpayTrades.txt"
    tp.write_trades(tenpay, [tp.transfer_in(payer="wxid_x", payer_name="李四", fen=6600, ts="2024-03-01 09:00:00"),
                             {**tp.transfer_in(payer="wxid_y", payer_name="王五", fen=800, ts="2024-03-01 09:05:00"), "借贷类型": "转入"}])
    for path in (alipay, wechat, tenpay):
        assert rpa("ingest", path, "--case", case).exit_code == 1
    assert query(case, "SELECT s.format, r.line, r.reason FROM rejects r JOIN sources s USING (source_id) ORDER BY ALL") == [
        ("alipay_app_2023", 9, "unknown 收/支 value '转入'"),
        ("alipay_app_2023", 10, "unknown 收/支 value 'income'"),
        ("tenpay_27", 3, "unknown 借贷类型 value '转入'"),
        ("wechat_csv", 19, "unknown 收/支 value '转入'"),
    ]
    assert query(case, "SELECT count(*) FROM sightings WHERE txn_id = 'C1'") == [(1,)]
    assert query(case, "SELECT count(*) FROM duplicates") == [(0,)]


# ---------------------------------------------------------------- repeated rows and their status


def wechat_bill(path: Path, rows: list[str], nick: str = "测试") -> Path:
    head = [f"微信支付账单明细,,,,,,,,,,", f"微信昵称：[{nick}],,,,,,,,,,", "交易时间,交易类型,交易对方,商品,收/支,金额(元),支付方式,当前状态,交易单号,商户单号,备注"]
    path.write_text("\n".join(head + rows) + "\n", encoding="utf-8")
    return path


SENT = "2026-01-10 20:00:00,微信红包（单发）,发给李四,/,支出,¥200.00,零钱,{status},10000399012601100000000000000000000001\t,1000039901202601100000000000001\t,/"


def test_wechat_row_repeated_with_a_later_refund_keeps_the_refund(case, tmp_path):
    # One bill holding the row twice (支付成功, then 已全额退款), and the same packet in two
    # overlapping bills exported before and after the refund: one movement, refunded,
    # the raw status with it, whatever the order.
    same_file = wechat_bill(tmp_path / "both.csv", [SENT.format(status="支付成功"), SENT.format(status="已全额退款")])
    assert rpa("ingest", same_file, "--case", case).exit_code == 0
    assert query(case, "SELECT count(*), min(status), min(raw_status) FROM transactions") == [(1, "refunded", "已全额退款")]
    assert query(case, "SELECT line, matched_on FROM duplicates") == [(5, "same row")]
    for order in ((0, 1), (1, 0)):
        other = tmp_path / f"case{order[0]}"
        assert rpa("init", other).exit_code == 0
        bills = [wechat_bill(tmp_path / f"early{order[0]}.csv", [SENT.format(status="支付成功")]),
                 wechat_bill(tmp_path / f"late{order[0]}.csv", [SENT.format(status="已全额退款"), "2026-01-11 20:00:00,微信红包-退款,李四,/,收入,¥200.00,/,已存入零钱,1000039901260111000000000000000002\t,1000039901202601100000000000001\t,/"])]
        for i in order:
            assert rpa("ingest", bills[i], "--case", other).exit_code == 0
        assert query(other, "SELECT kind, status, raw_status FROM transactions ORDER BY ts") == [
            ("red_packet", "refunded", "已全额退款"), ("refund", "success", "已存入零钱")]


def test_alipay_row_repeated_with_a_later_close_keeps_it(case, tmp_path):
    paid = row("2024-03-01 12:00:00", "日用百货", "某店", "shop***@qq.com", "保温杯", "支出", "82.00", "交易成功", "D1", "M1")
    closed = row("2024-03-01 12:00:00", "日用百货", "某店", "shop***@qq.com", "保温杯", "支出", "82.00", "交易关闭", "D1", "M1")
    path = alipay_2023(tmp_path / "alipay_record_20240403.csv", [paid, closed])
    assert rpa("ingest", path, "--case", case).exit_code == 0
    assert query(case, "SELECT count(*), min(status), min(raw_status) FROM transactions") == [(1, "closed", "交易关闭")]
    assert query(case, "SELECT line, matched_on FROM duplicates") == [(9, "same row")]
