"""Write synthetic Tenpay (财付通) TenpayTrades.txt files for tests.

No real production can be shared, so tests build their own from the layout in
shared/research/formats.md §3: TAB-separated, header on line 1, amounts in
integer fen, the second 第三方账户名称 cell a CSV-quoted JSON object for
indirect merchants. All names, ids and numbers here are made up.

A row is a dict keyed by the *field* names below (the header names, with the
repeated ones told apart: 用户侧网联/银联 vs 对手侧网联/银联, 第三方账户名称 vs
间连商户信息 for the JSON one). Fields that a layout lacks are dropped, so one
row dict writes both the 27- and the 26-column layout. A row can also be a list
of cells or a str (written as-is), to make malformed lines.

Run `python tests/tenpay_samples.py` to regenerate tests/fixtures/tenpay/.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# Verbatim from formats.md §3.3 (kept apart from the parser's copy on purpose).
HEADER_27 = (
    "用户ID\t交易单号\t大单号\t用户侧账号名称\t借贷类型\t交易业务类型\t交易用途类型\t交易时间\t"
    "交易金额(分)\t账户余额(分)\t用户银行卡号\t用户侧网银联单号\t网联/银联\t第三方账户名称\t对手方ID\t"
    "对手侧账户名称\t对手方银行卡号\t对手侧银行名称\t对手侧网银联单号\t网联/银联\t基金公司信息\t"
    "间联/非间联交易\t第三方账户名称\t对手方接收时间\t对手方接收金额(分)\t备注1\t备注2"
).split("\t")
HEADER_26 = (
    "用户ID\t交易单号\t大单号\t用户侧账号名称\t借贷类型\t交易业务类型\t交易用途类型\t交易时间\t"
    "交易金额(分)\t账户余额(分)\t用户银行卡号\t用户侧银行名称\t用户侧网银联单号\t网联/银联\t第三方账户名称\t"
    "对手方ID\t对手侧账户名称\t对手方银行卡号\t对手侧银行名称\t对手侧网银联单号\t网联/银联\t第三方账户名称\t"
    "对手方接收时间\t对手方接收金额(分)\t备注1\t备注2"
).split("\t")


def _fields(header: list[str]) -> list[str]:
    """Unique field names for a header: the repeated columns get a side prefix."""
    out = []
    for h in header:
        if h == "网联/银联":
            h = "用户侧网联/银联" if "用户侧网联/银联" not in out else "对手侧网联/银联"
        elif h == "第三方账户名称" and h in out:
            h = "间连商户信息"
        out.append(h)
    return out


FIELDS_27 = _fields(HEADER_27)
FIELDS_26 = _fields(HEADER_26)
ALL_FIELDS = set(FIELDS_27) | set(FIELDS_26)

OWNER = "wxid_owner0001"
OWNER_NAME = "张三"
DIRECT = "非间连交易"
INDIRECT = "间连交易，实际收款商户联系间连服务商或第三方账户中的收单机构通过大单号查询"
TENPAY_CO = "财付通支付科技有限公司"


def _digits(length: int, *seed: object) -> str:
    """`length` pseudo-random digits derived from `seed` (deterministic)."""
    out = ""
    counter = 0
    while len(out) < length:
        h = hashlib.sha256(repr((seed, counter)).encode()).hexdigest()
        out += str(int(h, 16))
        counter += 1
    return out[:length]


def _txn(prefix: str, ts: str, length: int, *seed: object) -> str:
    """A 交易单号 shaped like the real ones: <spid/prefix><YYMMDD><digits>, `length` long."""
    yymmdd = ts[2:4] + ts[5:7] + ts[8:10]
    head = prefix + yymmdd
    return head + _digits(length - len(head), prefix, ts, *seed)


def quote_json(value: Mapping[str, str] | str) -> str:
    """The CSV-style quoted JSON cell: `"{""fcapital_type"":""10"",…}"`."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return '"' + text.replace('"', '""') + '"'


def _line(row: Mapping[str, object] | Sequence[str] | str, fields: list[str]) -> str:
    if isinstance(row, str):
        return row
    if not isinstance(row, Mapping):
        return "\t".join(str(c) for c in row)
    unknown = set(row) - ALL_FIELDS
    if unknown:
        raise KeyError(f"unknown TenpayTrades fields: {sorted(unknown)}")
    cells = []
    for f in fields:
        v = row.get(f, "")
        if f == "间连商户信息" and v:
            v = quote_json(v)  # type: ignore[arg-type]
        cells.append("" if v is None else str(v))
    return "\t".join(cells)


def write_trades(
    path: Path | str | bytes,
    rows: Iterable[Mapping[str, object] | Sequence[str] | str],
    *,
    columns: int = 27,
    encoding: str = "utf-8",
    bom: bool = False,
    newline: str = "\n",
    header: bool = True,
) -> None:
    """Write a TenpayTrades.txt: the 27- or 26-column header, then one line per row.

    `encoding` is "utf-8" or "gbk"; `bom` adds a UTF-8 BOM; `newline` "\\r\\n" makes CRLF.
    """
    if columns not in (26, 27):
        raise ValueError("columns must be 26 or 27")
    head, fields = (HEADER_27, FIELDS_27) if columns == 27 else (HEADER_26, FIELDS_26)
    lines = ["\t".join(head)] if header else []
    lines += [_line(r, fields) for r in rows]
    data = (newline.join(lines) + newline).encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    with open(path, "wb") as fh:
        fh.write(data)


# ----------------------------------------------------------------------------- archetypes
# Each builder returns a row dict (or a list of them) for the file of `uid`.


def _base(uid: str, name: str, drcr: str, use: str, ts: str, fen: int, txn: str, *, balance: int = 0,
          biz: str = "余额支付") -> dict:  # fmt: skip
    return {
        "用户ID": uid,
        "交易单号": txn,
        "用户侧账号名称": name,
        "借贷类型": drcr,
        "交易业务类型": biz,
        "交易用途类型": use,
        "交易时间": ts,
        "交易金额(分)": str(fen),
        "账户余额(分)": str(balance),
        "间联/非间联交易": DIRECT,
    }


def red_packet_out(*, peer: str, peer_name: str, fen: int, ts: str, uid: str = OWNER, name: str = OWNER_NAME,
                   recv_fen: int | None = None, recv_ts: str | None = None, txn: str | None = None) -> dict:
    """An outgoing 1:1 red packet; by default the peer received all of it at `ts`."""
    txn = txn or _txn("1000039801", ts, 36, uid, peer, fen)
    row = _base(uid, name, "出", "转账", ts, fen, txn)
    row.update({
        "对手方ID": peer, "对手侧账户名称": peer_name,
        "对手方接收时间": recv_ts or ts, "对手方接收金额(分)": str(fen if recv_fen is None else recv_fen),
        "备注1": "微信红包", "备注2": "微信红包",
    })  # fmt: skip
    return row


def red_packet_in(*, payer: str, payer_name: str, fen: int, ts: str, uid: str = OWNER, name: str = OWNER_NAME,
                  by_card: bool = False, txn: str | None = None) -> dict:
    """An incoming red packet; `by_card` shows the payer's bank card (快捷支付)."""
    txn = txn or _txn("1000039901", ts, 40, payer, uid, fen)
    row = _base(uid, name, "入", "转账", ts, fen, txn, biz="快捷支付" if by_card else "余额支付")
    row.update({"对手方ID": payer, "对手侧账户名称": payer_name, "备注1": "微信红包", "备注2": "微信红包"})
    if by_card:
        row.update({
            "对手方银行卡号": "6222" + _digits(12, payer), "对手侧银行名称": "示例银行",
            "对手侧网银联单号": _digits(20, payer, ts), "对手侧网联/银联": "网联",
        })  # fmt: skip
    return row


def group_red_packet(*, total_fen: int, shares: Sequence[tuple[str, str, int]], ts: str, uid: str = OWNER,
                     name: str = OWNER_NAME, txn: str | None = None) -> list[dict]:
    """A group red packet in the sender's file: one 出 row per grabber (peer, name, fen),
    the same 交易单号 and the packet total repeated in 交易金额(分) (formats.md §3.5)."""
    txn = txn or _txn("1000039801", ts, 36, uid, total_fen, "group")
    rows = []
    for i, (peer, peer_name, fen) in enumerate(shares):
        recv_ts = ts[:-2] + f"{(int(ts[-2:]) + i + 1) % 60:02d}"
        rows.append(red_packet_out(peer=peer, peer_name=peer_name, fen=total_fen, ts=ts, uid=uid, name=name,
                                   recv_fen=fen, recv_ts=recv_ts, txn=txn))  # fmt: skip
    return rows


def transfer_out(*, peer: str, peer_name: str, fen: int, ts: str, memo: str = "微信转账", uid: str = OWNER,
                 name: str = OWNER_NAME, recv_fen: int | None = None, txn: str | None = None) -> dict:
    """An outgoing transfer (备注2 = the payer's note, or 微信转账)."""
    txn = txn or _txn("10000502", ts, 36, uid, peer, fen)
    row = _base(uid, name, "出", "转账", ts, fen, txn)
    row.update({
        "大单号": "5301" + _digits(28, txn), "对手方ID": peer, "对手侧账户名称": peer_name,
        "对手方接收时间": ts, "对手方接收金额(分)": str(fen if recv_fen is None else recv_fen),
        "备注1": "微信转账", "备注2": memo,
    })  # fmt: skip
    return row


def transfer_in(*, payer: str, payer_name: str, fen: int, ts: str, memo: str = "微信转账", uid: str = OWNER,
                name: str = OWNER_NAME, txn: str | None = None) -> dict:
    """An incoming transfer (大单号 empty, as observed)."""
    txn = txn or _txn("10000502", ts, 36, payer, uid, fen)
    row = _base(uid, name, "入", "转账", ts, fen, txn)
    row.update({"对手方ID": payer, "对手侧账户名称": payer_name, "备注1": "微信转账", "备注2": memo})
    return row


def qr_payment(*, payee: str, payee_name: str, code_name: str, fen: int, ts: str, uid: str = OWNER,
               name: str = OWNER_NAME, txn: str | None = None) -> dict:
    """A payment to a personal 收款码 (备注2 `扫二维码付款-给<code name>`)."""
    txn = txn or _txn("1000107301", ts, 36, uid, payee, fen)
    row = _base(uid, name, "出", "转账", ts, fen, txn)
    row.update({
        "大单号": "5311" + _digits(28, txn), "对手方ID": payee, "对手侧账户名称": payee_name,
        "对手方接收时间": ts, "对手方接收金额(分)": str(fen),
        "备注1": "微信转账", "备注2": f"扫二维码付款-给{code_name}",
    })  # fmt: skip
    return row


def merchant_direct(*, merchant: str, spid: str, fen: int, ts: str, product: str, uid: str = OWNER,
                    name: str = OWNER_NAME, txn: str | None = None) -> dict:
    """A payment to a direct merchant: 对手方ID `<merchant>(<spid>)`, 备注1 empty."""
    txn = txn or _txn(spid, ts, 32, uid, merchant, fen)
    row = _base(uid, name, "出", "消费", ts, fen, txn)
    row.update({
        "大单号": "4200" + _digits(24, txn), "对手方ID": f"{merchant}({spid})", "对手侧账户名称": merchant,
        "对手方银行卡号": _digits(16, spid), "对手侧银行名称": "示例银行", "备注2": product,
    })  # fmt: skip
    return row


def merchant_indirect(*, merchant: str, fen: int, ts: str, product: str, acquirer: str = "中国银联股份有限公司",
                      uid: str = OWNER, name: str = OWNER_NAME, txn: str | None = None) -> dict:
    """A payment to an indirect (间连) merchant: 对手方ID empty, the acquirer as
    对手侧账户名称, the real merchant only in the quoted JSON cell."""
    spid = "19" + _digits(8, merchant)
    txn = txn or _txn(spid, ts, 32, uid, merchant, fen)
    row = _base(uid, name, "出", "消费", ts, fen, txn)
    row.update({
        "大单号": "4200" + _digits(24, txn), "对手方ID": "", "对手侧账户名称": acquirer,
        "间联/非间联交易": INDIRECT, "备注2": product,
        "间连商户信息": {
            "fcapital_type": "10", "fextend_uin": _digits(10, merchant), "fextend_name": merchant,
            "fextend_short_name": merchant[:4], "fextend_agent_spid": _digits(10, acquirer),
            "fextend_agent_name": "示例收单服务商",
        },
    })  # fmt: skip
    return row


def withdrawal(*, fen: int, fee_fen: int, ts: str, card: str = "6222000000001234", bank: str = "示例银行",
               uid: str = OWNER, name: str = OWNER_NAME, txn: str | None = None) -> list[dict]:
    """A withdrawal to the owner's card and its fee: two 出 rows with one 交易单号."""
    txn = txn or _txn("207", ts, 30, uid, fen)
    main = _base(uid, name, "出", "提现", ts, fen, txn)
    main.update({"对手方ID": uid, "对手侧账户名称": name, "对手方银行卡号": card, "对手侧银行名称": bank})
    fee = _base(uid, name, "出", "手续费", ts, fee_fen, txn)
    fee.update({"对手方ID": TENPAY_CO, "对手侧账户名称": TENPAY_CO})
    return [main, fee]


# ----------------------------------------------------------------------------- productions


def write_production(
    root: Path | str,
    accounts: Mapping[str, Iterable[Mapping[str, object] | Sequence[str] | str]],
    *,
    id_number: str = "000000199001010011",
    production: str = "0123456789abcdef0123456789abcdef",
    tp: str = "0a1b2c3d",
    columns: int = 27,
    encoding: str = "utf-8",
) -> list[Path]:
    """Build `财付通_<32hex>/TP<8hex>/IDCARD/<id>/<account>/TenpayTrades.txt` under root,
    one folder per account (empty rows = header-only file), with a TenpayRegInfo.txt beside.

    The `财付通_…` folder name is written as GBK bytes, as in productions extracted on
    Chinese Windows. Returns the TenpayTrades.txt paths as Path objects (on Linux the
    GBK name comes back surrogate-escaped, exactly as os.walk would give it).
    """
    top = bytes(Path(root)) + b"/" + "财付通_".encode("gbk") + production.encode("ascii")
    written = []
    for account, rows in accounts.items():
        folder = top + b"/" + f"TP{tp}/IDCARD/{id_number}/{account}".encode("ascii")
        os.makedirs(folder, exist_ok=True)
        trades = folder + b"/TenpayTrades.txt"
        write_trades(trades, rows, columns=columns, encoding=encoding)
        reg = "账户状态\t账号\t注册姓名\t注册时间\t注册身份证号\t绑定手机\t绑定状态\t开户行信息\t银行账号\n"
        reg += f"正常\t{account}\t{OWNER_NAME}\t2015-01-01 00:00:00\t{id_number}\t13800000000\t已绑定\t示例银行\t6222000000001234\n"
        with open(folder + b"/TenpayRegInfo.txt", "wb") as fh:
            fh.write(reg.encode(encoding))
        written.append(Path(os.fsdecode(trades)))
    return written


# ----------------------------------------------------------------------------- fixtures

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tenpay"


def fixture_rows_27() -> list:
    """Every archetype, for the committed 27-column UTF-8 fixture."""
    return [
        red_packet_out(peer="wxid_peer0001", peer_name="李四", fen=20000, ts="2025-01-28 20:00:00"),
        red_packet_in(payer="wxid_peer0002", payer_name="王五", fen=8800, ts="2025-01-28 21:05:10", by_card=True),
        *group_red_packet(
            total_fen=10000,
            shares=[("wxid_g1", "赵一", 2500), ("wxid_g2", "钱二", 3100), ("wxid_g3", "孙三", 1400), ("wxid_g4", "周四", 3000)],
            ts="2025-01-29 09:00:00",
        ),
        transfer_out(peer="wxid_peer0001", peer_name="李四", fen=500000, ts="2025-02-01 10:00:00", memo="还款"),
        qr_payment(payee="wxid_shop0001", payee_name="吴六", code_name="吴六的小店", fen=3550, ts="2025-02-02 12:30:00"),
        merchant_direct(merchant="示例超市有限公司", spid="1900000001", fen=12345, ts="2025-02-03 18:00:00", product="超市购物"),
        merchant_indirect(merchant="示例茶叶店", fen=88800, ts="2025-02-04 15:00:00", product="茶叶礼盒"),
        merchant_direct(merchant="示例电商有限公司", spid="1900000002", fen=100000, ts="2025-02-05 09:30:00", product="京东E卡 1000元"),
        *withdrawal(fen=100000, fee_fen=100, ts="2025-02-06 08:00:00"),
    ]


def fixture_rows_26() -> list:
    """A few rows for the committed 26-column GBK fixture (2024 layout)."""
    uid, name = "owner_custom26", "陈七"
    return [
        red_packet_in(payer="wxid_peer0003", payer_name="郑八", fen=20000, ts="2024-02-10 08:08:08", uid=uid, name=name),
        transfer_out(peer="wxid_peer0004", peer_name="冯九", fen=66600, ts="2024-02-11 11:11:11", uid=uid,
                     name=name, recv_fen=0),
        transfer_in(payer="wxid_peer0004", payer_name="冯九", fen=66600, ts="2024-02-12 11:11:11", uid=uid, name=name,
                    memo="退还"),
        merchant_direct(merchant="示例蛋糕店", spid="1900000003", fen=16800, ts="2024-02-13 16:00:00",
                        product="生日蛋糕", uid=uid, name=name),
    ]


def write_fixtures(folder: Path = FIXTURES) -> list[Path]:
    """(Re)write the committed fixtures; tests check the committed copies match."""
    folder.mkdir(parents=True, exist_ok=True)
    a = folder / "TenpayTrades_27_utf8.txt"
    b = folder / "TenpayTrades_26_gbk.txt"
    write_trades(a, fixture_rows_27(), columns=27, encoding="utf-8")
    write_trades(b, fixture_rows_26(), columns=26, encoding="gbk")
    return [a, b]


if __name__ == "__main__":
    for p in write_fixtures():
        print(p)
