"""The contract between export parsers and ingest: one protocol for every layout.

Each export layout has one module in this package with

    sniff(path: Path, head: bytes) -> bool
        True when the file looks like this layout. `head` is the first 64 KiB of
        the file (raw bytes); cheap, no full parse.

    stage(con, path, *, owner: str | None = None) -> Parsed
        Reads the file into temporary relations of the DuckDB connection `con`:
        `Parsed.rows_table`, one row per movement row of the file (`line` and the
        other MOVEMENT_COLUMNS, as text, NULL for empty), and `Parsed.rejects_table`
        (line, raw, reason) for the lines it could not take apart. `owner` overrides
        the account holder that the file names (CLI `--owner`). Raises
        analyzer.errors.FormatError with a one-line message when the file's structure
        cannot be read at all; bad *rows* are not errors.

    drop_staged(con)
        Drops those relations.

Ingest calls nothing else (analyzer/ingest/parse.py, stage.py): it types `ts` and
`amount` in DuckDB, set-wise (a row whose time or amount does not convert, or whose
amount is not an unsigned number of yuan with at most two decimals, is rejected with
the reason), checks kinds, statuses and directions, and stores the rows as sightings.

How a module fills the relations is its own affair: Tenpay streams the file through
DuckDB (a production file can be millions of rows), canonical CSV/Parquet is read by
DuckDB's own reader, and the bill layouts (WeChat, Alipay) read the file in Python
with `parse(path, *, owner=None) -> Parsed` (rows as a DataFrame) and hand the frame
over with `stage_frame`.
"""

from __future__ import annotations

import json
import os
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where frames are built: the canonical path never needs it
    import pandas as pd


# Every parser returns a DataFrame with exactly these columns. All are text
# (Python str or None) except `line`, an int.
MOVEMENT_COLUMNS: tuple[str, ...] = (
    "line",  # 1-based physical line in the file (CSV/TXT) or sheet row (XLSX)
    "txn_id",  # the export's own id (交易单号 / 交易订单号 / 交易号), trailing TAB stripped; None if absent or "/"
    "match_id",  # an id the *other party's* export of the same movement also carries (WeChat 商户单号, Tenpay 交易单号); None if unknown
    "packet_id",  # ties together the rows of one group red packet; None for everything else
    "ts",  # 'YYYY-MM-DD HH:MM:SS', China local time as exported
    "payer",  # account that paid (an id, nickname or merchant name as the export shows it); None if unknown
    "payee",  # account that received; None if unknown (e.g. a group red packet seen from the sender's bill)
    "payer_name",  # real/display name of the payer when the export gives one beside the id
    "payee_name",  # real/display name of the payee when the export gives one beside the id
    "amount",  # unsigned yuan as decimal text, e.g. '28.16' ('¥', ',', spaces removed; fen converted)
    "direction",  # 'out' | 'in' | 'neutral': seen from the file owner's side
    "kind",  # one of KINDS
    "status",  # one of STATUSES
    "channel",  # one of CHANNELS
    "memo",  # 备注 / greeting / 商品 / transfer note; None if empty or "/"
    "raw_type",  # the type text exactly as exported (交易类型, 交易分类, 备注1/交易用途类型 ...)
    "raw_status",  # the status text exactly as exported
    "refund_ref",  # for a refund row: txn_id or match_id of the original movement when the layout tells it
    "raw",  # JSON object {column header: cell text} of the original row: nothing is lost
)

KINDS = (
    "red_packet",
    "group_red_packet",
    "transfer",
    "qr_payment",
    "merchant",
    "gift_card",
    "refund",
    "withdrawal",
    "other",
)
STATUSES = (
    "success",
    "refunded",  # fully refunded / 已全额退款
    "partly_refunded",  # 已退款(￥x) / 已退… with a remainder kept
    "returned",  # transfer given back / 对方已退还 / expired
    "pending",  # waiting for the other side
    "failed",
    "closed",  # 交易关闭
    "other",
)
CHANNELS = ("wechat", "alipay", "tenpay", "bank", "other")
DIRECTIONS = ("out", "in", "neutral")


@dataclass
class Reject:
    """A row that could not be loaded: where it was, what it said, and why."""

    line: int
    raw: str
    reason: str


@dataclass
class Parsed:
    """What a parser read from one file."""

    format: str  # layout id, e.g. "wechat_csv", "wechat_xlsx", "alipay_app_2023", "tenpay_27"
    owner: str | None  # account holder's id as the file names it (nickname, Alipay account, 用户ID)
    # columns MOVEMENT_COLUMNS, as a DataFrame (`parse`) or as records (dicts, as a bill's
    # parser reads them for `stage`); None when staged in DuckDB
    rows: pd.DataFrame | list[dict] | None
    rejects: list[Reject] = field(default_factory=list)
    rows_read: int = 0  # data rows seen = len(rows) + len(rejects)
    owner_name: str | None = None  # real name of the holder when the file gives one
    period_start: str | None = None  # export period from the preamble, as text
    period_end: str | None = None
    encoding: str | None = None  # how the file's text was decoded (utf-8, gbk ...), for `sources`
    # A staging parser (see the module docstring) leaves `rows` None and `rejects` empty:
    # they are in these DuckDB relations of the connection it was given.
    rows_table: str | None = None  # MOVEMENT_COLUMNS, one row per movement
    rejects_table: str | None = None  # (line, raw, reason)
    header: list[str] | None = None  # a staged file's column names, when its table names them by position


def empty_rows() -> pd.DataFrame:
    """An empty movements frame with the right columns."""
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "line" else "object") for c in MOVEMENT_COLUMNS})


def frame(records: list[dict]) -> pd.DataFrame:
    """Build a movements frame from dicts; missing keys become None."""
    import pandas as pd

    if not records:
        return empty_rows()
    df = pd.DataFrame.from_records(records)
    for c in MOVEMENT_COLUMNS:
        if c not in df.columns:
            df[c] = None
    df = df[list(MOVEMENT_COLUMNS)]
    # pandas 3 infers its `str` dtype with NaN for missing cells; the contract is
    # Python str or None, so keep plain objects.
    text = [c for c in MOVEMENT_COLUMNS if c != "line"]
    df[text] = df[text].astype(object).where(df[text].notna(), None)
    df["line"] = df["line"].astype("int64")
    return df


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode export bytes: UTF-8 (with or without BOM), else GB18030 (a superset of GBK),
    else UTF-16 when a BOM says so. Returns (text, encoding name).

    Raises UnicodeDecodeError when none fits.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    return data.decode("gb18030"), "gbk"


# A damaged file (a byte that does not decode, a NUL) loses only its damaged lines: they
# are rejected with this reason, the others load (see decode_damaged, damaged_line).
DAMAGED_REASON = "undecodable bytes or NUL in the line"
REPLACEMENT = "\ufffd"  # what an undecodable byte becomes


def decode_damaged(data: bytes) -> tuple[str, str, bool]:
    """Decode export bytes as decode_bytes does; when they do not decode (a damaged
    byte, a file cut inside a character), decode them leniently instead, each
    undecodable byte a U+FFFD, in the encoding the bytes mostly are (mostly_utf8), so
    that the damaged lines can be rejected and the rest load. Returns (text, encoding
    name, damaged); the name of a damaged file's encoding ends in " (damaged)".

    UTF-8 is judged before GB18030 is tried: UTF-8 text with a bad byte often decodes
    as valid (and wrong) GB18030."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", False
        except UnicodeDecodeError:
            return data.decode("utf-16", "replace"), "utf-16 (damaged)", True
    try:
        return data.decode("utf-8-sig"), "utf-8", False
    except UnicodeDecodeError:
        pass
    as_utf8 = data.decode("utf-8-sig", "replace")
    if mostly_utf8(as_utf8):
        return as_utf8, "utf-8 (damaged)", True
    try:
        return data.decode("gb18030"), "gbk", False
    except UnicodeDecodeError:
        return data.decode("gb18030", "replace"), "gbk (damaged)", True


def mostly_utf8(text: str) -> bool:
    """Whether bytes decoded as UTF-8 with errors replaced (`text`) are UTF-8 with a few
    damaged bytes rather than text in another encoding: the valid non-ASCII characters
    outnumber the replaced bytes. GBK read as UTF-8 is mostly replacement characters."""
    bad = text.count(REPLACEMENT)
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return non_ascii - bad > bad


def damaged_line(text: str, damaged: bool) -> bool:
    """A line to reject as damaged: it holds a NUL, or (in a file that did not decode
    cleanly) an undecodable byte."""
    return "\x00" in text or (damaged and REPLACEMENT in text)


def clean_cell(value: object) -> str | None:
    """Trim a cell: spaces, TABs (WeChat and Alipay pad ids with a TAB), NBSP, zero-width
    characters and BOMs. Empty, "/" and "-" become None."""
    if value is None:
        return None
    s = str(value)
    s = s.replace("\ufeff", "").replace("\u200b", "").replace("\xa0", " ").strip(" \t\r\n")
    if s in ("", "/"):
        return None
    return s


def normalize_account(value: str | None) -> str | None:
    """The form under which account names are compared: NFKC (full-width to half-width),
    no whitespace at all, case kept. None stays None."""
    if value is None:
        return None
    s = unicodedata.normalize("NFKC", value)
    s = "".join(s.split())
    return s or None


def raw_json(headers: list[str], cells: list[object]) -> str:
    """The original row as a JSON object, headers to cell text, for provenance."""
    out = {}
    for i, h in enumerate(headers):
        key = h if h not in out else f"{h}#{i + 1}"  # duplicated headers (Tenpay) keep both
        out[key] = "" if i >= len(cells) or cells[i] is None else str(cells[i])
    for j in range(len(headers), len(cells)):
        out[f"#{j + 1}"] = "" if cells[j] is None else str(cells[j])
    return json.dumps(out, ensure_ascii=False)


@lru_cache(maxsize=4096)  # a production's thousands of paths share their folders
def _readable(part: str) -> str:
    """One path component: undo surrogate escapes, decode as UTF-8, else GBK."""
    data = part.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", "replace")


def display_path(path: Path | str | bytes) -> str:
    """The path as a person can read it.

    Productions extracted on Chinese Windows have GBK-encoded folder names
    (`财付通_…`); on Linux os.walk/Path hand them over as surrogate-escaped str.
    Each component is turned back into its bytes and decoded as UTF-8, else GBK.
    """
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if isinstance(path, Path):
        text = str(path)
        try:
            text.encode("utf-8")  # no surrogate escapes: readable as it is (most paths;
            return text           # a production's thousands cost seconds parsed again)
        except UnicodeEncodeError:
            pass
    p = Path(path)
    parts = [_readable(part) for part in p.parts]
    if not parts:
        return str(p)
    return os.path.join(*parts)  # as str(Path(*parts)): the parts are already a path's


# Lines of files staged together (a batch) are numbered file_no × FILE_SPAN + line.
FILE_SPAN = 10**9


@dataclass
class StagedFile:
    """One file of a batch staged together: what was read, or why it could not be."""

    path: Path
    file_no: int
    sha256: str = ""
    size: int = 0
    parsed: Parsed | None = None
    error: str | None = None


FRAME_ROWS = "parsed_rows"  # stage_frame's relations
FRAME_REJECTS = "parsed_rejects"
_RECORDS = "parsed_records"


def stage_frame(con, parsed: Parsed, name: str) -> Parsed:
    """Hand a parser's rows (records or a DataFrame) over as the protocol's relations
    (the bill layouts).
    A bill that does not name its account holder cannot say which side its rows are
    on: refused unless `--owner` names it."""
    if parsed.owner is None and parsed.rows is not None and len(parsed.rows):
        from analyzer.errors import FormatError

        raise FormatError(f"{name}: the file does not name its account holder; pass --owner NAME")
    drop_frame(con)
    text = ",\n".join(f"nullif(trim(CAST({c} AS VARCHAR)), '') AS {c}" for c in MOVEMENT_COLUMNS if c != "line")
    if parsed.rows is None or isinstance(parsed.rows, list):
        # Records go in as SQL values (bound by rpa, Arrow for many rows): handing DuckDB
        # any Python object makes it import pandas, half a second of every bill's ingest.
        records = parsed.rows or []
        count = len(records)
        columns = ", ".join(f"{c} {'BIGINT' if c == 'line' else 'VARCHAR'}" for c in MOVEMENT_COLUMNS)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_RECORDS} ({columns})")
        try:
            if records:
                con.executemany(f"INSERT INTO {_RECORDS} VALUES ({', '.join('?' * len(MOVEMENT_COLUMNS))})",
                                [tuple(r["line"] if c == "line" else _text(r.get(c)) for c in MOVEMENT_COLUMNS) for r in records])
            con.execute(f"CREATE TEMP TABLE {FRAME_ROWS} AS SELECT line, {text} FROM {_RECORDS}")
        finally:
            con.execute(f"DROP TABLE IF EXISTS {_RECORDS}")
    else:
        rows = parsed.rows[list(MOVEMENT_COLUMNS)]
        count = len(rows)
        con.register("rpa_parsed_frame", rows)
        try:
            con.execute(f"CREATE TEMP TABLE {FRAME_ROWS} AS SELECT CAST(line AS BIGINT) AS line, {text} FROM rpa_parsed_frame")
        finally:
            con.unregister("rpa_parsed_frame")
    con.execute(f"CREATE TEMP TABLE {FRAME_REJECTS} (line BIGINT, raw VARCHAR, reason VARCHAR)")
    if parsed.rejects:
        con.executemany(f"INSERT INTO {FRAME_REJECTS} VALUES (?, ?, ?)",
                        [(r.line, _no_nul(r.raw), _no_nul(r.reason)) for r in parsed.rejects])
    parsed.rows_read = parsed.rows_read or (count + len(parsed.rejects))
    parsed.rows, parsed.rejects = None, []
    parsed.rows_table, parsed.rejects_table = FRAME_ROWS, FRAME_REJECTS
    return parsed


def drop_frame(con) -> None:
    """Drop stage_frame's relations."""
    for table in (FRAME_ROWS, FRAME_REJECTS):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _text(value: object) -> str | None:
    """A record's cell as text for DuckDB (NUL bytes written as \\x00)."""
    return None if value is None else _no_nul(value if isinstance(value, str) else str(value))


def _no_nul(text: str | None) -> str | None:
    """NUL bytes (a damaged file can hold them; a DuckDB text cannot) written as \\x00."""
    return None if text is None else text.replace("\x00", "\\x00")
