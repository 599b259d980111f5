"""Tenpay (财付通) investigation productions: `TenpayTrades.txt`.

This is what Tencent returns to police and discipline commissions (调证): one
`TenpayTrades.txt` per WeChat account, in a tree such as
`财付通_<32hex>/TP<8hex>/IDCARD/<18-digit id>/<account>/TenpayTrades.txt`
(see shared/research/formats.md §3).

Layout: TAB-separated text, header on line 1, no preamble or footer, UTF-8
(maybe with a BOM) or GBK. Amounts are unsigned integer fen; 借贷类型 (出/入)
gives the sign. Two headers are known, 27 columns (2025-26, format
"tenpay_27") and 26 columns (2024, "tenpay_26"); both repeat two column names
(网联/银联, 第三方账户名称), so columns are mapped by keyword and position.
A header in another order is mapped by keywords and gets the id
"tenpay_<column count>".

The whole file is handled set-wise (pandas/numpy column operations, no Python
loop per row): productions reach millions of rows.

What ingest must know:

* Group red packets: in the sender's file one packet is several 出 rows with the
  same 交易单号, each repeating the packet total in 交易金额(分). Each row becomes
  one movement to one grabber with amount = 对手方接收金额(分) (the share),
  kind "group_red_packet" and packet_id = 交易单号. The total stays in `raw`.
* Exact duplicate rows (same 用户ID, 交易单号, 大单号, 交易时间, 借贷类型,
  交易金额, 对手方ID) are NOT dropped here: every data line is a row or a reject.
  They come out identical in txn_id, payer, payee, amount and ts, so ingest's
  exact-duplicate rule loads them once.
* txn_id is not unique within a file: a group packet's rows, a withdrawal and
  its fee, and the 出/入 legs of one movement share one 交易单号.
* Rows keep the 用户ID the file gives them; the `owner` argument only replaces
  `Parsed.owner`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.errors import FormatError
from analyzer.formats.base import MOVEMENT_COLUMNS, Parsed, Reject, decode_bytes, display_path, empty_rows  # noqa: F401 (display_path is part of this module's API)

# Verbatim headers from formats.md §3.3.
HEADER_27: tuple[str, ...] = (
    "用户ID", "交易单号", "大单号", "用户侧账号名称", "借贷类型", "交易业务类型", "交易用途类型",
    "交易时间", "交易金额(分)", "账户余额(分)", "用户银行卡号", "用户侧网银联单号", "网联/银联",
    "第三方账户名称", "对手方ID", "对手侧账户名称", "对手方银行卡号", "对手侧银行名称",
    "对手侧网银联单号", "网联/银联", "基金公司信息", "间联/非间联交易", "第三方账户名称",
    "对手方接收时间", "对手方接收金额(分)", "备注1", "备注2",
)  # fmt: skip
HEADER_26: tuple[str, ...] = (
    "用户ID", "交易单号", "大单号", "用户侧账号名称", "借贷类型", "交易业务类型", "交易用途类型",
    "交易时间", "交易金额(分)", "账户余额(分)", "用户银行卡号", "用户侧银行名称", "用户侧网银联单号",
    "网联/银联", "第三方账户名称", "对手方ID", "对手侧账户名称", "对手方银行卡号", "对手侧银行名称",
    "对手侧网银联单号", "网联/银联", "第三方账户名称", "对手方接收时间", "对手方接收金额(分)",
    "备注1", "备注2",
)  # fmt: skip

# Words in 备注2, 对手侧账户名称 or the acquirer JSON that make a 消费 row a
# gift/prepaid-card purchase (domain.md §2.3: 礼品卡, JD E卡, 蟹卡蟹券 ...).
GIFT_CARD_WORDS: tuple[str, ...] = (
    "礼品卡", "礼卡", "礼券", "E卡", "购物卡", "购物券", "储值卡", "预付卡", "消费卡", "卡券",
    "蟹卡", "蟹券", "提货券", "提货卡", "gift card", "giftcard",
)  # fmt: skip
_GIFT_RE = "|".join(re.escape(w) for w in GIFT_CARD_WORDS)

# Invisible characters that tools and Excel round-trips leave in cells.
_INVISIBLE_RE = "[\ufeff\u200b\u200c\u200d\u2060]"
# A row may carry up to this many fields beyond the header if they are empty
# (trailing TABs); rows longer than that are rejected without looking.
_EXTRA_SLACK = 8
_ESSENTIAL = {
    "uid": "用户ID",
    "txn": "交易单号",
    "drcr": "借贷类型",
    "ts": "交易时间",
    "amount": "交易金额(分)",
}


# --------------------------------------------------------------------------- paths


def is_trades_file(path: Path) -> bool:
    """True for `TenpayTrades.txt` and its variants (`TenpayTrades（公开）.txt`,
    `TenpayTrades(1).txt`, `tenpaytrades.TXT` ...), so the folder walker can pick them."""
    name = Path(path).name.casefold()
    return name.startswith("tenpaytrades") and name.endswith(".txt")


# --------------------------------------------------------------------------- header


def _clean_header(cell: str) -> str:
    """A header cell without BOM/zero-width characters and padding."""
    return re.sub(_INVISIBLE_RE, "", cell).strip(" \t\r\n\xa0\u3000")


def _key(header: str) -> str:
    """Header form used for keyword matching: NFKC (full-width brackets to ASCII), no spaces."""
    return "".join(unicodedata.normalize("NFKC", header).split()).upper()


# (role, predicate on the _key form). Order matters: the first role that
# matches takes the column, and each role takes its first matching column.
_ROLES: tuple[tuple[str, object], ...] = (
    ("uid", lambda h: h == "用户ID" or ("用户" in h and h.endswith("ID") and "对手" not in h)),
    ("txn", lambda h: "交易单号" in h),
    ("big", lambda h: "大单号" in h),
    ("recv_ts", lambda h: "接收" in h and "时间" in h),
    ("recv_amount", lambda h: "接收" in h and "金额" in h),
    ("user_name", lambda h: "用户侧" in h and "名称" in h and "银行" not in h),
    ("drcr", lambda h: "借贷" in h),
    ("biz", lambda h: "业务类型" in h),
    ("use", lambda h: "用途" in h),
    ("ts", lambda h: "交易" in h and "时间" in h),
    ("balance", lambda h: "余额" in h),
    ("amount", lambda h: "交易" in h and "金额" in h),
    ("peer_id", lambda h: "对手" in h and h.endswith("ID")),
    ("peer_name", lambda h: "对手" in h and "名称" in h and "银行" not in h),
    ("memo1", lambda h: h in ("备注1", "备注一")),
    ("memo2", lambda h: h in ("备注2", "备注二")),
)


def _map_columns(headers: list[str]) -> dict[str, int]:
    """Role → column index, by keyword; duplicated names are told apart by position."""
    roles: dict[str, int] = {}
    for i, h in enumerate(headers):
        k = _key(h)
        for role, pred in _ROLES:
            if pred(k):  # type: ignore[operator]
                roles.setdefault(role, i)
                break
    return roles


def _header_line(head_text: str) -> list[str]:
    line = head_text.split("\n", 1)[0].rstrip("\r")
    cells = [_clean_header(c) for c in line.split("\t")]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _raw_keys(headers: list[str]) -> list[str]:
    """JSON keys for `raw`: the header, and `<header>#<1-based position>` for a repeated
    or empty one (as base.raw_json does), so both 网联/银联 columns are kept."""
    keys: list[str] = []
    seen: set[str] = set()
    for i, h in enumerate(headers):
        key = h if h and h not in seen else f"{h}#{i + 1}"
        seen.add(key)
        keys.append(key)
    return keys


# --------------------------------------------------------------------------- sniff


def sniff(path: Path, head: bytes) -> bool:
    """True when the first line is a TAB-separated Tenpay header: 用户ID, 交易单号,
    借贷类型 and a 交易…金额 column."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", "ignore")
    else:
        first = head.split(b"\n", 1)[0]
        try:
            text, _ = decode_bytes(first)
        except UnicodeDecodeError:
            # The head may cut a multi-byte character at its very end.
            text = first.decode("gb18030", "replace")
    line = text.split("\n", 1)[0]
    if "\t" not in line:
        return False
    keys = [_key(_clean_header(c)) for c in line.split("\t")]
    joined = "\t".join(keys)
    has_amount = any("交易" in k and "金额" in k for k in keys)
    return "用户ID" in keys and "交易单号" in joined and "借贷类型" in joined and has_amount


# --------------------------------------------------------------------------- cells


def _clean(s: pd.Series, invisible: bool = True) -> pd.Series:
    """Vectorised clean_cell: invisible characters and padding removed; '/' becomes ''.
    `invisible=False` skips the character replacement when the file has none."""
    if invisible:
        s = s.str.replace(_INVISIBLE_RE, "", regex=True).str.replace("\xa0", " ", regex=False)
    s = s.str.strip(" \t\r\n")
    return s.mask(s == "/", "")


def _matches(s: pd.Series, pattern: str) -> np.ndarray:
    """Regex search (RE2, case-insensitive) with pyarrow: pandas would fall back to
    a Python loop for some patterns."""
    hit = pc.match_substring_regex(pa.array(s, type=pa.large_string()), pattern, ignore_case=True)
    return hit.to_numpy(zero_copy_only=False).astype(bool)


def _extract(s: pd.Series, pattern: str) -> pd.Series:
    """The named group `v` of the first match, '' where none (pyarrow, no Python loop)."""
    got = pc.struct_field(pc.extract_regex(pa.array(s, type=pa.large_string()), pattern), "v")
    values = pc.fill_null(got, "").to_numpy(zero_copy_only=False)
    return pd.Series(values, index=s.index, dtype="str")


def _unquote(s: pd.Series) -> pd.Series:
    """Undo CSV quoting of whole cells (`"{""a"":""1""}"` → `{"a":"1"}`)."""
    quoted = s.str.startswith('"') & s.str.endswith('"') & (s.str.len() >= 2)
    if not quoted.any():
        return s
    inner = s[quoted].str.slice(1, -1).str.replace('""', '"', regex=False)
    out = s.copy()
    out[quoted] = inner
    return out


def _fen_to_yuan(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Integer fen text → yuan text ('2000' → '20.00', '5' → '0.05').
    Returns (yuan, is_integer); yuan is '' where the cell is not an integer."""
    ok = s.str.fullmatch(r"[0-9]+").fillna(False).astype(bool)
    digits = s.where(ok, "").str.lstrip("0").str.zfill(3)
    yuan = (digits.str.slice(0, -2) + "." + digits.str.slice(-2)).where(ok, "")
    return yuan, ok


def _fen_int(s: pd.Series, ok: pd.Series) -> np.ndarray:
    """Integer fen as int64, -1 where not an integer. (Used only for comparisons.)"""
    fits = ok & (s.str.len() <= 18)  # int64; longer numbers are left to ingest's DECIMAL cast
    return pd.to_numeric(s.where(fits, "-1"), errors="coerce").fillna(-1).astype("int64").to_numpy()


def _text(s: pd.Series | np.ndarray) -> np.ndarray:
    """A text column for the movements frame: an object array, '' → None."""
    a = np.asarray(s, dtype=object)
    return np.where(a == "", None, a)


_JSON_CONTROL = {i: json.dumps(chr(i))[1:-1] for i in range(32)}  # '\n' → '\\n', '\x01' → '\\u0001'


def _json_string_body(s: pd.Series) -> pa.Array:
    """The cells escaped for the inside of a JSON string, with pyarrow compute."""
    a = pa.array(s, type=pa.large_string())
    a = pc.replace_substring(a, "\\", "\\\\")
    a = pc.replace_substring(a, '"', '\\"')
    if pc.any(pc.match_substring_regex(a, "[\\x00-\\x1f]")).as_py():
        for code, escaped in _JSON_CONTROL.items():
            a = pc.replace_substring(a, chr(code), escaped)
    return a


def _raw_json(keys: list[str], cells: list[pd.Series]) -> np.ndarray:
    """One JSON object per row, {key: cell text}, built column-wise (no per-row
    json.dumps): '{"k1":"' + esc(c1) + '","k2":"' + ... + '"}'."""
    if not cells or len(cells[0]) == 0:
        return np.array([], dtype=object)
    parts: list[object] = []
    for i, (key, c) in enumerate(zip(keys, cells)):
        lead = "{" if i == 0 else '",'
        parts += [pa.scalar(lead + json.dumps(key, ensure_ascii=False) + ':"', pa.large_string()), _json_string_body(c)]
    parts.append(pa.scalar('"}', pa.large_string()))
    joined = pc.binary_join_element_wise(*parts, pa.scalar("", pa.large_string()))
    return joined.to_numpy(zero_copy_only=False).astype(object)


# --------------------------------------------------------------------------- parse


class _Lines:
    """Where the physical lines are, counted with numpy on the UTF-8 bytes (TAB and
    LF are single bytes in UTF-8, so this is exact): fields per line, and the text
    of any line on demand (for rejects)."""

    def __init__(self, text: str):
        self.data = text.encode("utf-8")
        buf = np.frombuffer(self.data, dtype=np.uint8)
        self.newlines = np.flatnonzero(buf == 10)
        n_lines = len(self.newlines) + (0 if text.endswith("\n") else 1)
        tabs = np.flatnonzero(buf == 9)
        line_of_tab = np.searchsorted(self.newlines, tabs)  # = number of LFs before the TAB
        self.fields = np.bincount(line_of_tab, minlength=n_lines)[:n_lines] + 1

    def text(self, index: int) -> str:
        """The 0-based line `index` as text."""
        start = 0 if index == 0 else int(self.newlines[index - 1]) + 1
        end = int(self.newlines[index]) if index < len(self.newlines) else len(self.data)
        return self.data[start:end].decode("utf-8", "replace")


def _read(path: Path, name: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise FormatError(f"{name}: cannot read the file ({e.strerror or e})") from None
    if not data.strip():
        raise FormatError(f"{name}: the file is empty, not a TenpayTrades table")
    try:
        text, _encoding = decode_bytes(data)
    except UnicodeDecodeError:
        raise FormatError(f"{name}: not UTF-8 or GBK text, not a TenpayTrades table") from None
    if "\x00" in text:
        raise FormatError(f"{name}: binary data (NUL bytes), not a TenpayTrades table")
    return text.replace("\r\n", "\n")


def parse(path: Path, *, owner: str | None = None) -> Parsed:
    """Read a TenpayTrades.txt into movement rows (see analyzer.formats.base).

    Raises FormatError (one line naming the file) when the file is not text or
    its header lacks 用户ID, 交易单号, 借贷类型, 交易时间 or 交易金额(分). Rows with
    more fields than the header, or a non-integer fen amount, become rejects.
    """
    name = display_path(path)
    try:
        return _parse(path, name, owner)
    except FormatError:
        raise
    except Exception as e:  # a malformed file must not end in a traceback
        raise FormatError(f"{name}: cannot read the table ({type(e).__name__}: {e})".splitlines()[0]) from e


def _parse(path: Path, name: str, owner: str | None) -> Parsed:
    text = _read(path, name)
    headers = _header_line(text)
    roles = _map_columns(headers)
    missing = [label for role, label in _ESSENTIAL.items() if role not in roles]
    if missing:
        raise FormatError(f"{name}: not a TenpayTrades table, the header lacks {', '.join(missing)}")
    width = len(headers)
    if tuple(headers) == HEADER_27:
        fmt = "tenpay_27"
    elif tuple(headers) == HEADER_26:
        fmt = "tenpay_26"
    else:
        fmt = f"tenpay_{width}"

    physical = _Lines(text)
    fields = physical.fields
    n_cols = max(width, int(fields.max()))
    # Only a few columns beyond the header are kept to check that extra fields
    # are empty; a line with more than that is rejected without looking.
    n_keep = min(n_cols, width + _EXTRA_SLACK)
    try:
        # QUOTE_NONE: the layout has no quoting except one JSON cell, and a stray
        # '"' in a memo must not swallow the following lines. Each physical line
        # is one record, so the frame index + 1 is the line number.
        df = pd.read_csv(
            io.StringIO(text),
            sep="\t",
            header=None,
            names=range(n_cols),
            usecols=range(n_keep),
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
            lineterminator="\n",
            engine="c",
        )
    except Exception as e:  # pandas raises ParserError, ValueError, csv.Error ...
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise FormatError(f"{name}: cannot split the table ({msg})") from None
    if len(df) != len(fields):
        raise FormatError(f"{name}: cannot split the table into lines ({len(df)} records, {len(fields)} lines)")
    df = df.fillna("")
    invisible = re.search(_INVISIBLE_RE + "|\xa0", text) is not None

    body = df.iloc[1:]
    nfields = fields[1:]
    lines = np.arange(2, len(df) + 1, dtype="int64")

    def col(role: str) -> pd.Series:
        i = roles.get(role)
        if i is None:
            return pd.Series("", index=body.index, dtype="str")
        return _clean(body[i], invisible)

    uid, txn = col("uid"), col("txn")
    # Blank lines and header lines repeated inside the file (concatenated
    # productions) are not data: skipped, not rejected.
    blank = (nfields == 1) & (body[0].str.strip() == "").to_numpy()
    repeated_header = ((uid == headers[roles["uid"]]) & (txn == headers[roles["txn"]])).to_numpy()
    data = ~(blank | repeated_header)

    amount_raw, recv_raw = col("amount"), col("recv_amount")
    amount_yuan, amount_ok = _fen_to_yuan(amount_raw)
    recv_yuan, recv_ok = _fen_to_yuan(recv_raw)
    amount_fen = _fen_int(amount_raw, amount_ok)
    recv_fen = _fen_int(recv_raw, recv_ok)
    recv_empty = (recv_raw == "").to_numpy()

    # Long rows: more fields than the header and something in the extra ones.
    extra = nfields > width + _EXTRA_SLACK
    for i in range(width, n_keep):
        extra |= (body[i].str.strip() != "").to_numpy()
    long_row = data & (nfields > width) & extra
    too_short = data & ~long_row & (nfields <= roles["amount"])
    bad_amount = data & ~long_row & ~too_short & ~amount_ok.to_numpy()

    direction = np.select(
        [(col("drcr") == "出").to_numpy(), (col("drcr") == "入").to_numpy()], ["out", "in"], "neutral"
    ).astype(object)
    out = direction == "out"
    incoming = direction == "in"

    memo1, memo2, use = col("memo1"), col("memo2"), col("use")
    peer_id, peer_name = col("peer_id"), col("peer_name")
    third = [i for i, h in enumerate(headers) if "第三方账户名称" in _key(h)]
    acquirer_json = (
        _unquote(_clean(body[third[-1]], invisible)) if third else pd.Series("", index=body.index, dtype="str")
    )

    # kind, first match wins. 退款 in 备注2 counts only when 备注2 is not a
    # transfer note typed by the payer (a briber may write "退款" himself).
    refund = incoming & (
        use.str.contains("退款", regex=False)
        | memo1.str.contains("退款", regex=False)
        | (memo2.str.contains("退款", regex=False) & (memo1 != "微信转账"))
    ).to_numpy()
    red = ((memo1 == "微信红包") | ((memo1 != "微信转账") & (memo2 == "微信红包"))).to_numpy()
    transfer = (memo1.str.contains("转账", regex=False) | ((memo1 == "") & (use == "转账"))).to_numpy()
    qr = transfer & memo2.str.startswith("扫二维码付款").to_numpy()
    merchant = use.str.contains("消费", regex=False).to_numpy()
    gift = merchant & (
        _matches(memo2, _GIFT_RE) | _matches(peer_name, _GIFT_RE) | _matches(acquirer_json, _GIFT_RE)
    )
    withdrawal = use.str.contains("提现", regex=False).to_numpy()
    kind = np.select(
        [refund, red, qr, transfer, gift, merchant, withdrawal],
        ["refund", "red_packet", "qr_payment", "transfer", "gift_card", "merchant", "withdrawal"],
        "other",
    ).astype(object)

    # Group red packets (formats.md §3.5): the sender's file has one 出 row per
    # grabber under one 交易单号, each repeating the packet total. Count distinct
    # rows per 交易单号 (exact duplicates once), and also take a lone row whose
    # share is below the total as one share of a group packet.
    big, ts = col("big"), col("ts")
    loadable = data & ~long_row & ~too_short & ~bad_amount
    red_out = loadable & (kind == "red_packet") & out & (txn != "").to_numpy()
    dedupe_key = pd.DataFrame(
        {"u": uid, "t": txn, "b": big, "ts": ts, "d": direction, "a": amount_raw, "p": peer_id}
    )
    distinct = red_out & ~dedupe_key.duplicated().to_numpy()
    rows_per_txn = (
        pd.Series(distinct.astype("int64"), index=body.index).groupby(txn.to_numpy()).transform("sum").to_numpy()
    )
    lone_share = (recv_fen > 0) & (amount_fen >= 0) & (recv_fen < amount_fen)
    group = red_out & ((rows_per_txn > 1) | lone_share)
    kind = np.where(group, "group_red_packet", kind).astype(object)
    # A group row's amount is the grabber's share; without a usable share the
    # row cannot be loaded (the total must never stand in for it).
    bad_share = group & (recv_empty | ~recv_ok.to_numpy())

    amount = np.where(group, recv_yuan.to_numpy(), amount_yuan.to_numpy()).astype(object)
    sent = np.isin(kind, ["red_packet", "group_red_packet", "transfer", "qr_payment"]) & out
    status = np.where(sent & (recv_fen == 0), "returned", "success").astype(object)

    # Counterparty: 对手方ID, or the name for indirect (间连) merchants whose ID is empty.
    counterparty = peer_id.where(peer_id != "", peer_name).to_numpy()
    # For indirect merchants the real merchant is only in the acquirer JSON.
    ext_name = _extract(acquirer_json, r'"fextend_name"\s*:\s*"(?P<v>[^"]*)"')
    counterparty_name = peer_name.where((peer_id != "") | (ext_name == ""), ext_name).to_numpy()
    user = uid.to_numpy()
    user_name = col("user_name").to_numpy()
    payer = np.select([out, incoming], [user, counterparty], "").astype(object)
    payee = np.select([out, incoming], [counterparty, user], "").astype(object)
    payer_name = np.select([out, incoming], [user_name, counterparty_name], "").astype(object)
    payee_name = np.select([out, incoming], [counterparty_name, user_name], "").astype(object)

    repeats_memo1 = (memo2 == memo1) | memo2.isin(["微信红包", "微信转账"])
    memo = memo2.where(~repeats_memo1, "")
    raw_type = (memo1 + "/" + use).where((memo1 != "") | (use != ""), "")

    # raw: every header cell as read, the JSON cell unquoted.
    keep = loadable & ~bad_share
    kept = body.loc[keep, list(range(width))]
    raw_cells = []
    for i in range(width):
        c = kept[i]
        if i in third:
            c = _unquote(c)
        else:  # a JSON cell that moved to another column in an unknown layout
            c = c.where(~(c.str.startswith('"{') & c.str.endswith('}"')), _unquote(c))
        raw_cells.append(c)
    raw_list = _raw_json(_raw_keys(headers), raw_cells)

    n = int(keep.sum())
    columns = {
        "txn_id": txn[keep],
        "match_id": txn[keep],
        "packet_id": np.where(group, txn.to_numpy(), "")[keep],
        "ts": ts[keep],
        "payer": payer[keep],
        "payee": payee[keep],
        "payer_name": payer_name[keep],
        "payee_name": payee_name[keep],
        "amount": amount[keep],
        "direction": direction[keep],
        "kind": kind[keep],
        "status": status[keep],
        "channel": np.full(n, "tenpay", dtype=object),
        "memo": memo[keep],
        "raw_type": raw_type[keep],
        "raw_status": np.full(n, "", dtype=object),
        "refund_ref": np.full(n, "", dtype=object),
        "raw": raw_list,
    }
    if n == 0:
        rows = empty_rows()
    else:
        # Explicit object Series: pandas 3 would otherwise infer its str dtype (None → NaN).
        data_cols = {"line": pd.Series(lines[keep], dtype="int64")}
        data_cols.update({c: pd.Series(_text(v), dtype=object) for c, v in columns.items()})
        rows = pd.DataFrame(data_cols)[list(MOVEMENT_COLUMNS)]

    rejects = _rejects(physical, lines, nfields, width, long_row, too_short, bad_amount, bad_share,
                       amount_raw, recv_raw)  # fmt: skip

    file_owner, owner_name = _owner(uid[data], col("user_name")[data], ts[data], path)
    return Parsed(
        format=fmt,
        owner=owner if owner is not None else file_owner,
        rows=rows,
        rejects=rejects,
        rows_read=len(rows) + len(rejects),
        owner_name=owner_name,
    )


def _rejects(physical, lines, nfields, width, long_row, too_short, bad_amount, bad_share, amount_raw, recv_raw):
    """Reject records for the (few) bad rows; the loop runs over rejects only."""
    out: list[Reject] = []
    bad = long_row | too_short | bad_amount | bad_share
    for pos in np.flatnonzero(bad):
        raw = physical.text(int(lines[pos]) - 1)
        if long_row[pos]:
            reason = f"row has {int(nfields[pos])} fields, the header has {width}"
        elif too_short[pos]:
            reason = f"row has only {int(nfields[pos])} of {width} fields, no amount"
        elif bad_amount[pos]:
            value = amount_raw.iloc[pos]
            reason = "amount is empty" if value == "" else f"amount is not an integer number of fen: {value!r}"
        else:
            value = recv_raw.iloc[pos]
            reason = (
                "group red packet row without the grabber's share (对手方接收金额(分) empty)"
                if value == ""
                else f"对手方接收金额 is not an integer number of fen: {value!r}"
            )
        out.append(Reject(line=int(lines[pos]), raw=raw, reason=reason))
    return out


def _owner(uid: pd.Series, names: pd.Series, ts: pd.Series, path: Path) -> tuple[str | None, str | None]:
    """The file's 用户ID (most frequent if rows disagree; the account folder for a
    header-only file) and its latest 用户侧账号名称."""
    if not (uid != "").any():
        folder = display_path(Path(path).parent.name) if Path(path).parent.name else ""
        return (folder or None), None
    owner = str(uid[uid != ""].value_counts().idxmax())
    mine = pd.DataFrame({"n": names, "ts": ts})[(uid == owner) & (names != "")]
    if mine.empty:
        return owner, None
    # Stable sort: the last row of the latest timestamp wins (names change over time).
    latest = mine.sort_values("ts", kind="stable").iloc[-1]["n"]
    return owner, str(latest)
