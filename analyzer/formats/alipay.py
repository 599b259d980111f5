"""Alipay personal bill (支付宝交易明细), three CSV layouts.

* ``alipay_legacy_web``: website export ``支付宝交易记录明细查询``; preamble with
  ``账号:[…]``, header ``交易号,商家订单号,交易创建时间,…,资金状态,``, data, a dashed
  footer line, totals and ``导出时间:[…]    用户:<name>``.
* ``alipay_app_2021``: app export 2021–2022; the ``电子客户回单`` separator and the
  header (``收/支,交易对方,…,交易时间,``) come first, the 导出信息 block after the data.
* ``alipay_app_2023``: app export from 2023-02; 导出信息 preamble, separator, header
  ``交易时间,交易分类,…,备注,``, data to the end of the file.

Files are GBK (sometimes UTF-8, with or without BOM). Cells are padded with spaces,
ids carry a trailing TAB and every line ends with a comma. The header is found by its
content, never by a line count (the 2026 export reportedly drops a preamble line).
See shared/research/formats.md §2.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

from analyzer.errors import FormatError
from analyzer.formats.base import (
    DAMAGED_REASON,
    Parsed,
    REPLACEMENT,
    Reject,
    clean_cell,
    damaged_line,
    decode_bytes,
    decode_damaged,
    display_path,
    drop_frame,
    frame,
    raw_json,
    stage_frame,
)

FORMAT_LEGACY = "alipay_legacy_web"
FORMAT_APP_2021 = "alipay_app_2021"
FORMAT_APP_2023 = "alipay_app_2023"

# The company names seen in the `----…  电子客户回单----` separator (the second from 2025-10).
_COMPANIES = ("支付宝（中国）网络技术有限公司", "支付宝支付科技有限公司")

_SUCCESS = frozenset(
    {
        "交易成功",
        "支付成功",
        "代付成功",
        "亲情卡付款成功",
        "充值成功",
        "退款成功",
        "还款成功",
        "解冻成功",
        "信用服务使用成功",
        "提取成功",
        "转出成功",
    }
)
_CLOSED = frozenset({"交易关闭", "已关闭"})

# 交易分类 values whose counterparty is a real merchant or service provider.
_MERCHANT_CATEGORIES = frozenset(
    {
        "餐饮美食",
        "服饰装扮",
        "服饰鞋包",
        "日用百货",
        "家居家装",
        "数码电器",
        "运动户外",
        "美容美发",
        "母婴亲子",
        "宠物",
        "交通出行",
        "爱车养车",
        "住房物业",
        "酒店旅游",
        "旅游景点",
        "文化休闲",
        "电影票务",
        "教育培训",
        "医疗健康",
        "生活服务",
        "公共服务",
        "商业服务",
        "公益捐赠",
        "互助保障",
        "保险",
        "充值缴费",
        "亲友代付",
    }
)

# Gift / prepaid card words: such cards are a classic way to pass value without a transfer.
_GIFT_CARD_WORDS = (
    "礼品卡",
    "礼卡",
    "礼券",
    "E卡",  # 京东E卡; case-sensitive on purpose ("iPhone卡套" must not match)
    "购物卡",
    "储值卡",
    "预付卡",
    "消费卡",
    "卡券",
    "蟹卡",
    "提货券",
    "提货卡",
    "加油卡",
)
_QR_WORDS = ("收钱码", "二维码", "扫码")
# Legacy bills have no 交易分类: recognise investment / fund movements by their item name.
_LEGACY_INVEST_WORDS = ("余额宝", "收益发放", "基金", "理财", "蚂蚁财富")

# 收/支 values that say the bill counts the row neither as income nor as expense:
# 不计收支 (2023+), 其他 (2021–22), empty (legacy web, where 资金状态 may tell).
# Any other value (转入, income …) means shifted cells or a foreign file: rejected.
_NEUTRAL_FLOWS = frozenset({"不计收支", "其他"})
# Which way the money of such a row went, where its item text (商品说明 / 商品名称) tells:
# words of money that came to the holder, and of money that left him (the counterparty
# is the fund, the lender, the card). A text with words of both, or of neither, tells
# nothing: the row keeps the holder and leaves the other side empty.
_CAME_IN_WORDS = ("收益", "卖出", "赎回", "取出", "放款", "转出", "分红", "理赔")  # 余额宝收益发放, 借呗放款至银行卡, 备用金取出至余额 …
_WENT_OUT_WORDS = ("买入", "申购", "转入", "攒入", "还款", "归还")  # 余额宝-单次转入, 花呗还款, 备用金归还 …

# `<original>_<suffix>`: the 交易号 of a refund in the legacy export (also seen in the app export).
_REFUND_ID = re.compile(r"^([0-9A-Za-z]+)_[0-9A-Za-z]+$")
_TIME = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_DASHES = re.compile(r"^-{5,}")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

_OWNER_APP = re.compile(r"^支付宝账户[:：]\s*(.*?)\s*$")
_OWNER_LEGACY = re.compile(r"^账号[:：]\s*\[([^\]]*)\]")
_NAME = re.compile(r"^姓名[:：]\s*(.*?)\s*$")
_USER = re.compile(r"(?:^|\s)用户[:：]\s*(.*?)\s*$")
_START = re.compile(r"起始(?:时间|日期)[:：]\s*\[([^\]]*)\]")
_END = re.compile(r"终止(?:时间|日期)[:：]\s*\[([^\]]*)\]")
_FOOTER_START = re.compile(r"^(导出信息|共\d+笔记录)")

# Columns read by name (header text as the exports spell it; compared in _key form).
_APP_COLUMNS = ("交易时间", "交易分类", "交易对方", "对方账号", "商品说明", "收/支", "金额", "交易状态", "交易订单号", "商家订单号", "备注")
_LEGACY_COLUMNS = ("交易号", "交易创建时间", "类型", "交易对方", "商品名称", "金额（元）", "收/支", "交易状态", "备注", "资金状态")

# How many physical lines a quoted cell may span before we give up joining them.
_MAX_ROW_LINES = 5


# --------------------------------------------------------------------------- helpers


def _key(header: str) -> str:
    """Header comparison form: NFKC (full-width brackets → ASCII), no spaces."""
    return "".join(unicodedata.normalize("NFKC", header).split())


def _trim(value: str) -> str:
    """Trim one cell as exported: padding spaces, TABs, BOM and zero-width characters.
    Unlike clean_cell it keeps '/' so that `raw` shows the cell as it was."""
    return value.replace("\ufeff", "").replace("\u200b", "").replace("\xa0", " ").strip(" \t\r\n")


def _split(line: str, *, strict: bool = False) -> list[str]:
    """One CSV record from text (may raise csv.Error when strict)."""
    rows = list(csv.reader([line], strict=strict))
    return rows[0] if rows else []


def _header_kind(line: str) -> str | None:
    """'app' or 'legacy' when the line is an Alipay header row, else None."""
    if "," not in line:
        return None
    cells = {_key(c) for c in line.split(",")}
    if "交易时间" in cells and "交易分类" in cells:
        return "app"
    if "交易号" in cells and "交易创建时间" in cells:
        return "legacy"
    return None


def _looks_like_alipay(text: str) -> bool:
    """The content markers shared by sniff and parse."""
    if "支付宝交易记录明细查询" in text:
        return True
    if "电子客户回单" in text and any(c in text for c in _COMPANIES):
        return True
    if "导出信息：" in text and "支付宝账户" in text:
        return True
    return any(_header_kind(line) for line in _LINE_BREAK.split(text))


def _decode_head(head: bytes) -> str | None:
    """Decode a possibly truncated head: the cut may fall inside a multi-byte character,
    so drop up to 3 trailing bytes. UTF-8 is tried first on every cut, because a cut
    UTF-8 file can look like valid (garbage) GB18030."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return decode_bytes(head[: len(head) - (len(head) % 2)])[0]
        except UnicodeDecodeError:
            return None
    for codec in ("utf-8-sig", "gb18030"):
        for cut in range(4):
            chunk = head[: len(head) - cut] if cut else head
            try:
                return chunk.decode(codec)
            except UnicodeDecodeError:
                continue
    # A damaged byte (an Alipay bill with one bad cell is still an Alipay bill).
    return decode_damaged(head)[0]


def _amount(value: str | None) -> str | None:
    """'5,000.00 ' → '5000.00'; '¥'/'￥' and inner spaces removed. Not validated: ingest casts."""
    if value is None:
        return None
    s = value.replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
    s = "".join(s.split())
    return s or None


def _timestamp(value: str | None) -> str | None:
    """Normalise to 'YYYY-MM-DD HH:MM:SS' (Excel re-saves give '2023/2/1 9:05');
    anything else is returned unchanged so that ingest rejects it."""
    if value is None:
        return None
    m = _TIME.match(value)
    if not m:
        return value
    y, mo, d, h, mi, s = m.groups()
    return f"{y}-{int(mo):02d}-{int(d):02d} {int(h):02d}:{mi}:{s or '00'}"


def _status(raw: str | None) -> str:
    """Map 交易状态 to STATUSES."""
    if not raw:
        return "other"
    if raw in _SUCCESS:
        return "success"
    if raw in _CLOSED or "关闭" in raw:
        return "closed"
    if "失败" in raw:
        return "failed"
    if raw.startswith("等待"):
        return "pending"
    # Statuses not in the research list but of the same shape (e.g. 收款成功).
    if raw.endswith("成功"):
        return "success"
    return "other"


def _direction(flow: str | None, fund_status: str | None) -> str | None:
    """收/支 → out/in/neutral; legacy rows with an empty 收/支 fall back to 资金状态.
    None for a 收/支 value the layouts do not have (the row is rejected)."""
    if flow == "收入":
        return "in"
    if flow == "支出":
        return "out"
    if flow is not None and flow not in _NEUTRAL_FLOWS:
        return None
    if flow is None and fund_status is not None:
        if fund_status == "已收入":
            return "in"
        if fund_status == "已支出":
            return "out"
    return "neutral"


def _holder_side(direction: str, kind: str, category: str | None, desc: str | None, typ: str | None) -> str | None:
    """Which side of the movement the bill's holder is on: 'payee' (money came to him),
    'payer', or None when the bill does not tell (a 不计收支 row whose item text says
    nothing of the way the money went). Never guessed."""
    if direction == "in" or kind == "refund":
        return "payee"
    if direction == "out":
        return "payer"
    text = desc or ""
    if "提现" in text or "提现" in (typ or ""):
        return "payer"  # from the holder's balance to his bank card
    came_in = any(w in text for w in _CAME_IN_WORDS)
    went_out = any(w in text for w in _WENT_OUT_WORDS)
    if came_in != went_out:
        return "payee" if came_in else "payer"
    if not came_in and category in _MERCHANT_CATEGORIES:
        return "payer"  # a purchase (closed, or paid some other way): the holder is the buyer
    return None


def _kind(*, legacy: bool, category: str | None, typ: str | None, desc: str | None, party: str | None, txn: str | None) -> str:
    """The movement kind. `category` is the app 交易分类; `typ` the legacy 类型."""
    desc_s = desc or ""
    party_s = party or ""
    cat = category or ""
    typ_s = typ or ""
    # Refunds first: their 商品说明 repeats the original item (`退款-<item>`), which
    # would otherwise match the keyword rules below.
    if cat == "退款" or desc_s.startswith("退款-") or "退款" in typ_s:
        return "refund"
    if legacy and txn and _REFUND_ID.match(txn):
        return "refund"
    if cat == "账户存取" or "提现" in desc_s or "提现" in typ_s:
        return "withdrawal"
    if legacy:
        p2p = any(w in typ_s or w in desc_s for w in ("转账", "红包"))
    else:
        p2p = "转账" in cat or "红包" in cat
    if p2p:
        if any(w in desc_s for w in _QR_WORDS):
            return "qr_payment"
        # The item text decides before the counterparty name: 商品说明 `朋友转账` from a
        # party called `…红包` is a transfer; a nickname containing 红包 is common.
        if "红包" in desc_s:
            return "red_packet"
        if "转账" in desc_s:
            return "transfer"
        if "红包" in party_s:
            return "red_packet"
        return "transfer"
    if any(w in desc_s or w in party_s for w in _GIFT_CARD_WORDS):
        return "gift_card"
    if any(w in desc_s for w in _QR_WORDS):
        return "qr_payment"
    if legacy:
        if any(w in desc_s or w in party_s for w in _LEGACY_INVEST_WORDS):
            return "other"
        return "merchant" if party else "other"
    return "merchant" if cat in _MERCHANT_CATEGORIES else "other"


# --------------------------------------------------------------------------- contract


def sniff(path: Path, head: bytes) -> bool:
    """True when the first bytes of the file look like an Alipay bill of any layout."""
    text = _decode_head(head)
    if not text:
        return False
    return _looks_like_alipay(text)


def stage(con, path: Path, *, owner: str | None = None) -> Parsed:
    """The protocol of analyzer.formats.base: `parse`, handed over as DuckDB relations."""
    return stage_frame(con, _read(path, owner), display_path(path))


drop_staged = drop_frame


def parse(path: Path, *, owner: str | None = None) -> Parsed:
    """Read an Alipay bill into movement rows. `owner` overrides the account in the file.

    Raises FormatError (one line, starting with the file name) when the file cannot be
    decoded or has no Alipay header row; bad rows become rejects.
    """
    parsed = _read(path, owner)
    parsed.rows = frame(parsed.rows)
    return parsed


def _read(path: Path, owner: str | None) -> Parsed:
    """`parse`, its rows left as the records they were read into (stage hands them to
    DuckDB without pandas)."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"{name}: cannot read file ({exc.strerror or exc})") from None
    if not data.strip():
        raise FormatError(f"{name}: empty file, not an Alipay bill")
    text, encoding, damaged = decode_damaged(data)

    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the final newline does not start a line

    header_at = next((i for i, line in enumerate(lines) if _header_kind(line)), None)
    if header_at is None:
        if damaged:
            raise FormatError(f"{name}: not text in GBK, UTF-8 or UTF-16 and no Alipay header row; not an Alipay bill")
        if _looks_like_alipay(text):
            raise FormatError(f"{name}: looks like an Alipay bill but has no header row (交易时间/交易分类 or 交易号/交易创建时间)")
        raise FormatError(f"{name}: no Alipay header row found; not an Alipay bill")

    legacy = _header_kind(lines[header_at]) == "legacy"
    try:
        headers = [_trim(h) for h in _split(lines[header_at])]
    except csv.Error as exc:  # only a cell beyond csv.field_size_limit gets here
        raise FormatError(f"{name}: cannot split the header on line {header_at + 1} ({exc})") from None
    if headers and headers[-1] == "":
        headers.pop()  # the trailing comma
    index: dict[str, int] = {}
    for i, h in enumerate(headers):
        index.setdefault(_key(h), i)

    if legacy:
        fmt = FORMAT_LEGACY
        required = ("交易号", "交易创建时间", "金额(元)")
    else:
        # Column order tells the app layouts apart (2021–22 starts with 收/支).
        fmt = FORMAT_APP_2023 if _key(headers[0]) == "交易时间" else FORMAT_APP_2021
        required = ("交易时间", "金额", "交易订单号")
    missing = [r for r in required if _key(r) not in index]
    if missing:
        raise FormatError(f"{name}: Alipay header on line {header_at + 1} lacks column(s) {', '.join(missing)}")
    # Resolve column positions once (None when the layout lacks the column).
    pos = {h: index.get(_key(h)) for h in (_LEGACY_COLUMNS if legacy else _APP_COLUMNS)}

    # ---- data rows: from the header to the dashed footer line (or the end of the file)
    width = len(headers)
    records: list[dict] = []
    rejects: list[Reject] = []
    data_end = len(lines)
    i = header_at + 1
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if _DASHES.match(stripped) or _FOOTER_START.match(stripped):
            data_end = i
            break
        if not stripped:
            i += 1
            continue
        lineno = i + 1
        if damaged_line(line, damaged):
            # Damaged bytes (see decode_damaged): keep the rest of the file, flag this row.
            rejects.append(Reject(lineno, line, DAMAGED_REASON))
            i += 1
            continue
        cells, used = _read_record(lines, i, width)
        i += used
        if cells is None:
            rejects.append(Reject(lineno, line, "cannot split the line as CSV"))
            continue
        if len(cells) == width + 1 and _trim(cells[-1]) == "":
            cells = cells[:-1]  # the trailing comma
        if len(cells) != width:
            rejects.append(Reject(lineno, "\n".join(lines[lineno - 1 : lineno - 1 + used]), f"{len(cells)} cells, the header has {width}"))
            continue
        trimmed = [_trim(c) for c in cells]
        if not any(trimmed):
            continue  # a line of bare commas
        try:
            records.append(_record(lineno, headers, trimmed, pos, legacy=legacy))
        except _RowError as exc:
            rejects.append(Reject(lineno, "\n".join(lines[lineno - 1 : lineno - 1 + used]), str(exc)))

    # ---- 导出信息 / footer: wherever it is, outside the header and data
    info = lines[:header_at] + lines[data_end:]
    file_owner, owner_name, start, end = _read_info(info)
    effective_owner = owner if owner is not None else file_owner
    for rec in records:
        _assign_parties(rec, effective_owner)

    parsed = Parsed(
        format=fmt,
        owner=effective_owner,
        rows=records,
        rejects=rejects,
        rows_read=len(records) + len(rejects),
        owner_name=owner_name,
        period_start=start,
        period_end=end,
    )
    parsed.encoding = encoding
    return parsed


# --------------------------------------------------------------------------- parse internals


class _RowError(ValueError):
    """A data row whose content cannot be mapped (becomes a Reject)."""


def _read_record(lines: list[str], i: int, width: int) -> tuple[list[str] | None, int]:
    """Split the record that starts at physical line i. Returns (cells, lines used).

    Alipay does not quote cells, but an Excel re-save may quote a cell that holds a line
    break. Join following lines only when the line ends inside an open quote and the
    joined record then has the header's width; otherwise the line stands alone, so that
    one stray quote cannot swallow the rest of the file."""
    line = lines[i]
    try:
        return _split(line, strict=True), 1
    except csv.Error:
        pass
    for extra in range(1, _MAX_ROW_LINES):
        if i + extra >= len(lines):
            break
        joined = "\n".join(lines[i : i + extra + 1])
        try:
            cells = _split(joined, strict=True)
        except csv.Error:
            continue
        if len(cells) in (width, width + 1):
            return cells, extra + 1
        break
    try:
        return _split(line), 1
    except csv.Error:
        return None, 1


def _record(lineno: int, headers: list[str], cells: list[str], pos: dict[str, int | None], *, legacy: bool) -> dict:
    """One movement from a row; payer/payee are filled later once the owner is known.
    `pos` maps the column names of _APP_COLUMNS / _LEGACY_COLUMNS to cell positions."""

    def g(header: str) -> str | None:
        i = pos[header]
        return None if i is None else clean_cell(cells[i])

    if legacy:
        txn = g("交易号")
        ts = g("交易创建时间")
        amount = g("金额（元）")
        category = None
        raw_type = g("类型")
        desc = g("商品名称")
        party = g("交易对方")
        party_account = None  # the legacy export has no 对方账号
        flow = g("收/支")
        direction = _direction(flow, g("资金状态"))
    else:
        txn = g("交易订单号")
        ts = g("交易时间")
        amount = g("金额")
        category = g("交易分类")
        raw_type = category
        desc = g("商品说明")
        party = g("交易对方")
        party_account = g("对方账号")
        flow = g("收/支")
        direction = _direction(flow, None)
    if direction is None:
        raise _RowError(f"unknown 收/支 value {flow!r}")  # as the WeChat parser says it
    raw_status = g("交易状态")
    note = g("备注")
    kind = _kind(legacy=legacy, category=category, typ=raw_type if legacy else None, desc=desc, party=party, txn=txn)

    refund_ref = None
    if kind == "refund":
        m = _REFUND_ID.match(txn or "")
        if m:
            refund_ref = m.group(1)  # `<original>_<suffix>`: the original's own txn id
        elif not legacy:
            refund_ref = g("商家订单号") or txn  # the original shares the merchant order id

    memo = desc
    if note:
        memo = f"{desc} | {note}" if desc else note

    return {
        "line": lineno,
        "txn_id": txn,
        "match_id": None,
        "packet_id": None,
        "ts": _timestamp(ts),
        "amount": _amount(amount),
        "direction": direction,
        "kind": kind,
        "status": _status(raw_status),
        "channel": "alipay",
        "memo": memo,
        "raw_type": raw_type,
        "raw_status": raw_status,
        "refund_ref": refund_ref,
        "raw": raw_json(headers, cells),
        # the counterparty and the holder's side, popped by _assign_parties once the owner is known
        "_party": party_account or party,
        "_party_name": party,
        "_holder": _holder_side(direction, kind, category, desc, raw_type if legacy else None),
    }


def _assign_parties(rec: dict, owner: str | None) -> None:
    """payer/payee from the holder's side (_holder_side): from the counterparty to the
    holder when he is the payee ('in' rows, refunds, 余额宝收益 …), to it when he is the
    payer. When the bill does not tell, the row stays neutral with the holder as the
    one whose money moved and the other side empty: never a side that may be wrong."""
    party = rec.pop("_party")
    party_name = rec.pop("_party_name")
    holder = rec.pop("_holder")
    if holder == "payee":
        rec.update(payer=party, payer_name=party_name, payee=owner, payee_name=None)
    elif holder == "payer":
        rec.update(payer=owner, payer_name=None, payee=party, payee_name=party_name)
    else:
        rec.update(payer=owner, payer_name=None, payee=None, payee_name=None)


def _read_info(lines: list[str]) -> tuple[str | None, str | None, str | None, str | None]:
    """(owner account, owner name, period start, period end) from preamble/footer lines."""
    owner = owner_name = start = end = None
    for line in lines:
        s = _trim(line).rstrip(",").strip()  # some re-saved files pad info lines with commas
        if not s:
            continue
        if owner is None:
            m = _OWNER_APP.match(s) or _OWNER_LEGACY.match(s)
            if m and clean_cell(m.group(1)) and REPLACEMENT not in m.group(1):  # a damaged account names nobody
                owner = clean_cell(m.group(1))
                continue
        if owner_name is None:
            m = _NAME.match(s) or _USER.search(s)
            if m and clean_cell(m.group(1)):
                owner_name = clean_cell(m.group(1))
        if start is None and (m := _START.search(s)):
            start = clean_cell(m.group(1))
        if end is None and (m := _END.search(s)):
            end = clean_cell(m.group(1))
    return owner, owner_name, start, end
