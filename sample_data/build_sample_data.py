"""Write sample_data/: a small synthetic case in every supported export layout.

    python sample_data/build_sample_data.py

Every name, account and id here is invented. The world: the Party branch of 古云村,
its secretary 王建国 (P001), four Party members, his wife 刘芳, a contractor 张老板 whom
he oversees, and a few strangers. The exports show one movement from several sides,
so ingest's dedupe has work to do:

- wechat/  王建国's WeChat bill (CSV, 2025 layout) and 李红's (XLSX, 2026 layout):
           the packets he sent her appear in both, with the same 商户单号.
- alipay/  张老板's Alipay bill (GBK, 2023+ app layout): transfers to 刘芳.
- tenpay/  a Tenpay production with 张老板's and 王建国's accounts: the packets from
           张老板 to 王建国 appear in both files, with different 交易单号.
- canonical/bank.csv  rpa's canonical format: bank transfers.

Until `rpa synth` exists this script is how sample_data is made; it is deterministic.
"""

from __future__ import annotations

import csv
import shutil
import sys
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests import tenpay_samples as tp  # noqa: E402

PEOPLE = [
    # person_id, name, accounts, party_member, official, org_unit, position, rank
    ("P001", "王建国", "wxid_wjg001;建国;老王", "是", "是", "古云村党支部", "支部书记", "3"),
    ("P002", "李红", "wxid_lihong;红姐", "是", "否", "古云村党支部", "党员", ""),
    ("P003", "赵强", "wxid_zhaoq;强子", "是", "否", "古云村党支部", "党员", ""),
    ("P004", "陈明", "wxid_chenm;明明", "是", "否", "古云村党支部", "党员", ""),
    ("P005", "孙丽", "wxid_sunli;丽丽", "是", "否", "古云村党支部", "党员", ""),
    ("P006", "刘芳", "wxid_liufang;芳芳;liu***@163.com", "否", "否", "", "", ""),
    ("P007", "周涛", "wxid_zhout;涛子", "是", "否", "古云村党支部", "党员", ""),
    ("P008", "吴刚", "wxid_wugang;刚子", "否", "否", "古云村党支部", "村民代表", ""),
    ("P010", "张老板", "zhang_boss;张总;zhang.boss@example.com", "否", "否", "古云建筑公司", "经理", ""),
]
RELATIONS = [
    ("P006", "P001", "family", "配偶"),
    ("P010", "P001", "service_object", "村道工程承包方"),
    ("P002", "P001", "subordinate", ""),
]

WECHAT_HEADER = ["交易时间", "交易类型", "交易对方", "商品", "收/支", "金额(元)", "支付方式", "当前状态", "交易单号", "商户单号", "备注"]


def packet_ids(n: int, day: str) -> tuple[str, str]:
    """(交易单号, 商户单号) of a red packet, shaped like the real ones."""
    ymd = day.replace("-", "")
    return f"1000039901{ymd[2:]}{n:020d}", f"1000039901{ymd}{n:013d}"


def wang_bill() -> list[list[str]]:
    """王建国's own WeChat bill rows (he is the owner, nickname 建国)."""
    rows = []
    members = [("红姐", "P002"), ("强子", "P003"), ("明明", "P004"), ("丽丽", "P005")]
    n = 1
    for day in ("2026-01-12", "2026-01-19", "2026-02-02"):
        for i, (nick, _) in enumerate(members):
            txn, mch = packet_ids(n, day)
            n += 1
            rows.append([f"{day} 20:{10 + i:02d}:05", "微信红包（单发）", f"发给{nick}", "/", "支出", "¥200.00", "零钱", "支付成功", txn + "\t", mch + "\t", "/"])
    # two more voters of the branch, paid by transfer before the vote
    for i, nick in enumerate(("涛子", "刚子")):
        rows.append([f"2026-02-05 19:0{i}:00", "转账", nick, "转账备注:心意", "支出", "¥500.00", "零钱", "对方已收钱",
                     f"100005000120260205000000000000{i}\t", f"100005000120260205000000000000{i}\t", "/"])
    txn, mch = packet_ids(n, "2026-02-03")
    rows.append(["2026-02-03 21:00:00", "微信红包（群红包）", "发出群红包", "/", "支出", "¥500.00", "零钱", "已退还(￥12.34)", txn + "\t", mch + "\t", "/"])
    rows.append(["2026-02-04 21:00:05", "微信红包-退款", "发出群红包", "/", "收入", "¥12.34", "零钱", "已存入零钱", f"{txn}01\t", mch + "\t", "/"])
    rows.append(["2026-02-10 12:30:00", "转账", "芳芳", "转账备注:家用", "支出", "¥2,000.00", "零钱", "对方已收钱", "1000050001202602100000000000001\t", "1000050001202602100000000000001\t", "/"])
    rows.append(["2026-02-11 18:20:00", "商户消费", "古云超市", "年货", "支出", "¥356.80", "零钱", "支付成功", "4200002026021100000000000001\t", "GY20260211001\t", "/"])
    rows.append(["2026-02-16 09:00:00", "微信红包", "张总", "/", "收入", "¥200.00", "/", "已存入零钱", "1000039801260216000000000000000000000001\t", "10000398012026021600000000001\t", "/"])
    return rows


def li_bill() -> list[list]:
    """李红's WeChat bill rows (owner nickname 红姐): the packets 建国 sent her."""
    rows = []
    n = 1
    for day in ("2026-01-12", "2026-01-19", "2026-02-02"):
        txn, mch = packet_ids(n, day)
        n += 4  # her packet is the first of each round of four
        rows.append([f"{day} 20:10:41", "微信红包", "建国", "/", "收入", Decimal("200.00"), "/", "已存入零钱", f"{txn[:-2]}77", mch, "/"])
    rows.append(["2026-02-14 10:00:00", "微信红包", "强子", "/", "收入", Decimal("5.20"), "/", "已存入零钱", "10000399012602140000000000000000000099", "1000039901202602140000000000099", "/"])
    rows.append(["2026-03-01 08:15:00", "商户消费", "早餐店", "/", "支出", Decimal("1234.50"), "零钱", "支付成功", "4200002026030100000000000009", "ZC001", "/"])
    return rows


def write_wechat_csv(path: Path, nickname: str, rows: list[list[str]]) -> None:
    pad = "," * 10
    preamble = [
        "微信支付账单明细",
        f"微信昵称：[{nickname}]",
        "起始时间：[2026-01-01 00:00:00] 终止时间：[2026-03-31 23:59:59]",
        "导出类型：[全部]",
        "导出时间：[2026-04-01 10:00:00]",
        "",
        f"共{len(rows)}笔记录",
        "收入：0笔 0.00元",
        "支出：0笔 0.00元",
        "中性交易：0笔 0.00元",
        "注：",
        "1. 充值/提现/理财通购买/零钱通存取/信用卡还款等交易，将计入中性交易",
        "2. 本明细仅展示当前账单中的交易，不包括已删除的记录",
        "3. 本明细仅供个人对账使用",
        "",
        "----------------------微信支付账单明细列表--------------------",
    ]
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        for line in preamble:
            f.write(line + pad + "\r\n")
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(WECHAT_HEADER)
        w.writerows(rows)


def write_wechat_xlsx(path: Path, nickname: str, rows: list[list]) -> None:
    """The 2026-03 XLSX layout: note 4 added, header on row 18, amounts as numbers."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    preamble = [
        "微信支付账单明细", f"微信昵称：[{nickname}]",
        "起始时间：[2026-01-01 00:00:00] 终止时间：[2026-03-31 23:59:59]", "导出类型：[全部]",
        "导出时间：[2026-04-01 10:00:00]", None, f"共{len(rows)}笔记录", "收入：0笔 0.00元", "支出：0笔 0.00元",
        "中性交易：0笔 0.00元", "注：", "1. 充值/提现/理财通购买/零钱通存取/信用卡还款等交易，将计入中性交易",
        "2. 若交易记录明细无有效内容，则代表该时间段内此微信号无交易。", "3. 本明细仅供个人对账使用",
        "4. 本账单中所有时间均为UTC+08:00时间", None, "----------------------微信支付账单明细列表--------------------",
    ]
    for line in preamble:
        ws.append([line])
    ws.append(WECHAT_HEADER)
    for r in rows:
        ws.append([float(c) if isinstance(c, Decimal) else c for c in r])
        ws.cell(row=ws.max_row, column=6).number_format = "\\¥#,##0.00"
    wb.save(path)


def write_alipay(path: Path) -> None:
    """张老板's Alipay bill, 2023+ app layout, GBK."""
    rows = [
        ["2026-01-28 19:00:00", "转账红包", "刘芳", "liu***@163.com", "转账", "支出", "3000.00", "余额", "交易成功", "20260128200040011100000000000001\t", "\t", ""],
        ["2026-02-15 10:30:00", "转账红包", "刘芳", "liu***@163.com", "发普通红包", "支出", "200.00", "余额", "交易成功", "20260215200040011100000000000002\t", "\t", ""],
        ["2026-02-20 14:00:00", "餐饮美食", "古云饭店", "gy***@example.com", "工程宴请", "支出", "1888.00", "花呗", "交易成功", "20260220200040011100000000000003\t", "T2026022000001\t", ""],
        ["2026-03-05 09:00:00", "日用百货", "京东", "jd***@jd.com", "京东E卡 1000元", "支出", "1000.00", "余额", "交易成功", "20260305200040011100000000000004\t", "JD2026030500001\t", ""],
    ]
    lines = [
        "-" * 84, "导出信息：", "姓名：张老板", "支付宝账户：zhang.boss@example.com",
        "起始时间：[2026-01-01 00:00:00]    终止时间：[2026-03-31 23:59:59]", "导出交易类型：[全部]",
        "导出时间：[2026-04-01 09:00:00]", f"共{len(rows)}笔记录", "收入：0笔 0.00元", "支出：4笔 6088.00元", "不计收支：0笔 0.00元",
        "", "特别提示：", "1.本回单内容可表明支付宝受理了相应支付交易申请，因系统原因或通讯故障等偶发因素导致本回单与实际交易结果不符时，以实际交易情况为准；",
        "", "-" * 24 + "支付宝（中国）网络技术有限公司  电子客户回单" + "-" * 24,
        "交易时间,交易分类,交易对方,对方账号,商品说明,收/支,金额,收/付款方式,交易状态,交易订单号,商家订单号,备注,",
    ]
    text = "\r\n".join(lines) + "\r\n" + "".join(",".join(r) + ",\r\n" for r in rows)
    path.write_bytes(text.encode("gbk"))


def write_tenpay(root: Path) -> None:
    """A production with 张老板's and 王建国's accounts; both show 张老板's packets."""
    boss_rows, wang_rows = [], []
    for i, (day, fen) in enumerate([("2026-02-16", 20000), ("2026-02-16", 20000), ("2026-02-16", 20000), ("2026-09-20", 20000)]):
        ts = f"{day} 09:0{i}:00" if day == "2026-02-16" else f"{day} 21:00:00"
        boss_rows.append(tp.red_packet_out(peer="wxid_wjg001", peer_name="王建国", fen=fen, ts=ts, uid="zhang_boss", name="张老板"))
        recv = ts[:-2] + "07"  # the receiver's row is a few seconds later, with its own id
        wang_rows.append(tp.red_packet_in(payer="zhang_boss", payer_name="张老板", fen=fen, ts=recv, uid="wxid_wjg001", name="王建国"))
    boss_rows.append(tp.merchant_direct(merchant="古云建材有限公司", spid="1900000001", fen=5600000, ts="2026-03-02 11:00:00", product="水泥", uid="zhang_boss", name="张老板"))
    wang_rows.append(
        tp.group_red_packet(total_fen=5000, shares=[("wxid_lihong", "李红", 1200), ("wxid_zhaoq", "赵强", 2300), ("wxid_chenm", "陈明", 1500)],
                            ts="2026-01-25 20:00:00", uid="wxid_wjg001", name="王建国")
    )
    tp.write_production(root, {"zhang_boss": boss_rows, "wxid_wjg001": _flatten(wang_rows)}, id_number="000000197001010011")


def _flatten(rows: list) -> list:
    out = []
    for r in rows:
        out.extend(r if isinstance(r, list) else [r])
    return out


def write_bank(path: Path) -> None:
    rows = [
        {"txn_id": "B001", "ts": "2026-02-01 10:00:00", "payer": "6222000000000010", "payee": "6222000000000001", "payer_name": "张老板", "payee_name": "王建国",
         "amount": "50000.00", "kind": "transfer", "status": "success", "channel": "bank", "memo": "借款", "bank": "示例银行"},
        {"txn_id": "B002", "ts": "2026-03-15 16:45:00", "payer": "6222000000000001", "payee": "6222000000000010", "payer_name": "王建国", "payee_name": "张老板",
         "amount": "50000.00", "kind": "transfer", "status": "success", "channel": "bank", "memo": "还款", "bank": "示例银行"},
    ]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def main() -> None:
    for sub in ("wechat", "alipay", "tenpay", "canonical"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
        (HERE / sub).mkdir()
    with open(HERE / "people.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["person_id", "name", "accounts", "party_member", "official", "org_unit", "position", "rank"])
        w.writerows(PEOPLE)
    with open(HERE / "relations.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["person_id", "other_id", "relation", "note"])
        w.writerows(RELATIONS)
    write_wechat_csv(HERE / "wechat" / "微信支付账单(20260101-20260331).csv", "建国", wang_bill())
    write_wechat_xlsx(HERE / "wechat" / "微信支付账单流水文件(20260101-20260331)——【解压密码可在微信支付公众号查看】.xlsx", "红姐", li_bill())
    write_alipay(HERE / "alipay" / "支付宝交易明细(20260101-20260331).csv")
    write_tenpay(HERE / "tenpay")
    write_bank(HERE / "canonical" / "bank.csv")


if __name__ == "__main__":
    main()
