"""The export layouts `rpa synth` writes, each a view of the ground-truth movements.

* canonical: rpa's canonical CSV, one row per movement, written chunk by chunk.
* wechat: a WeChat Pay bill per account holder (CSV 2025 layout or XLSX 2026 layout),
  only the holder's side (支出/收入), counterparties by nickname (发给<昵称>).
* alipay: an Alipay app bill (2023 layout, GBK) per holder, counterparties by real
  name and masked account.
* tenpay: a Tenpay production tree, one folder per account, both sides of every
  movement present (TenpayTrades.txt, 27 columns).
* mixed: each roster person gets one of the above (or a canonical file of his side).

What a view shows (formats.md §1.6, §3.5): a group packet is one total row in the
sender's WeChat bill and one row per grabber in his Tenpay file; a grabbed share is a
plain 微信红包 row in the grabber's bill; an unclaimed packet's refund is a row of the
sender's WeChat bill only; the receiver of an unclaimed packet never sees it.

The per-holder layouts are staged in Parquet files and written holder by holder from
a sorted DuckDB stream, so memory stays flat as the world grows.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from analyzer import synth as S

WECHAT_HEADER = ["交易时间", "交易类型", "交易对方", "商品", "收/支", "金额(元)", "支付方式", "当前状态", "交易单号", "商户单号", "备注"]
ALIPAY_HEADER = "交易时间,交易分类,交易对方,对方账号,商品说明,收/支,金额,收/付款方式,交易状态,交易订单号,商家订单号,备注,"
TENPAY_HEADER = (
    "用户ID\t交易单号\t大单号\t用户侧账号名称\t借贷类型\t交易业务类型\t交易用途类型\t交易时间\t"
    "交易金额(分)\t账户余额(分)\t用户银行卡号\t用户侧网银联单号\t网联/银联\t第三方账户名称\t对手方ID\t"
    "对手侧账户名称\t对手方银行卡号\t对手侧银行名称\t对手侧网银联单号\t网联/银联\t基金公司信息\t"
    "间联/非间联交易\t第三方账户名称\t对手方接收时间\t对手方接收金额(分)\t备注1\t备注2"
)
CANONICAL = ["txn_id", "match_id", "packet_id", "ts", "payer", "payee", "payer_name", "payee_name", "amount", "kind",
             "status", "channel", "memo", "refund_ref", "direction"]
COVERS = {"wechat_csv": {"wechat"}, "wechat_xlsx": {"wechat"}, "tenpay": {"wechat"}, "alipay": {"alipay"},
          "canonical": {"wechat", "alipay"}}
MIXED_CYCLE = ["wechat_csv", "tenpay", "wechat_xlsx", "alipay", "canonical"]


def assign_exports(world: S.World, fmt: str) -> None:
    """Which export each roster person's records come in (ents.export)."""
    e = world.ents
    roster = e.index[e.roster].to_numpy()
    if fmt == "canonical":
        return
    if fmt == "wechat":
        e.loc[roster, "export"] = np.where(roster % 2 == 0, "wechat_csv", "wechat_xlsx")
    elif fmt in ("alipay", "tenpay"):
        e.loc[roster, "export"] = fmt
    else:
        # the ordinary population cycles through every layout; the planted cases'
        # casts come as WeChat bills (the layout whose ids both sides share)
        for k, i in enumerate(roster):
            e.at[i, "export"] = MIXED_CYCLE[k % len(MIXED_CYCLE)] if e.at[i, "social"] else ("wechat_xlsx" if k % 4 == 0 else "wechat_csv")


def make_writer(fmt: str, out: Path, world: S.World):
    return CanonicalWriter(out, world) if fmt == "canonical" else HolderWriter(out, world, fmt)


def _yuan(fen: pd.Series) -> pd.Series:
    f = fen.astype(np.int64)
    return (f // 100).astype(str) + "." + (f % 100).astype(str).str.zfill(2)


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    """ids, the packet's 交易单号 and total for shares, the original's 商户单号 for refunds."""
    df = df.reset_index(drop=True).copy()
    txn, mch = S.ids(df)
    df["txn"], df["mch"] = txn, mch
    rf = df["role"] == "refund"
    if rf.any():
        table = pd.Series(mch.to_numpy(), index=df["seq"].to_numpy())
        df.loc[rf, "mch"] = df.loc[rf, "ref"].map(table).to_numpy()
    df["pk_txn"] = ""
    df["pk_fen"] = 0
    sh = df["role"] == "share"
    if sh.any():
        df.loc[sh, "pk_txn"] = ("1000039901" + df.loc[sh, "pk_ts"].dt.strftime("%y%m%d") + df.loc[sh, "pk"].astype(str).str.zfill(20)).to_numpy()
        df.loc[sh, "pk_fen"] = df[sh].groupby("pk")["fen"].transform("sum").to_numpy()
    return df


class CanonicalWriter:
    """canonical/movements.csv, appended chunk by chunk."""

    def __init__(self, out: Path, world: S.World):
        self.path = out / "canonical" / "movements.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.world = world
        self.first = True

    def add(self, df: pd.DataFrame) -> None:
        e = self.world.ents
        df = _prepare(df)
        wx = np.append(e["wxid"].to_numpy(), "")
        phone = np.append(e["phone"].to_numpy(), "")
        name = np.append(e["name"].to_numpy(), "")
        shop = np.append((e["role"] == "shop").to_numpy(), False)
        alipay = (df["channel"] == "alipay").to_numpy()

        def acct(col):
            i = df[col].to_numpy()
            return np.where(shop[i], name[i], np.where(alipay, phone[i], wx[i]))

        out = pd.DataFrame({
            "txn_id": df["txn"], "match_id": df["mch"], "packet_id": np.where(df["pk"] >= 0, df["mch"], ""),
            "ts": df["ts"].dt.strftime("%Y-%m-%d %H:%M:%S"), "payer": acct("payer"), "payee": acct("payee"),
            "payer_name": name[df["payer"].to_numpy()], "payee_name": name[df["payee"].to_numpy()],
            "amount": _yuan(df["fen"]), "kind": df["kind"], "status": df["status"], "channel": df["channel"],
            "memo": df["memo"], "refund_ref": np.where(df["role"] == "refund", df["mch"], ""), "direction": "both",
        })
        out.to_csv(self.path, mode="w" if self.first else "a", header=self.first, index=False, lineterminator="\n")
        self.first = False

    def close(self) -> int:
        return 1

    def visible_seqs(self, df: pd.DataFrame) -> set[int]:
        return set(df["seq"].tolist())


def sides(df: pd.DataFrame, ents: pd.DataFrame) -> pd.DataFrame:
    """The rows each holder's export shows: (holder, side) per movement."""
    export = np.append(ents["export"].to_numpy(), "")
    parts = []
    for side, col in (("out", "payer"), ("in", "payee")):
        holder = df[col].to_numpy()
        kind = export[holder]
        channel = df["channel"].to_numpy()
        covers = ((channel == "wechat") & np.isin(kind, ["wechat_csv", "wechat_xlsx", "tenpay", "canonical"])) | (
            (channel == "alipay") & np.isin(kind, ["alipay", "canonical"]))
        role = df["role"].to_numpy()
        tenpay = kind == "tenpay"
        if side == "out":
            # the sender's WeChat bill shows a group packet's total; his Tenpay file its shares
            show = covers & (role != "refund") & np.where(tenpay, role != "total", role != "share")
        else:
            # the receiver of an unclaimed packet never sees it; refunds are WeChat-bill rows
            show = covers & (df["status"].to_numpy() != "refunded") & (role != "total") & ~(tenpay & (role == "refund"))
        part = df[show].copy()
        part["holder"] = holder[show]
        part["side"] = side
        part["export"] = kind[show]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)



class HolderWriter:
    """Per-holder exports: chunks staged as Parquet, written at close from a sorted stream."""

    def __init__(self, out: Path, world: S.World, fmt: str):
        self.out, self.world, self.fmt = out, world, fmt
        self.stage = out / ".synth-stage"
        self.stage.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.files = 0
        self.start = self.end = None

    def add(self, df: pd.DataFrame) -> None:
        df = _prepare(df)
        v = sides(df, self.world.ents)
        if not len(v):
            return
        v = v.drop(columns=["pk_ts"])
        lo, hi = df["ts"].min(), df["ts"].max()
        self.start = lo if self.start is None else min(self.start, lo)
        self.end = hi if self.end is None else max(self.end, hi)
        v.to_parquet(self.stage / f"{self.n:05d}.parquet", index=False)
        self.n += 1

    def visible_seqs(self, df: pd.DataFrame) -> set[int]:
        return set(sides(_prepare(df), self.world.ents)["seq"].tolist())

    def close(self) -> int:
        import duckdb

        if self.n:
            con = duckdb.connect()
            con.execute("SET enable_progress_bar = false")
            glob = str(self.stage / "*.parquet")
            reader = con.execute(f"SELECT * FROM read_parquet('{glob}') ORDER BY holder, ts DESC, seq DESC").to_arrow_reader(100_000)
            carry = None
            for batch in reader:
                b = batch.to_pandas()
                if carry is not None:
                    b = pd.concat([carry, b], ignore_index=True)
                last = b["holder"].iat[-1]
                done, carry = b[b["holder"] != last], b[b["holder"] == last]
                for h, rows in done.groupby("holder", sort=True):
                    self._write(int(h), rows)
            if carry is not None and len(carry):
                self._write(int(carry["holder"].iat[0]), carry)
            con.close()
        shutil.rmtree(self.stage, ignore_errors=True)
        return self.files

    # -- one holder's file

    def _write(self, h: int, rows: pd.DataFrame) -> None:
        e = self.world.ents
        kind = e.at[h, "export"]
        pid, nick = e.at[h, "pid"], e.at[h, "nick"]
        period = f"{self.start:%Y%m%d}-{self.end:%Y%m%d}"
        if kind in ("wechat_csv", "wechat_xlsx"):
            folder = self.out / "wechat" / f"{pid}_{nick}"
            folder.mkdir(parents=True, exist_ok=True)
            data = wechat_rows(rows, e)
            if kind == "wechat_csv":
                write_wechat_csv(folder / f"微信支付账单({period}).csv", nick, data, self.start, self.end)
            else:
                write_wechat_xlsx(folder / f"微信支付账单流水文件({period})——【解压密码可在微信支付公众号查看】.xlsx", nick, data, self.start, self.end)
        elif kind == "alipay":
            folder = self.out / "alipay" / pid
            folder.mkdir(parents=True, exist_ok=True)
            write_alipay(folder / f"支付宝交易明细({period}).csv", e.at[h, "name"], e.at[h, "phone"], alipay_rows(rows, e), self.start, self.end)
        elif kind == "tenpay":
            write_tenpay(self.out / "tenpay", h, e, tenpay_rows(rows, e, h))
        elif kind == "canonical":
            folder = self.out / "canonical"
            folder.mkdir(parents=True, exist_ok=True)
            canonical_side(rows, e).to_csv(folder / f"{pid}.csv", index=False, lineterminator="\n")
        else:
            return
        self.files += 1


# --------------------------------------------------------------------------- WeChat


def wechat_rows(rows: pd.DataFrame, e: pd.DataFrame) -> list[list[str]]:
    nick = e["nick"].to_numpy()
    out = []
    for r in rows.itertuples():
        o = r.side == "out"
        other = r.payee if o else r.payer
        party = nick[other] if other >= 0 else "/"
        amount = "¥" + f"{r.fen // 100}.{r.fen % 100:02d}"
        memo = r.memo or "/"
        if r.kind == "red_packet" or (r.kind == "group_red_packet" and r.role == "share"):
            typ = "微信红包（单发）" if o else "微信红包"
            party = ("发给" + party) if o else party
            status = {"refunded": "已全额退款", "returned": "对方已退还"}.get(r.status, "支付成功" if o else "已存入零钱")
            goods = "/"
        elif r.kind == "group_red_packet":
            typ, party, status, goods = "微信红包（群红包）", "发出群红包", "支付成功", "/"
        elif r.kind == "transfer":
            typ, goods = "转账", "转账备注:" + (r.memo or "微信转账")
            status = "对方已退还" if r.status == "returned" else ("对方已收钱" if o else "已收钱")
        elif r.kind == "qr_payment":
            typ, goods = ("扫二维码付款" if o else "二维码收款"), "收款方备注:二维码收款"
            status = "已转账" if o else "已收钱"
        elif r.kind == "refund":
            typ, party, goods, status = "微信红包-退款", "/", "/", "已存入零钱"
        else:  # merchant, gift_card
            typ, goods, status = "商户消费", memo, "支付成功"
        out.append([r.ts.strftime("%Y-%m-%d %H:%M:%S"), typ, party, goods, "支出" if o else "收入", amount,
                    "零钱" if o else "/", status, r.txn, r.mch, "/"])
    return out


def _preamble(nick, n, start, end, xlsx: bool) -> list[str]:
    lines = [
        "微信支付账单明细", f"微信昵称：[{nick}]",
        f"起始时间：[{start:%Y-%m-%d} 00:00:00] 终止时间：[{end:%Y-%m-%d} 23:59:59]", "导出类型：[全部]",
        f"导出时间：[{end:%Y-%m-%d} 23:59:59]", "", f"共{n}笔记录", "收入：0笔 0.00元", "支出：0笔 0.00元",
        "中性交易：0笔 0.00元", "注：", "1. 充值/提现/理财通购买/零钱通存取/信用卡还款等交易，将计入中性交易",
    ]
    if xlsx:
        lines += ["2. 若交易记录明细无有效内容，则代表该时间段内此微信号无交易。", "3. 本明细仅供个人对账使用",
                  "4. 本账单中所有时间均为UTC+08:00时间"]
    else:
        lines += ["2. 本明细仅展示当前账单中的交易，不包括已删除的记录", "3. 本明细仅供个人对账使用"]
    return lines + ["", "----------------------微信支付账单明细列表--------------------"]


def write_wechat_csv(path: Path, nick: str, rows: list[list[str]], start, end) -> None:
    """The CSV layout (≤ 2025-06): BOM, CRLF, padded preamble, ids with a trailing TAB."""
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        f.writelines(line + "," * 10 + "\r\n" for line in _preamble(nick, len(rows), start, end, xlsx=False))
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(WECHAT_HEADER)
        w.writerows([*r[:8], r[8] + "\t", r[9] + "\t", r[10]] for r in rows)


def write_wechat_xlsx(path: Path, nick: str, rows: list[list[str]], start, end) -> None:
    """The 2026 XLSX layout: header on row 18, amounts as numbers formatted ¥#,##0.00."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    for line in _preamble(nick, len(rows), start, end, xlsx=True):
        ws.append([line or None])
    ws.append(WECHAT_HEADER)
    for r in rows:
        cell = WriteOnlyCell(ws, value=float(r[5].lstrip("¥")))
        cell.number_format = "\\¥#,##0.00"
        ws.append([*r[:5], cell, *r[6:]])
    wb.save(path)
    _freeze_zip(path)


def _freeze_zip(path: Path) -> None:
    """Make a saved workbook byte-identical run after run: fixed entry times and a
    fixed creation time in docProps/core.xml (openpyxl stamps both with now)."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as z:
        parts = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts:
            if name == "docProps/core.xml":
                data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2026-01-01T00:00:00Z", data)
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


# --------------------------------------------------------------------------- Alipay


def alipay_rows(rows: pd.DataFrame, e: pd.DataFrame) -> list[list[str]]:
    name, masked = e["name"].to_numpy(), e["masked"].to_numpy()
    shop = (e["role"] == "shop").to_numpy()
    out = []
    for r in rows.itertuples():
        o = r.side == "out"
        other = r.payee if o else r.payer
        if shop[other]:
            cat, party, acct, desc = "日用百货", name[other], "shop" + str(other) + "***@alipay.com", r.memo or "商品"
        else:
            cat, party, acct, desc = "转账红包", name[other], masked[other], "转账"
        note = r.memo if cat == "转账红包" else ""
        out.append([r.ts.strftime("%Y-%m-%d %H:%M:%S"), cat, party, acct, desc, "支出" if o else "收入",
                    f"{r.fen // 100}.{r.fen % 100:02d}", "余额" if o else "", "交易成功", r.txn + "\t",
                    (r.mch + "\t") if shop[other] else "\t", note])
    return out


def write_alipay(path: Path, name: str, account: str, rows: list[list[str]], start, end) -> None:
    """The app layout (2023+), GBK, CRLF, a trailing comma on every line."""
    lines = [
        "-" * 84, "导出信息：", f"姓名：{name}", f"支付宝账户：{account}",
        f"起始时间：[{start:%Y-%m-%d} 00:00:00]    终止时间：[{end:%Y-%m-%d} 23:59:59]", "导出交易类型：[全部]",
        f"导出时间：[{end:%Y-%m-%d} 23:59:59]", f"共{len(rows)}笔记录", "收入：0笔 0.00元", "支出：0笔 0.00元", "不计收支：0笔 0.00元",
        "", "特别提示：", "1.本回单内容可表明支付宝受理了相应支付交易申请，因系统原因或通讯故障等偶发因素导致本回单与实际交易结果不符时，以实际交易情况为准；",
        "", "-" * 24 + "支付宝（中国）网络技术有限公司  电子客户回单" + "-" * 24, ALIPAY_HEADER,
    ]
    text = "\r\n".join(lines) + "\r\n" + "".join(",".join(c.replace(",", "，") for c in r) + ",\r\n" for r in rows)
    path.write_bytes(text.encode("gbk", errors="replace"))


# --------------------------------------------------------------------------- Tenpay


def tenpay_rows(rows: pd.DataFrame, e: pd.DataFrame, h: int) -> list[str]:
    wx, name = e["wxid"].to_numpy(), e["name"].to_numpy()
    shop = (e["role"] == "shop").to_numpy()
    me, my_name = wx[h], name[h]
    out = []
    for r in rows.itertuples():
        o = r.side == "out"
        other = r.payee if o else r.payer
        ts = r.ts.strftime("%Y-%m-%d %H:%M:%S")
        c = [""] * 27
        c[0], c[1], c[3], c[4], c[5], c[6], c[7] = me, r.txn, my_name, "出" if o else "入", "余额支付", "转账", ts
        c[8], c[9], c[14], c[15], c[21] = str(r.fen), "0", wx[other], name[other], "非间连交易"
        received = "0" if r.status in ("refunded", "returned") else str(r.fen)
        if r.kind in ("red_packet", "group_red_packet"):
            c[25] = c[26] = "微信红包"
            if o:
                c[23], c[24] = ts, received
            if o and r.role == "share":  # the sender's rows of a group packet: the packet's id and total
                c[1], c[8] = r.pk_txn, str(r.pk_fen)
        elif r.kind in ("transfer", "qr_payment"):
            c[25] = "微信转账"
            c[26] = ("扫二维码付款-给" + e.at[int(r.payee), "nick"]) if r.kind == "qr_payment" else (r.memo or "微信转账")
            if o:
                c[2] = "5301" + r.txn[-28:].rjust(28, "0")
                c[23], c[24] = ts, received
        else:  # merchant, gift_card
            c[6] = "消费"
            spid = f"19{int(other) % 10**8:08d}"
            c[2] = "4200" + r.txn[-24:].rjust(24, "0")
            c[14], c[15] = f"{name[other]}({spid})", name[other]
            c[26] = r.memo
        if shop[other] and r.kind not in ("merchant", "gift_card"):
            c[14] = name[other]
        out.append("\t".join(x.replace("\t", " ") for x in c))
    return out


def write_tenpay(root: Path, h: int, e: pd.DataFrame, rows: list[str]) -> None:
    """财付通_<32hex>/TP<8hex>/IDCARD/<id>/<account>/TenpayTrades.txt (the top folder's
    name as GBK bytes, as productions unpacked on Chinese Windows have it)."""
    top = bytes(root) + b"/" + "财付通_".encode("gbk") + b"0123456789abcdef0123456789abcdef"
    id_number = f"{330000 + int(h) % 1000:06d}19{70 + int(h) % 30:02d}0101{int(h) % 10000:04d}"
    account = e.at[h, "wxid"]
    folder = top + b"/" + f"TP0a1b2c3d/IDCARD/{id_number}/{account}".encode("ascii")
    os.makedirs(folder, exist_ok=True)
    with open(folder + b"/TenpayTrades.txt", "wb") as f:
        f.write(("\n".join([TENPAY_HEADER, *rows]) + "\n").encode("utf-8"))
    reg = "账户状态\t账号\t注册姓名\t注册时间\t注册身份证号\t绑定手机\t绑定状态\t开户行信息\t银行账号\n"
    reg += f"正常\t{account}\t{e.at[h, 'name']}\t2015-01-01 00:00:00\t{id_number}\t{e.at[h, 'phone']}\t已绑定\t示例银行\t6222000000001234\n"
    with open(folder + b"/TenpayRegInfo.txt", "wb") as f:
        f.write(reg.encode("utf-8"))


# --------------------------------------------------------------------------- canonical, one holder's side


def canonical_side(rows: pd.DataFrame, e: pd.DataFrame) -> pd.DataFrame:
    wx, phone, name = (np.append(e[c].to_numpy(), "") for c in ("wxid", "phone", "name"))
    shop = np.append((e["role"] == "shop").to_numpy(), False)
    alipay = (rows["channel"] == "alipay").to_numpy()

    def acct(col):
        i = rows[col].to_numpy()
        return np.where(shop[i], name[i], np.where(alipay, phone[i], wx[i]))

    return pd.DataFrame({
        "txn_id": rows["txn"].to_numpy(), "match_id": rows["mch"].to_numpy(),
        "packet_id": np.where(rows["pk"] >= 0, rows["mch"], ""), "ts": rows["ts"].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(),
        "payer": acct("payer"), "payee": acct("payee"), "payer_name": name[rows["payer"].to_numpy()],
        "payee_name": name[rows["payee"].to_numpy()], "amount": _yuan(rows["fen"]).to_numpy(), "kind": rows["kind"].to_numpy(),
        "status": rows["status"].to_numpy(), "channel": rows["channel"].to_numpy(), "memo": rows["memo"].to_numpy(),
        "refund_ref": np.where(rows["role"] == "refund", rows["mch"], ""), "direction": rows["side"].to_numpy(),
    })
