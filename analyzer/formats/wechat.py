"""WeChat Pay personal bill (微信支付账单明细): CSV (≤ 2025-06) and XLSX (≥ 2025-07).

Layout (research/formats.md §1): a preamble of one-cell rows (title, 微信昵称：[nick],
起始时间：[…] 终止时间：[…], counts, notes, a dashed separator), then the header row
交易时间,交易类型,交易对方,商品,收/支,金额(元),支付方式,当前状态,交易单号,商户单号,备注
and one row per movement. The preamble has grown over time (16 rows, then 17 from
2026-03), so the header row is found by its content, never by a skip count.

Values stay text (ingest casts them); this module only restructures, trims the TABs
WeChat appends to ids, and normalises amounts ('¥28.16' / numeric cell 28.16 → '28.16')
and XLSX date cells ('YYYY-MM-DD HH:MM:SS').
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
import zlib
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from analyzer.errors import FormatError
from analyzer.formats.base import (
    DAMAGED_REASON,
    Parsed,
    REPLACEMENT,
    Reject,
    clean_cell,
    damaged_line,
    decode_damaged,
    display_path,
    drop_frame,
    frame,
    raw_json,
    stage_frame,
)

FORMAT_CSV = "wechat_csv"
FORMAT_XLSX = "wechat_xlsx"

TITLE = "微信支付账单明细"
HEADER_PROBE = "交易时间,交易类型,交易对方"

# How far into a sheet the header row is looked for when choosing a sheet (sniff and
# sheet selection only; the full parse scans every row). Real preambles are 16-17
# rows; this leaves ample room for future notes without reading whole workbooks.
_SHEET_SCAN_ROWS = 200

# Canonical column names (after NFKC, so 金额（元） matches 金额(元)).
C_TS, C_TYPE, C_PARTY, C_GOODS, C_DIR, C_AMOUNT = "交易时间", "交易类型", "交易对方", "商品", "收/支", "金额(元)"
C_METHOD, C_STATUS, C_TXN, C_MERCHANT, C_NOTE = "支付方式", "当前状态", "交易单号", "商户单号", "备注"
_REQUIRED = (C_TS, C_TYPE, C_PARTY, C_DIR, C_AMOUNT)

# 交易类型 vocabularies (formats.md §1.5/§1.6), compared after NFKC (half-width brackets).
_RED_PACKET = {"微信红包", "微信红包(单发)", "微信红包(面对面红包)", "企业微信红包"}
_TRANSFER = {"转账", "群收款", "赞赏码"}
_QR = {"扫二维码付款", "二维码收款"}
_WITHDRAWAL = {"零钱提现", "经营账户提现"}
_MERCHANT = {"商户消费", "亲属卡交易", "付款码付款"}
# Gift / prepaid value cards: the classic vehicle for disguised gifts. Matched as
# substrings of 交易类型, 商品 and 交易对方 (upper-cased NFKC, so ｅ卡 / e卡 match E卡).
_GIFT_WORDS = (
    "礼品卡", "礼卡", "礼券", "E卡", "购物卡", "购物券", "储值卡", "预付卡", "预付费卡",
    "有价券", "消费卡", "蟹卡", "蟹券", "提货券", "提货卡", "加油卡", "充值卡",
)
# Kinds whose 商户单号 is (very likely) the id both parties' bills carry (§1.7).
_SHARED_ID_KINDS = {"red_packet", "group_red_packet", "transfer", "qr_payment"}

_SUCCESS = {
    "支付成功", "已存入零钱", "已收钱", "已转账", "对方已收钱", "朋友已收钱", "已到账",
    "提现已到账", "充值完成", "充值成功", "已支付",
}
_RETURNED = {"对方已退还", "已退还", "已过期"}

# 收/支: 收入, 支出 or '/' in real bills; the other neutral words are tolerated. Anything
# else means shifted columns or a foreign file, and the row is rejected.
_DIRECTIONS = {
    "收入": "in", "支出": "out",
    "/": "neutral", "": "neutral", "不计收支": "neutral", "中性交易": "neutral", "其他": "neutral",
}

_NICK_RE = re.compile(r"微信昵称\s*[：:]\s*\[(.*)\]")
_PERIOD_RE = re.compile(r"起始时间\s*[：:]\s*\[(.*?)\]\s*终止时间\s*[：:]\s*\[(.*?)\]")
_MEMO_PREFIX_RE = re.compile(r"^(?:转账备注|收款方备注)\s*[:：]\s*")
_FEE_NOTE_RE = re.compile(r"^服务费\s*[¥￥]?\s*\d+(?:\.\d+)?\s*元?$")
_AMOUNT_RE = re.compile(r"^[+-]?\d+(?:\.\d{1,2})?$")
_TS_RE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+|T)(\d{1,2}):(\d{2})(?::(\d{2}))?$"
)
_CENT = Decimal("0.01")
# XLSX sniff: how much of each XML part is read looking for the title or header.
_SNIFF_XML_BYTES = 1 << 20
# What reading a damaged or foreign workbook raises from zipfile, zlib and the XML
# parsers (and openpyxl on top of them): the workbook cannot be read. Anything else
# is a bug, not the file's fault, and is not caught.
_UNREADABLE_XLSX = (
    zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, KeyError, ValueError, TypeError,
    IndexError, AttributeError, NotImplementedError, RuntimeError, ET.ParseError, UnicodeDecodeError,
    LookupError,  # an XML declaration naming an encoding that does not exist
)


# --------------------------------------------------------------------------- sniff


def sniff(path: Path, head: bytes) -> bool:
    """True when `head` (the first bytes of `path`) looks like a WeChat Pay bill.

    CSV: the text starts with the title 微信支付账单明细 or holds the header
    交易时间,交易类型,交易对方. XLSX (zip magic): a sheet holds that title or header.
    """
    if head.startswith(b"PK"):
        try:
            return _sniff_xlsx(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError, ET.ParseError, LookupError, UnicodeDecodeError):
            return False  # a broken, encrypted or foreign zip is not a bill we can read
    text = _decode_head(head)
    if text is None:
        return False
    start = text.lstrip("\ufeff \t\r\n\"")
    if start.startswith(TITLE):
        return True
    squeezed = text.replace('"', "").replace(" ", "").replace("\t", "")
    return HEADER_PROBE in squeezed


def _sniff_xlsx(path: Path) -> bool:
    """Peek into the workbook's XML without loading it: openpyxl would read the whole
    shared-string table first, seconds for a large bill. The title or the header
    cells are among the first strings of a WeChat bill, either in the shared-string
    table or inline in a sheet."""
    with zipfile.ZipFile(path) as zf:
        names = [
            n for n in zf.namelist()
            if n == "xl/sharedStrings.xml" or (n.startswith("xl/worksheets/") and n.endswith(".xml"))
        ]
        for name in names:
            with zf.open(name) as fh:
                seen = set()
                for text in _xml_strings(fh, _SNIFF_XML_BYTES):
                    seen.add(text.strip())
                    if TITLE in seen or (C_TS in seen and C_TYPE in seen):
                        return True
    return False


def _xml_strings(fh, limit: int):
    """The strings (<si> shared, <is> inline) in the first `limit` bytes of an XLSX part.
    Parsed as XML, not matched as bytes: writers escape CJK as &#NNNNN; and split
    strings into rich-text runs."""
    parser = ET.XMLPullParser(events=("end",))
    read = 0
    while read < limit:
        chunk = fh.read(64 * 1024)
        if not chunk:
            break
        read += len(chunk)
        parser.feed(chunk)
        for _event, el in parser.read_events():
            tag = el.tag.rsplit("}", 1)[-1]
            if tag in ("si", "is"):
                yield "".join(el.itertext())
                el.clear()
            elif tag == "row":
                el.clear()  # a worksheet's cells are not needed once read


def _decode_head(head: bytes) -> str | None:
    """Decode the head leniently: it may end in the middle of a character."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="ignore")
    for enc in ("utf-8-sig", "gb18030"):
        text = head.decode(enc, errors="ignore")
        if TITLE in text or "交易时间" in text:
            return text
    return None


# --------------------------------------------------------------------------- parse


def stage(con, path: Path, *, owner: str | None = None) -> Parsed:
    """The protocol of analyzer.formats.base: `parse`, handed over as DuckDB relations."""
    return stage_frame(con, _read(path, owner), display_path(path))


drop_staged = drop_frame


def parse(path: Path, *, owner: str | None = None) -> Parsed:
    """Read a WeChat Pay bill (CSV or XLSX, chosen by content) into movement rows.

    `owner` overrides the nickname the preamble names (微信昵称：[…]). Raises
    FormatError (one line naming the file) when the file cannot be read or has no
    header row; rows with a wrong cell count become rejects.
    """
    parsed = _read(path, owner)
    parsed.rows = frame(parsed.rows)
    return parsed


def _read(path: Path, owner: str | None) -> Parsed:
    """`parse`, its rows left as the records they were read into (stage hands them to
    DuckDB without pandas)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise FormatError(f"{path.name}: cannot read file ({exc.strerror or exc})") from None
    if not head:
        raise FormatError(f"{path.name}: empty file, not a WeChat bill")
    if head.startswith(b"PK"):
        return _parse_xlsx(path, owner)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        # OLE container: a legacy .xls or a password-protected workbook.
        raise FormatError(f"{path.name}: legacy .xls or password-protected workbook; open it and save as .xlsx")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise FormatError(f"{path.name}: not a readable XLSX workbook (no zip signature)")
    return _parse_csv(path, owner)


def _parse_csv(path: Path, owner: str | None) -> Parsed:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"{path.name}: cannot read file ({exc.strerror or exc})") from None
    # A damaged byte does not lose the file: the lines holding one are rejected.
    text, encoding, damaged = decode_damaged(data)

    # Feed the csv reader the same physical lines we keep, so a reject can quote them
    # and `line_num` (lines consumed so far) gives exact physical line numbers even
    # when a quoted field spans lines.
    lines = list(io.StringIO(text, newline=""))
    reader = csv.reader(iter(lines))
    records: list[tuple[int, list[object], str]] = []
    unreadable: dict[int, str] = {}  # line → why the csv reader refused it
    prev = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a field beyond csv.field_size_limit: that record only
            cells = None
            unreadable[prev + 1] = f"unreadable CSV ({exc})"
        start, end = prev + 1, max(reader.line_num, prev + 1)
        prev = end
        records.append((start, cells if cells is not None else [], "".join(lines[start - 1 : end]).rstrip("\r\n")))
    parsed = _build(path, FORMAT_CSV, records, owner, strict_width=True, damaged=damaged, unreadable=unreadable)
    parsed.encoding = encoding
    return parsed


def _parse_xlsx(path: Path, owner: str | None) -> Parsed:
    import openpyxl  # imported lazily: CSV-only runs do not pay for it

    wb = None
    try:
        # Only openpyxl's own work is inside _reading(): what it raises on a damaged
        # workbook is a refusal of the file; an error in rpa's code is not caught.
        with _reading(path):
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        ws = _pick_sheet(wb, path)
        if ws is None:
            raise FormatError(f"{path.name}: WeChat bill header row (交易时间, 交易类型, …) not found")
        records = []
        for rownum, values in enumerate(_sheet_rows(ws, path), start=1):
            # Keep the cell values as openpyxl gives them: numeric amounts are turned
            # into text by _amount_text (Decimal(repr(x))), not by str().
            text = ",".join(_cell_text(v) or "" for v in values).rstrip(",")
            records.append((rownum, list(values), text))
    finally:
        if wb is not None:
            with _reading(path):
                wb.close()
    return _build(path, FORMAT_XLSX, records, owner, strict_width=False)


class _reading:
    """Context: the exceptions of a damaged workbook (_UNREADABLE_XLSX) become one
    FormatError naming the file."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, _UNREADABLE_XLSX):
            raise FormatError(f"{self.path.name}: unreadable XLSX workbook ({type(exc).__name__}: {_one_line(exc)})") from None
        return False


def _sheet_rows(ws, path: Path, max_rows: int | None = None):
    """_iter_sheet, with what openpyxl raises while reading the rows made a FormatError
    (only the reading itself: the caller's work on each row is outside)."""
    with _reading(path):
        rows = _iter_sheet(ws, max_rows)
    while True:
        with _reading(path):
            try:
                values = next(rows)
            except StopIteration:
                return
        yield values


def _iter_sheet(ws, max_rows: int | None = None):
    """Rows of a read-only sheet as value tuples, row 1 first, gaps filled with ()."""
    # Some writers store a wrong <dimension> (e.g. 'A1'); openpyxl would then cut every
    # row to it. Forget it and read rows at their natural width.
    ws.reset_dimensions()
    return ws.iter_rows(min_row=1, max_row=max_rows, values_only=True)


def _pick_sheet(wb, path: Path):
    """The sheet holding the bill: `Sheet1` when it has the header, else a sheet whose
    first row is the title, else any sheet with the header; None when none has it.
    Power-Query copies (`example-wechat-records`, first row Column1…) rank last."""
    ranked: list[tuple[int, int, object]] = []
    # wb.worksheets builds each read-only sheet once (openpyxl scans its XML for the
    # size on construction): reuse these objects rather than looking sheets up again.
    with _reading(path):
        sheets = wb.worksheets
    for pos, ws in enumerate(sheets):
        first = None
        found = False
        for values in _sheet_rows(ws, path, _SHEET_SCAN_ROWS):
            cells = [_clean(v) for v in values]
            if first is None and any(cells):
                first = next(c for c in cells if c)
            if _is_header(cells):
                found = True
                break
        if found:
            with _reading(path):
                title = ws.title
            rank = 0 if title == "Sheet1" else 1 if first == TITLE else 2
            ranked.append((rank, pos, ws))
    return min(ranked, key=lambda r: r[:2])[2] if ranked else None


def _is_header(cells: list) -> bool:
    return len(cells) >= 2 and _norm(cells[0]) == C_TS and _norm(cells[1]) == C_TYPE


def _build(
    path: Path, fmt: str, records, owner_arg: str | None, *, strict_width: bool, damaged: bool = False,
    unreadable: dict[int, str] | None = None,
) -> Parsed:
    """Shared by CSV and XLSX: find the header, read the preamble, map data rows.

    records: (line, cells, raw line text) in file order. strict_width: a CSV row must
    have the header's cell count; an XLSX row may be shorter (empty trailing cells are
    simply absent) but must not hold values beyond the header. `damaged`: the text did
    not decode cleanly, and rows holding an undecodable byte are rejected (rows holding
    a NUL always are). `unreadable`: line → reason, records the csv reader refused.
    """
    unreadable = unreadable or {}
    header_at = next((i for i, (_, cells, _) in enumerate(records) if _is_header([_clean(c) for c in cells[:2]])), None)
    if header_at is None:
        raise FormatError(f"{path.name}: WeChat bill header row (交易时间, 交易类型, …) not found")

    header = [_clean(c) or "" for c in records[header_at][1]]
    while header and not header[-1]:
        header.pop()  # padding cells after 备注
    width = len(header)
    col: dict[str, int] = {}
    for i, h in enumerate(header):
        col.setdefault(_norm(h), i)
    missing = [c for c in _REQUIRED if c not in col]
    if missing:
        raise FormatError(f"{path.name}: WeChat bill header lacks column(s) {', '.join(missing)}")

    nick, period_start, period_end = _preamble(records[:header_at])
    owner = owner_arg if owner_arg else nick

    rows: list[dict] = []
    rejects: list[Reject] = []
    pending = list(reversed(records[header_at + 1 :]))  # a stack: a record may be split into its lines
    while pending:
        line, cells, raw_line = pending.pop()
        if line in unreadable:
            rejects.append(Reject(line, raw_line, unreadable[line]))
            continue
        if damaged_line(raw_line, damaged):
            rejects.append(Reject(line, raw_line, DAMAGED_REASON))
            continue
        clean = [_clean(c) for c in cells]  # once per row: the loop's main cost
        if not any(clean):
            continue  # blank rows are layout, not data
        cells = list(cells)
        # Drop trailing empty padding cells (the CSV preamble pads rows to 9-11 fields).
        while len(cells) > width and clean[len(cells) - 1] is None:
            cells.pop()
        if not strict_width and len(cells) < width:
            cells += [None] * (width - len(cells))
            clean += [None] * (width - len(clean))
        if len(cells) != width:
            physical = _LINE_BREAK.split(raw_line)
            if strict_width and len(physical) > 1:
                # A quote opened by damage (or a stray one) joined lines into one record
                # of the wrong width: read each of its lines alone instead, so that only
                # the damaged one is lost.
                pending.extend(reversed([(line + k, _split_alone(text), text) for k, text in enumerate(physical)]))
                continue
            rejects.append(Reject(line, raw_line, f"{width} columns expected, {len(cells)} found"))
            continue
        try:
            rows.append(_movement(line, header, col, cells, clean, owner))
        except _RowError as exc:
            rejects.append(Reject(line, raw_line, str(exc)))

    return Parsed(
        format=fmt,
        owner=owner,
        rows=rows,
        rejects=rejects,
        rows_read=len(rows) + len(rejects),
        owner_name=None,
        period_start=period_start,
        period_end=period_end,
    )


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _split_alone(text: str) -> list[str]:
    """One physical line as CSV cells, read alone (a quote left open ends with the line)."""
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return [text, ""]  # a line beyond csv.field_size_limit: rejected for its width


class _RowError(ValueError):
    """A data row whose content cannot be mapped (becomes a Reject)."""


def _preamble(records) -> tuple[str | None, str | None, str | None]:
    """(nickname, period start, period end) from the rows above the header."""
    nick = start = end = None
    for _, cells, _ in records:
        # Join the cells back: a nickname holding a comma is split by the CSV reader.
        text = ",".join(_cell_text(c) or "" for c in cells).rstrip(", \t\r\n")
        if nick is None and (m := _NICK_RE.search(text)) and REPLACEMENT not in m.group(1):
            nick = clean_cell(m.group(1))  # a damaged nickname names nobody: --owner
        if start is None and (m := _PERIOD_RE.search(text)):
            start, end = clean_cell(m.group(1)), clean_cell(m.group(2))
    return nick, start, end


def _movement(line: int, header: list[str], col: dict[str, int], cells: list, clean: list, owner: str | None) -> dict:
    """One data row → one movement dict (MOVEMENT_COLUMNS). `cells` as read, `clean`
    the same cells trimmed by _clean."""

    def get(name: str) -> str | None:
        i = col.get(name)
        return clean[i] if i is not None else None

    raw_type = get(C_TYPE)
    party = get(C_PARTY)
    goods = get(C_GOODS)
    method = get(C_METHOD)
    raw_status = get(C_STATUS)
    txn_id = get(C_TXN)
    merchant_no = get(C_MERCHANT)

    dir_text = _norm(get(C_DIR) or "")
    if dir_text not in _DIRECTIONS:
        raise _RowError(f"unknown 收/支 value {get(C_DIR)!r}")
    direction = _DIRECTIONS[dir_text]

    kind = _kind(raw_type, party, goods)
    payer, payee = _parties(direction, kind, raw_type, party, method, owner)

    base_kind = kind
    if kind == "refund":
        base_kind = _kind(_refund_base(raw_type), party, goods)

    return {
        "line": line,
        "txn_id": txn_id,
        "match_id": merchant_no if base_kind in _SHARED_ID_KINDS else None,
        "packet_id": (merchant_no or txn_id) if kind == "group_red_packet" else None,
        "ts": _ts_text(cells[col[C_TS]]),
        "payer": payer,
        "payee": payee,
        "payer_name": None,
        "payee_name": None,
        "amount": _amount_text(cells[col[C_AMOUNT]]),
        "direction": direction,
        "kind": kind,
        "status": _status(raw_status, kind),
        "channel": "wechat",
        "memo": _memo(goods, get(C_NOTE)),
        "raw_type": raw_type,
        "raw_status": raw_status,
        "refund_ref": (merchant_no or txn_id) if kind == "refund" else None,
        "raw": raw_json(header, [_cell_text(c) or "" for c in cells]),
    }


# --------------------------------------------------------------------------- mapping


@lru_cache(maxsize=4096)  # types, statuses and directions repeat on every row
def _norm(value: str | None) -> str:
    """Comparison form of a label: NFKC (full-width brackets, colons, ￥ → half-width),
    whitespace removed."""
    if not value:
        return ""
    return "".join(unicodedata.normalize("NFKC", value).split())


def _refund_base(raw_type: str | None) -> str:
    t = _norm(raw_type)
    return t[: -len("-退款")] if t.endswith("-退款") else ""


def _mentions_gift(*texts: str | None) -> bool:
    return any(_gift_text(t) for t in texts if t)


@lru_cache(maxsize=4096)
def _gift_text(text: str) -> bool:
    t = "".join(unicodedata.normalize("NFKC", text).upper().split())
    return any(w in t for w in _GIFT_WORDS)


def _kind(raw_type: str | None, party: str | None, goods: str | None) -> str:
    """KINDS value for a row from 交易类型 (and 交易对方/商品 for group packets and gift cards)."""
    t = _norm(raw_type)
    if t.endswith("-退款") or t == "退款":
        return "refund"
    if "群红包" in t or _norm(party) == "发出群红包":
        return "group_red_packet"
    # Unknown 微信红包(…) variants are still red packets.
    if t in _RED_PACKET or t.startswith(("微信红包", "企业微信红包")):
        return "red_packet"
    if t in _TRANSFER:
        return "transfer"
    if t in _QR:
        return "qr_payment"
    if t in _WITHDRAWAL:
        return "withdrawal"
    gift = _mentions_gift(t, goods, party)
    if t in _MERCHANT:
        return "gift_card" if gift else "merchant"
    # A type of its own (e.g. 有价券, 礼品卡) or a goods text naming a card is still a gift card.
    return "gift_card" if gift else "other"


@lru_cache(maxsize=1024)
def _status(raw_status: str | None, kind: str) -> str:
    """STATUSES value for 当前状态."""
    s = _norm(raw_status)
    if not s:
        return "other"
    if s in _SUCCESS:
        return "success"
    if s == "已全额退款":
        return "refunded"
    if s in _RETURNED or s.startswith(("对方已退还", "已过期")):
        return "returned"
    if s.startswith("已退"):
        # 已退款(￥x) / 已退还(￥x) on the original movement: part of it came back.
        # On the refund row itself the same words mean the refund went through.
        return "success" if kind == "refund" else "partly_refunded"
    if s.startswith("等待"):
        return "pending"
    if "失败" in s:
        return "failed"
    if s in ("已关闭", "交易关闭") or s.startswith(("已关闭", "交易关闭")):
        return "closed"
    return "other"


def _is_top_up(raw_type: str | None) -> bool:
    t = _norm(raw_type)
    return t == "零钱充值" or t.startswith("转入零钱通")


def _parties(direction: str, kind: str, raw_type: str | None, party: str | None, method: str | None, owner: str | None):
    """(payer, payee) as account strings, seen from the owner's side."""
    if direction == "out":
        if party is not None and _norm(party) == "发出群红包":
            return owner, None  # sent into a group: the bill does not name the group
        if party is not None and party.startswith("发给"):
            party = party[len("发给") :].strip() or None
        return owner, party
    if direction == "in":
        return party, owner
    # Neutral: money moves between the owner's wallet and a bank, fund or card.
    if kind == "withdrawal":
        return owner, party or method
    if _is_top_up(raw_type):
        return method or party, owner
    t = _norm(raw_type)
    if party is None and t.startswith("零钱通转出-到"):
        return owner, t[len("零钱通转出-到") :] or None
    return owner, party


def _memo(goods: str | None, note: str | None) -> str | None:
    """商品 without the 转账备注:/收款方备注: label, plus ' | 备注' unless 备注 is a fee note."""
    memo = _MEMO_PREFIX_RE.sub("", goods).strip() if goods else ""
    if note and not _FEE_NOTE_RE.match(note):
        memo = f"{memo} | {note}" if memo else note
    return memo or None


# --------------------------------------------------------------------------- values


def _clean(value: object) -> str | None:
    """A cell (CSV text or XLSX value) as trimmed text; empty and '/' → None.
    Line breaks inside a quoted field become plain LF."""
    if isinstance(value, str):
        if "\r" in value:
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        return clean_cell(value)
    return clean_cell(_cell_text(value))


def _cell_text(value: object) -> str | None:
    """An XLSX cell as text, without float noise; datetimes as 'YYYY-MM-DD HH:MM:SS'."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _amount_text(value: object) -> str | None:
    """'¥1,234.5' / 1234.5 → '1234.50'. Text that is not a plain number is returned
    trimmed but otherwise untouched, so ingest rejects it."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            # repr() is the shortest text that round-trips: 28.16 → '28.16', never 28.1599…
            return str(Decimal(repr(value)).quantize(_CENT, rounding=ROUND_HALF_UP))
        except InvalidOperation:  # nan / inf, or beyond the Decimal context's precision
            return repr(value)
    text = clean_cell(value)
    if text is None:
        return None
    plain = unicodedata.normalize("NFKC", text)
    plain = "".join(plain.split()).replace(",", "").lstrip("¥").removesuffix("元")
    if not _AMOUNT_RE.match(plain):
        return text
    try:
        return str(Decimal(plain).quantize(_CENT))
    except InvalidOperation:  # more digits than a Decimal context holds: ingest rejects the text
        return text


def _ts_text(value: object) -> str | None:
    """'YYYY-MM-DD HH:MM:SS' from a datetime cell or a date text in a common shape
    (2019/9/26 12:45, 2019-09-26T12:45:27); anything else is returned as it is."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = clean_cell(value)
    if text is None:
        return None
    m = _TS_RE.match(text)
    if not m:
        return text
    y, mo, d, h, mi, s = m.groups()
    return f"{y}-{int(mo):02d}-{int(d):02d} {int(h):02d}:{mi}:{s or '00'}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or "no detail"
