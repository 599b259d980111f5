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

Productions reach millions of rows, so the file is streamed: Python reads it in
pieces of CHUNK_BYTES that end at a line end (GBK or UTF-16 decoded to UTF-8 on
the way), pyarrow splits each piece into numbered physical lines, and DuckDB turns
each batch of lines into typed rows in a temporary table, set-wise. What needs all
rows of one 交易单号 (group red packets) is decided in SQL once the whole file is
staged, so rows of one packet far apart in the file are still seen together.
Memory stays flat in the file size: a piece at a time in Python, and DuckDB's
temporary tables spill to disk beyond its memory limit.

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
* match_id is the 大单号 where there is one: for merchant and personal-QR payments it
  is the 交易单号 that the payer's WeChat bill shows (formats.md §3.6).
* Rows keep the 用户ID the file gives them; the `owner` argument only replaces
  `Parsed.owner`.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from queue import Full, Queue
from typing import TYPE_CHECKING

import duckdb

from analyzer.errors import FormatError
from analyzer.formats.base import (
    DAMAGED_REASON,
    FILE_SPAN,
    MOVEMENT_COLUMNS,
    Parsed,
    Reject,
    StagedFile,
    decode_damaged,
    display_path,
    empty_rows,
    mostly_utf8,
)
from analyzer.params import literal

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

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
# A header wider than this is not a TenpayTrades header (the known ones have 26 and 27
# columns): the SQL that reads a row grows with the header, and a file whose line ends
# were lost would give a "header" of thousands of cells.
MAX_COLUMNS = 100
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
    return dict(_roles_of(tuple(headers)))


@lru_cache(maxsize=256)
def _roles_of(headers: tuple[str, ...]) -> dict[str, int]:
    # A production's thousands of files share a header or two: worked out once each
    # (per file it took 1.8 s of a 1M-movement ingest). Callers get a copy.
    roles: dict[str, int] = {}
    for i, h in enumerate(headers):
        k = _key(h)
        for role, pred in _ROLES:
            if pred(k):  # type: ignore[operator]
                roles.setdefault(role, i)
                break
    return roles


def _checked_roles(name: str, headers: list[str]) -> dict[str, int]:
    """_map_columns of a header, or FormatError when it is not a TenpayTrades header."""
    if len(headers) > MAX_COLUMNS:
        raise FormatError(f"{name}: not a TenpayTrades table, its header has {len(headers)} columns (at most {MAX_COLUMNS})")
    roles = _map_columns(headers)
    missing = [label for role, label in _ESSENTIAL.items() if role not in roles]
    if missing:
        raise FormatError(f"{name}: not a TenpayTrades table, the header lacks {', '.join(missing)}")
    return roles


def _header_line(head_text: str) -> list[str]:
    return list(_header_cells(head_text.split("\n", 1)[0].rstrip("\r")))


@lru_cache(maxsize=256)
def _header_cells(line: str) -> tuple[str, ...]:
    cells = [_clean_header(c) for c in line.split("\t")]
    while cells and not cells[-1]:
        cells.pop()
    return tuple(cells)


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
        # Leniently: a damaged byte in the header, or the head cut inside a character.
        text = decode_damaged(head.split(b"\n", 1)[0])[0]
    line = text.split("\n", 1)[0]
    if "\t" not in line:
        return False
    keys = [_key(_clean_header(c)) for c in line.split("\t")]
    joined = "\t".join(keys)
    has_amount = any("交易" in k and "金额" in k for k in keys)
    return "用户ID" in keys and "交易单号" in joined and "借贷类型" in joined and has_amount


# --------------------------------------------------------------------------- reading

# Bytes read at a time. A piece of the file is handed to DuckDB as one batch of lines;
# memory in Python stays a few times this, whatever the file's size.
CHUNK_BYTES = 8 << 20

# The temporary relations one staged file uses (dropped by `drop_staged`).
# Ingest caps DuckDB's memory while such a file loads (ingest.STAGED_MEMORY_LIMIT):
# its batches fill whatever memory the staged tables may use before they spill.
CAP_MEMORY = True
STAGE = "tenpay_stage"  # one row per data line: typed cells, or the reason it is rejected
GROUPS = "tenpay_groups"  # 交易单号 of group red packets (several distinct 出 rows)
ROWS = "tenpay_rows"  # view: movement rows, MOVEMENT_COLUMNS (text)
REJECTS = "tenpay_rejects"  # view: (line, raw, reason)
_MARKED = "tenpay_marked"
_BATCH = "tenpay_batch"
# Lines of files staged together (stage_many) are numbered file_no × FILE_SPAN + line; a
# file staged alone is file 0.

_UTF8_BOM = b"\xef\xbb\xbf"
# UTF-8 bytes of the characters _clean removes or replaces: a piece without any of them
# skips that work.
_INVISIBLE_BYTES = tuple(ch.encode("utf-8") for ch in "\ufeff\u200b\u200c\u200d\u2060\xa0")
# What Python's str.strip() removes (Unicode whitespace: str.isspace), for DuckDB's
# trim(). Written out: working it out over every code point took 0.4 s of each start.
_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
               "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


class _NotThisEncoding(Exception):
    """The file does not decode in the encoding being tried; `piece` is the part that
    did not (the part the choice of another encoding is made on)."""

    def __init__(self, piece: bytes = b""):
        super().__init__()
        self.piece = piece


def _blank(path: Path) -> bool:
    """True when the file holds nothing but ASCII whitespace."""
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            if block.strip():
                return False
    return True


def _pieces(path: Path, codec: str, damaged: bool = False) -> Iterator[bytes]:
    """The file as UTF-8 bytes, in pieces that each end at a line end (the last one may
    not), CRLF made LF. UTF-8 is passed through (checked later, set-wise); GB18030 and
    UTF-16 go through an incremental decoder, so a character split between two reads
    is decoded whole. Raises UnicodeDecodeError when the bytes do not decode, unless
    `damaged`: then every undecodable byte becomes U+FFFD (UTF-8 too is decoded)."""
    if damaged:
        decoder = codecs.getincrementaldecoder("utf-8-sig" if codec == "utf-8" else codec)("replace")
    else:
        decoder = None if codec == "utf-8" else codecs.getincrementaldecoder(codec)()
    carry = b""
    first = True
    cr_only = False
    with open(path, "rb") as fh:
        while True:
            raw = fh.read(CHUNK_BYTES)
            final = not raw
            data = raw if decoder is None else decoder.decode(raw, final).encode("utf-8")
            if first and decoder is None:
                data = data.removeprefix(_UTF8_BOM)  # utf-8-sig
            if first:
                # Lines that end in CR alone (an old Mac editor): no LF in the first read.
                cr_only = b"\n" not in data and b"\r" in data
            first = False
            if cr_only:
                data = data.replace(b"\r", b"\n")
            buf = carry + data if carry else data
            if final:
                if buf:
                    yield buf.replace(b"\r\n", b"\n")
                return
            cut = buf.rfind(b"\n")
            if cut < 0:  # a line longer than a read: keep reading
                carry = buf
                continue
            # The cut is after LF, so a CR LF pair is never split between pieces.
            yield buf[: cut + 1].replace(b"\r\n", b"\n")
            carry = buf[cut + 1 :]


# Anything a cell may need cleaned (padding, CR, '/', invisible characters) or a JSON
# escape for (control characters), in one RE2 pass over a piece; see _variant.
_SPECIAL = r" \t|\t | \n|\n |\r|/\t|/\n|^[ /]|[ /]$|[\x{feff}\x{200b}-\x{200d}\x{2060}\x{a0}]|[\x01-\x08\x0b-\x1f]"
_PAD_TRIGGERS = (b" \t", b"\t ", b" \n", b"\n ", b"\r", b"/\t", b"/\n")
_CONTROLS = bytes(range(1, 9)) + bytes(range(11, 32))


def _variant(whole: pa.Array, piece: bytes) -> tuple[int, bool]:
    """(cleaning, controls) for _batch_sql: what the cells of a piece need cleaned (0
    nothing, 1 padding and '/', 2 also invisible characters) and whether it holds
    control characters. Real productions need neither, and the SQL without is much
    cheaper; one regex pass tells, the finer checks run only when it finds something."""
    import pyarrow.compute as pc

    if not pc.any(pc.match_substring_regex(whole, _SPECIAL)).as_py():
        return 0, False
    controls = len(piece.translate(None, _CONTROLS)) != len(piece)
    if any(b in piece for b in _INVISIBLE_BYTES):
        return 2, controls
    padded = piece.startswith((b" ", b"/")) or piece.endswith((b" ", b"/")) or any(t in piece for t in _PAD_TRIGGERS)
    return int(padded), controls


def _batches(path: Path, codec: str, damaged: bool = False) -> Iterator[tuple[pa.Array, tuple[int, bool, bool, bool]]]:
    """The physical lines of the file, a piece at a time, as Arrow string arrays (split
    by pyarrow, no Python loop), each with its variant for _batch_sql: _variant, whether
    the file was decoded `damaged`, whether the piece held NUL bytes (written as the
    text \\x00, which a DuckDB text can hold). Raises _NotThisEncoding when a UTF-8
    piece is not UTF-8 (unless `damaged`)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    for piece in _pieces(path, codec, damaged):
        nul = b"\x00" in piece
        if nul:
            piece = piece.replace(b"\x00", b"\\x00")
        offsets = pa.py_buffer(np.array([0, len(piece)], dtype=np.int64))
        whole = pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(piece))
        if codec == "utf-8" and not damaged:
            try:
                whole.validate(full=True)
            except pa.ArrowInvalid:
                raise _NotThisEncoding(piece) from None
        lines = pc.split_pattern(whole, "\n").flatten()
        if piece.endswith(b"\n"):  # the split leaves an empty string after the last LF
            lines = lines.slice(0, len(lines) - 1)
        yield lines, (*_variant(whole, piece), damaged, nul)


def _prefetch(items: Iterator, depth: int = 1) -> Iterator:
    """Run an iterator on a thread, `depth` items ahead: the file is read, decoded and
    split while DuckDB types the previous piece (both release the GIL). Exceptions
    reach the consumer; a consumer that stops early stops the thread."""
    done = object()
    queue: Queue = Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, raised there)
            put((done, exc))

    worker = threading.Thread(target=run, name="tenpay-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = queue.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join()


# --------------------------------------------------------------------------- SQL


def _cell(i: int) -> str:
    """The raw text of field i (0-based) of the line, '' where the line is shorter."""
    return f"coalesce(f[{i + 1}], '')"


def _clean_sql(expr: str, clean: int) -> str:
    """SQL of _clean: invisible characters removed, NBSP made a space, padding stripped,
    '/' made '' (NULL). What the piece needs (see _variant): 0 nothing, the cell is
    taken as it is; 1 padding and '/'; 2 also invisible characters."""
    if clean == 0:
        return expr
    if clean == 2:
        expr = f"replace(regexp_replace({expr}, '[\ufeff\u200b\u200c\u200d\u2060]', '', 'g'), chr(160), ' ')"
    return f"nullif(trim({expr}, ' \t\r\n'), '/')"


def _unquote_sql(expr: str) -> str:
    """Undo CSV quoting of a whole cell (`"{""a"":""1""}"` → `{"a":"1"}`)."""
    return (
        f"""CASE WHEN length({expr}) >= 2 AND starts_with({expr}, '"') AND ends_with({expr}, '"') """
        f"""THEN replace(substr({expr}, 2, length({expr}) - 2), '""', '"') ELSE {expr} END"""
    )


def _repr_sql(expr: str) -> str:
    """Python's repr() of a str, for the usual cases (quotes, backslash, TAB, CR)."""
    body = f"replace(replace(replace({expr}, '\\', '\\\\'), chr(9), '\\t'), chr(13), '\\r')"
    return (
        f"""CASE WHEN contains({expr}, '''') AND NOT contains({expr}, '"') THEN '"' || {body} || '"' """
        f"""ELSE '''' || replace({body}, '''', '\\''') || '''' END"""
    )


def _digits_sql(expr: str) -> str:
    """True when the text is a non-empty run of ASCII digits (an integer number of fen)."""
    return f"({expr} <> '' AND ltrim({expr}, '0123456789') = '')"


def _fen_int_sql(expr: str, ok: str) -> str:
    """Integer fen as BIGINT where `ok` (up to 18 digits), else -1. Longer numbers are
    left to ingest's DECIMAL cast, which rejects them."""
    return f"CASE WHEN {ok} AND length({expr}) <= 18 THEN CAST({expr} AS BIGINT) ELSE -1 END"


def _yuan_sql(expr: str, ok: str, fen: str) -> str:
    """Integer fen text → yuan text ('2000' → '20.00', '5' → '0.05', '007' → '0.07');
    NULL where not `ok`. Integer arithmetic where it fits, text operations beyond."""
    digits = f"ltrim({expr}, '0')"
    padded = f"CASE WHEN length({digits}) < 3 THEN lpad({digits}, 3, '0') ELSE {digits} END"
    return (
        f"CASE WHEN {fen} >= 0 THEN CAST({fen} // 100 AS VARCHAR) || '.' || lpad(CAST({fen} % 100 AS VARCHAR), 2, '0') "
        f"WHEN {ok} THEN left({padded}, length({padded}) - 2) || '.' || right({padded}, 2) END"
    )


def _batch_sql(headers: list[str], roles: dict[str, int], clean: int, controls: bool, damaged: bool = False, nul: bool = False) -> str:
    """SELECT turning one batch of numbered lines (relation _BATCH: line, text) into
    rows of the stage table: every line except blank ones and repeated headers, with
    its cells typed, or the reason it is rejected. Everything here is row-local; what
    needs other rows (group packets) is done in `_finish`.

    `clean` (see _clean_sql) and `controls` say whether the batch has cells to clean
    and control characters; without them cheaper SQL gives the same result. `damaged`
    (the file did not decode cleanly) and `nul` (the batch held NUL bytes) reject the
    lines that hold an undecodable byte (U+FFFD) or a NUL (written \\x00). The split
    ends in OFFSET 0, which keeps DuckDB from inlining it into every use of its fields
    (it would otherwise run once per field)."""
    width = len(headers)
    third = [i for i, h in enumerate(headers) if "第三方账户名称" in _key(h)]

    def role(name: str) -> str:
        i = roles.get(name)
        return "''" if i is None else f"coalesce({_clean_sql(_cell(i), clean)}, '')"

    acquirer = f"coalesce({_unquote_sql(_clean_sql(_cell(third[-1]), clean))}, '')" if third else "''"
    keys = _raw_keys(headers)
    pairs = []
    for i, key in enumerate(keys):
        value = _cell(i)
        if i in third:
            value = _unquote_sql(value)
        else:  # a JSON cell that moved to another column in an unknown layout
            value = f"""CASE WHEN starts_with({value}, '"{{') AND ends_with({value}, '}}"') THEN {_unquote_sql(value)} ELSE {value} END"""
        pairs.append(f"{literal(key)}, {value}")
    raw = f"json_object({', '.join(pairs)})::VARCHAR"
    if not controls:
        # A line without quotes, backslashes or control characters needs no JSON
        # escaping and no unquoting: its object is the cells between fixed texts.
        parts = []
        for i, key in enumerate(keys):
            lead = "{" if i == 0 else '",'
            parts += [literal(lead + json.dumps(key, ensure_ascii=False) + ':"'), f"f[{i + 1}]"]  # concat skips NULL
        raw = f"""CASE WHEN contains(text, '"') OR contains(text, '\\') THEN {raw} ELSE concat({', '.join(parts)}, '"}}') END"""
    gift = literal(_GIFT_RE)
    ws = literal(_WHITESPACE)
    broken = " OR ".join([*(["contains(text, chr(65533))"] if damaged else []), *(["contains(text, '\\x00')"] if nul else [])]) or "false"
    return f"""
    WITH split AS (
        SELECT line, text, string_split(text, chr(9)) AS f FROM {_BATCH} WHERE line % {FILE_SPAN} > 1 OFFSET 0
    ),
    cells AS (
        SELECT line, text, len(f) AS nfields,
               {role('uid')} AS uid, {role('txn')} AS txn, {role('big')} AS big, {role('ts')} AS ts,
               {role('drcr')} AS drcr, {role('amount')} AS amount_raw, {role('recv_amount')} AS recv_raw,
               {role('user_name')} AS user_name, {role('peer_id')} AS peer_id, {role('peer_name')} AS peer_name,
               {role('memo1')} AS memo1, {role('memo2')} AS memo2, {role('use')} AS use, {acquirer} AS acquirer,
               -- more fields than the header, and something in the extra ones
               CASE WHEN len(f) <= {width} THEN false
                    WHEN len(f) > {width + _EXTRA_SLACK} THEN true
                    ELSE len(list_filter(f[{width + 1}:], lambda x: trim(x, {ws}) <> '')) > 0 END AS long_row,
               len(f) = 1 AND trim({_cell(0)}, {ws}) = '' AS blank,
               -- every header cell as read (the JSON cell unquoted); kept for rows that load
               {raw} AS raw
        FROM split
    ),
    flagged AS (
        SELECT *,
               CASE drcr WHEN '出' THEN 'out' WHEN '入' THEN 'in' ELSE 'neutral' END AS direction,
               {_digits_sql('amount_raw')} AS amount_ok,
               {_digits_sql('recv_raw')} AS recv_ok
        FROM cells
        -- blank lines and headers repeated inside the file (concatenated productions)
        -- are not data: skipped, not rejected
        WHERE NOT blank AND NOT (uid = {literal(headers[roles["uid"]])} AND txn = {literal(headers[roles["txn"]])})
    ),
    judged AS (
        SELECT *,
               CASE WHEN {broken} THEN {literal(DAMAGED_REASON)}
                    WHEN long_row THEN 'row has ' || nfields || ' fields, the header has {width}'
                    WHEN nfields <= {roles["amount"]} THEN 'row has only ' || nfields || ' of {width} fields, no amount'
                    -- a direction other than 出/入 is not guessed: the row is rejected
                    WHEN drcr = '' THEN '借贷类型 is empty'
                    WHEN drcr NOT IN ('出', '入') THEN 'unknown 借贷类型 value ' || {_repr_sql('drcr')}
                    WHEN amount_raw = '' THEN 'amount is empty'
                    WHEN NOT amount_ok THEN 'amount is not an integer number of fen: ' || {_repr_sql('amount_raw')}
               END AS reason,
               {_fen_int_sql('amount_raw', 'amount_ok')} AS amount_fen,
               {_fen_int_sql('recv_raw', 'recv_ok')} AS recv_fen,
               -- kind, first match wins. 退款 in 备注2 counts only when 备注2 is not a
               -- transfer note typed by the payer (a briber may write "退款" himself).
               CASE
                 WHEN direction = 'in' AND (contains(use, '退款') OR contains(memo1, '退款')
                                            OR (contains(memo2, '退款') AND memo1 <> '微信转账')) THEN 'refund'
                 WHEN memo1 = '微信红包' OR (memo1 <> '微信转账' AND memo2 = '微信红包') THEN 'red_packet'
                 WHEN (contains(memo1, '转账') OR (memo1 = '' AND use = '转账')) AND starts_with(memo2, '扫二维码付款') THEN 'qr_payment'
                 WHEN contains(memo1, '转账') OR (memo1 = '' AND use = '转账') THEN 'transfer'
                 WHEN contains(use, '消费') AND (regexp_matches(memo2, {gift}, 'i') OR regexp_matches(peer_name, {gift}, 'i')
                                               OR regexp_matches(acquirer, {gift}, 'i')) THEN 'gift_card'
                 WHEN contains(use, '消费') THEN 'merchant'
                 WHEN contains(use, '提现') THEN 'withdrawal'
                 ELSE 'other'
               END AS kind,
               -- counterparty: 对手方ID, or the name for indirect (间连) merchants whose ID
               -- is empty; their real merchant is only in the acquirer JSON
               CASE WHEN peer_id <> '' THEN peer_id ELSE peer_name END AS counterparty,
               CASE WHEN peer_id <> '' OR acquirer = '' THEN peer_name
                    ELSE coalesce(nullif(regexp_extract(acquirer, '"fextend_name"\\s*:\\s*"([^"]*)"', 1), ''), peer_name)
               END AS cp_name
        FROM flagged
    )
    SELECT line, uid, user_name, ts, reason, txn, big, direction, amount_raw, peer_id, recv_raw, recv_ok,
           reason IS NULL AND kind = 'red_packet' AND direction = 'out' AND txn <> '' AS red_out,
           recv_fen > 0 AND amount_fen >= 0 AND recv_fen < amount_fen AS lone_share,
           -- the raw line is kept only where a reject may need it
           CASE WHEN reason IS NOT NULL OR NOT recv_ok THEN text END AS text,
           {_yuan_sql('amount_raw', 'amount_ok', 'amount_fen')} AS amount_yuan,
           {_yuan_sql('recv_raw', 'recv_ok', 'recv_fen')} AS recv_yuan,
           kind,
           CASE WHEN kind IN ('red_packet', 'transfer', 'qr_payment') AND direction = 'out' AND recv_fen = 0
                THEN 'returned' ELSE 'success' END AS status,
           CASE direction WHEN 'out' THEN uid WHEN 'in' THEN counterparty END AS payer,
           CASE direction WHEN 'out' THEN counterparty WHEN 'in' THEN uid END AS payee,
           CASE direction WHEN 'out' THEN user_name WHEN 'in' THEN cp_name END AS payer_name,
           CASE direction WHEN 'out' THEN cp_name WHEN 'in' THEN user_name END AS payee_name,
           CASE WHEN memo2 = memo1 OR memo2 IN ('微信红包', '微信转账') THEN '' ELSE memo2 END AS memo,
           CASE WHEN memo1 <> '' OR use <> '' THEN memo1 || '/' || use ELSE '' END AS raw_type,
           CASE WHEN reason IS NULL THEN raw END AS raw
    FROM judged
    """


def _finish(con: duckdb.DuckDBPyConnection) -> None:
    """Group red packets (formats.md §3.5), over the whole staged file: the sender's
    file has one 出 row per grabber under one 交易单号, each repeating the packet total.
    A 交易单号 with more than one distinct such row (exact duplicates count once) is a
    group packet, and so is a lone row whose share is below the total. Each of its rows
    is one movement to one grabber, amount = 对手方接收金额 (the share); a row without a
    usable share is rejected (the total must never stand in for it)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {GROUPS} AS
        SELECT line // {FILE_SPAN} AS file_no, txn FROM {STAGE} WHERE red_out
        GROUP BY ALL HAVING count(DISTINCT (uid, big, ts, amount_raw, peer_id)) > 1
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW {_MARKED} AS
        SELECT *, red_out AND (lone_share OR (line // {FILE_SPAN}, txn) IN (SELECT (file_no, txn) FROM {GROUPS})) AS grp FROM {STAGE}
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW {ROWS} AS
        SELECT line, nullif(txn, '') AS txn_id, nullif(big, '') AS match_id,
               CASE WHEN grp THEN txn END AS packet_id, nullif(ts, '') AS ts,
               nullif(payer, '') AS payer, nullif(payee, '') AS payee,
               nullif(payer_name, '') AS payer_name, nullif(payee_name, '') AS payee_name,
               CASE WHEN grp THEN recv_yuan ELSE amount_yuan END AS amount, direction,
               CASE WHEN grp THEN 'group_red_packet' ELSE kind END AS kind, status, 'tenpay' AS channel,
               nullif(memo, '') AS memo, nullif(raw_type, '') AS raw_type,
               CAST(NULL AS VARCHAR) AS raw_status, CAST(NULL AS VARCHAR) AS refund_ref, raw
        FROM {_MARKED} WHERE reason IS NULL AND NOT (grp AND NOT recv_ok)
        """
    )
    share = literal("group red packet row without the grabber's share (对手方接收金额(分) empty)")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW {REJECTS} AS
        SELECT line, text AS raw, reason FROM {STAGE} WHERE reason IS NOT NULL
        UNION ALL
        SELECT line, text AS raw,
               CASE WHEN recv_raw = '' THEN {share}
                    ELSE '对手方接收金额 is not an integer number of fen: ' || {_repr_sql('recv_raw')} END AS reason
        FROM {_MARKED} WHERE reason IS NULL AND grp AND NOT recv_ok
        """
    )


def drop_staged(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary relations of a staged file."""
    for view in (REJECTS, ROWS, _MARKED):
        con.execute(f"DROP VIEW IF EXISTS {view}")
    for table in (GROUPS, STAGE):
        con.execute(f"DROP TABLE IF EXISTS {table}")


# --------------------------------------------------------------------------- parse


def stage(con: duckdb.DuckDBPyConnection, path: Path, *, owner: str | None = None) -> Parsed:
    """Read a TenpayTrades.txt into temporary relations of `con`: the movement rows in
    the view ROWS (MOVEMENT_COLUMNS, text, as analyzer.formats.base describes them) and
    the rejected lines in the view REJECTS (line, raw, reason). Returns what was read,
    with `rows_table` / `rejects_table` naming them. `drop_staged` removes them.

    Raises FormatError (one line naming the file) when the file is empty or its header
    lacks 用户ID, 交易单号, 借贷类型, 交易时间 or 交易金额(分), and from no other place:
    any other exception is a bug. Rows with more fields than the header, a non-integer
    fen amount, a 借贷类型 other than 出/入, or damaged bytes (a byte that does not
    decode, a NUL) become rejects.
    """
    name = display_path(path)
    try:
        return _stage(con, Path(path), name, owner)
    except BaseException:
        drop_staged(con)
        raise


def parse(path: Path, *, owner: str | None = None) -> Parsed:
    """Read a TenpayTrades.txt into movement rows in a DataFrame (see
    analyzer.formats.base): `stage` in a private in-memory DuckDB, then fetched. For
    files of any size, ingest uses `stage` on the case itself instead."""
    con = duckdb.connect(config={"memory_limit": "1GB", "autoinstall_known_extensions": False})
    try:
        parsed = stage(con, path, owner=owner)
        rows = _frame(con.execute(f"SELECT {', '.join(MOVEMENT_COLUMNS)} FROM {ROWS} ORDER BY line").df())
        rejects = [Reject(line=int(ln), raw=raw or "", reason=reason)
                   for ln, raw, reason in con.execute(f"SELECT * FROM {REJECTS} ORDER BY line").fetchall()]  # fmt: skip
    finally:
        con.close()
    parsed.rows, parsed.rejects = rows, rejects
    parsed.rows_table = parsed.rejects_table = None
    return parsed


def _frame(df: pd.DataFrame) -> pd.DataFrame:
    """The fetched rows in the parser contract's dtypes: `line` int64, text as Python
    str or None (object columns)."""
    if df.empty:
        return empty_rows()
    text = [c for c in MOVEMENT_COLUMNS if c != "line"]
    df[text] = df[text].astype(object).where(df[text].notna(), None)
    df["line"] = df["line"].astype("int64")
    return df


def _stage(con: duckdb.DuckDBPyConnection, path: Path, name: str, owner: str | None) -> Parsed:
    try:
        if _blank(path):
            raise FormatError(f"{name}: the file is empty, not a TenpayTrades table")
        with open(path, "rb") as fh:
            start = fh.read(2)
    except OSError as e:
        raise FormatError(f"{name}: cannot read the file ({e.strerror or e})") from None
    # As base.decode_damaged: UTF-16 when a BOM says so, else UTF-8, else GB18030 (a
    # superset of GBK). A UTF-8 file that turns out not to be is staged again from the
    # start: as GB18030, unless the piece that is not UTF-8 is mostly UTF-8 with a few
    # damaged bytes. A file that does not decode cleanly in the encoding chosen is
    # staged once more, leniently: its damaged lines are rejected, the others load.
    codec = "utf-16" if start in (b"\xff\xfe", b"\xfe\xff") else "utf-8"
    damaged = False
    while True:
        try:
            return _stage_as(con, path, name, owner, codec, damaged)
        except (_NotThisEncoding, UnicodeDecodeError) as e:
            drop_staged(con)
            if damaged:  # a lenient decoding raises neither
                raise
            if codec == "utf-8" and isinstance(e, _NotThisEncoding) and not mostly_utf8(e.piece.decode("utf-8", "replace")):
                codec = "gb18030"
            else:
                damaged = True
        except OSError as e:
            raise FormatError(f"{name}: cannot read the file ({e.strerror or e})") from None


_LABELS = {"utf-8": "utf-8", "gb18030": "gbk", "utf-16": "utf-16"}


def _stage_as(con, path: Path, name: str, owner: str | None, codec: str, damaged: bool) -> Parsed:
    import numpy as np
    import pyarrow as pa

    label = _LABELS[codec] + (" (damaged)" if damaged else "")
    drop_staged(con)
    headers: list[str] = []
    roles: dict[str, int] = {}
    statements: dict[tuple, str] = {}
    created = False
    next_line = 1
    for lines, variant in _prefetch(_batches(path, codec, damaged)):
        if not created and next_line == 1:  # the first piece: line 1 is the header
            headers = _header_line(lines[0].as_py() if len(lines) else "")
            roles = _checked_roles(name, headers)
        numbers = pa.array(np.arange(next_line, next_line + len(lines), dtype=np.int64))
        next_line += len(lines)
        if variant not in statements:
            statements[variant] = _batch_sql(headers, roles, *variant)
        con.register(_BATCH, pa.table({"line": numbers, "text": lines}))
        try:
            into = f"INSERT INTO {STAGE} " if created else f"CREATE TEMP TABLE {STAGE} AS "
            con.execute(into + statements[variant])
            created = True
        finally:
            con.unregister(_BATCH)
    if not created:
        raise FormatError(f"{name}: the file is empty, not a TenpayTrades table")
    _finish(con)

    width = len(headers)
    if tuple(headers) == HEADER_27:
        fmt = "tenpay_27"
    elif tuple(headers) == HEADER_26:
        fmt = "tenpay_26"
    else:
        fmt = f"tenpay_{width}"
    rows_read = con.execute(f"SELECT count(*) FROM {STAGE}").fetchone()[0]
    file_owner, owner_name = _owner(con, path)
    return Parsed(
        format=fmt,
        owner=owner if owner is not None else file_owner,
        rows=None,
        rows_read=rows_read,
        owner_name=owner_name,
        encoding=label,
        rows_table=ROWS,
        rejects_table=REJECTS,
    )


def _owner(con, path: Path) -> tuple[str | None, str | None]:
    """The file's 用户ID (most frequent if rows disagree, the first seen on a tie; the
    account folder for a header-only file) and its latest 用户侧账号名称."""
    found = con.execute(
        f"SELECT uid FROM {STAGE} WHERE uid <> '' GROUP BY uid ORDER BY count(*) DESC, min(line) LIMIT 1"
    ).fetchall()
    if not found:
        folder = display_path(Path(path).parent.name) if Path(path).parent.name else ""
        return (folder or None), None
    owner = found[0][0]
    # The last row of the latest timestamp wins (names change over time).
    name = con.execute(
        f"SELECT user_name FROM {STAGE} WHERE uid = ? AND user_name <> '' ORDER BY ts DESC, line DESC LIMIT 1", [owner]
    ).fetchall()
    return owner, (name[0][0] if name else None)


# --------------------------------------------------------------------------- many files


# A production is thousands of files of a few hundred rows each: files up to this size
# are staged many at a time (one DuckDB statement per BATCH_BYTES of lines, not a dozen
# per file); larger ones stream through `stage` alone. A statement over fewer lines
# than a DuckDB row group (122,880) runs on one thread: at 8 MiB (about 40,000 lines)
# staging 1,000 files took 4.0 s, at 64 MiB 2.8 s.
SMALL_FILE_BYTES = 32 << 20
BATCH_BYTES = 64 << 20


def _read_small(path: Path, name: str) -> tuple[bytes, str, str, int, tuple[bool, bool]]:
    """(the text as UTF-8 bytes with LF line ends, encoding label, sha256, size,
    (damaged, nul)) of a small file, decoded as `_stage` would: UTF-16 by BOM, else
    UTF-8, else GB18030, leniently when the bytes do not decode (base.decode_damaged);
    NUL bytes written as the text \\x00 (see _batches)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise FormatError(f"{name}: cannot read the file ({e.strerror or e})") from None
    sha, size = hashlib.sha256(data).hexdigest(), len(data)
    if not data.strip():
        raise FormatError(f"{name}: the file is empty, not a TenpayTrades table")
    if data[:2] not in (b"\xff\xfe", b"\xfe\xff") and _is_utf8(data):
        text, label, damaged = data.removeprefix(_UTF8_BOM), "utf-8", False  # as it is: no decoding
    else:
        decoded, label, damaged = decode_damaged(data)
        text = decoded.encode("utf-8")
    nul = b"\x00" in text
    if nul:
        text = text.replace(b"\x00", b"\\x00")
    if b"\n" not in text:  # lines that end in CR alone (as _pieces reads them)
        text = text.replace(b"\r", b"\n")
    return text.replace(b"\r\n", b"\n"), label, sha, size, (damaged, nul)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _split_lines(con: duckdb.DuckDBPyConnection, file_nos: list[int], texts: pa.Array) -> None:
    """The table _BATCH (line, text) of the physical lines of whole files: `texts` the
    files' text (UTF-8, LF line ends), numbered file_no × FILE_SPAN + line. The split is
    DuckDB's, in one statement: handing DuckDB the lines as an Arrow table made it
    convert every line, which took longer than typing them. An LF at the end of a file
    ends its last line (no empty line after it), as pyarrow's split in `_batches`."""
    import pyarrow as pa

    docs = pa.table({"file_no": pa.array(file_nos, pa.int64()), "content": texts})
    con.register("tenpay_docs", docs)
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {_BATCH} AS
            SELECT file_no * {FILE_SPAN} + unnest(range(1, n + 1)) AS line, unnest(l[1:n]) AS text
            FROM (SELECT file_no, l, len(l) - CASE WHEN ends_with(content, chr(10)) THEN 1 ELSE 0 END AS n
                  FROM (SELECT file_no, content, string_split(content, chr(10)) AS l FROM tenpay_docs))
            """
        )
    finally:
        con.unregister("tenpay_docs")


def stage_many(con: duckdb.DuckDBPyConnection, paths: list[Path], *, owner: str | None = None) -> list[StagedFile]:
    """Stage many small TenpayTrades.txt files together into the relations `stage`
    makes (ROWS, REJECTS), their lines numbered file_no × FILE_SPAN + line, file_no
    being the position in `paths`. Returns one StagedFile per path: its Parsed (rows
    and rejects in the shared relations), or the one-line error that kept it out.
    A file's rows are decided from its own lines only, as `stage` would."""
    import numpy as np
    import pyarrow as pa

    drop_staged(con)
    files = [StagedFile(Path(p), i) for i, p in enumerate(paths)]
    groups: dict[tuple, list] = {}  # (header, variant) → [(file_no, text)]
    headers_of: dict[int, tuple[list[str], dict[str, int], str]] = {}
    for f in files:
        name = display_path(f.path)
        try:
            text, label, f.sha256, f.size, broken = _read_small(f.path, name)
            offsets = pa.py_buffer(np.array([0, len(text)], dtype=np.int64))
            whole = pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(text))
            headers = _header_line(text.split(b"\n", 1)[0].decode("utf-8"))
            roles = _checked_roles(name, headers)
        except FormatError as e:
            f.error = str(e)
            continue
        headers_of[f.file_no] = (headers, roles, label)
        groups.setdefault((tuple(headers), (*_variant(whole, text), *broken)), []).append((f.file_no, whole))

    created = False
    for (headers, variant), members in groups.items():
        sql = _batch_sql(list(headers), headers_of[members[0][0]][1], *variant)
        pending: list[tuple[int, pa.Array]] = []
        size = 0

        def flush() -> None:
            nonlocal created, pending, size
            if not pending:
                return
            _split_lines(con, [n for n, _ in pending], pa.concat_arrays([w for _, w in pending]))
            into = f"INSERT INTO {STAGE} " if created else f"CREATE TEMP TABLE {STAGE} AS "
            con.execute(into + sql)
            created = True
            pending, size = [], 0

        for file_no, whole in members:
            pending.append((file_no, whole))
            size += whole.nbytes
            if size >= BATCH_BYTES:
                flush()
        flush()
    con.execute(f"DROP TABLE IF EXISTS {_BATCH}")
    if not created:
        return files
    _finish(con)

    counts = dict(con.execute(f"SELECT line // {FILE_SPAN}, count(*) FROM {STAGE} GROUP BY ALL").fetchall())
    owners = {
        r[0]: (r[1], r[2])
        for r in con.execute(
            f"""
            WITH uids AS (
                SELECT file_no, arg_max(uid, (n, -first)) AS uid FROM (
                    SELECT line // {FILE_SPAN} AS file_no, uid, count(*) AS n, min(line) AS first
                    FROM {STAGE} WHERE uid <> '' GROUP BY line // {FILE_SPAN}, uid
                ) GROUP BY file_no
            )
            SELECT u.file_no, u.uid, arg_max(s.user_name, (s.ts, s.line)) FILTER (WHERE s.user_name <> '')
            FROM uids u JOIN {STAGE} s ON s.line // {FILE_SPAN} = u.file_no AND s.uid = u.uid
            GROUP BY ALL
            """
        ).fetchall()
    }
    for f in files:
        if f.error is not None:
            continue
        headers, _, label = headers_of[f.file_no]
        file_owner, owner_name = owners.get(f.file_no, (None, None))
        if file_owner is None:
            file_owner = display_path(f.path.parent.name) if f.path.parent.name else None
        fmt = "tenpay_27" if tuple(headers) == HEADER_27 else "tenpay_26" if tuple(headers) == HEADER_26 else f"tenpay_{len(headers)}"
        f.parsed = Parsed(
            format=fmt, owner=owner if owner is not None else file_owner, rows=None, rows_read=counts.get(f.file_no, 0),
            owner_name=owner_name, encoding=label, rows_table=ROWS, rejects_table=REJECTS,
        )
    return files
