"""Fuzzing every export layout: real samples damaged at random, through the path ingest
uses, counting which inputs load, which are refused (FormatError: one clear line) and
which crash (any other exception: a bug).

    python benchmarks/fuzz_formats.py --per-format 10000
    python benchmarks/fuzz_formats.py --per-format 200 --format alipay --seed 7

Seeds: the real samples in ../shared/formats (WeChat CSV/XLSX, Alipay CSV) and the
project's fixtures (tests/fixtures/formats, tests/fixtures/tenpay, sample_data's Tenpay
and canonical files; a Parquet copy of a canonical file). Each input is one seed with
one to three mutations, drawn by a seeded random generator (the same run gives the same
inputs): bytes flipped, the file cut, undecodable bytes inserted (lone GBK lead bytes,
cut UTF-8 sequences), NUL bytes and other nasty texts (formulas, HTML, quotes, TABs),
lines repeated, dropped or swapped, two cells of a line swapped, a cell replaced by an
odd value or by a 200 KB text, a BOM added or taken away, the text re-encoded (UTF-8 ↔
GBK), line ends changed. An XLSX seed is mutated inside its zip (the sheet and shared
strings, then zipped again) half of the time, else as bytes. Inputs are distinct (by
SHA-256).

Each input goes through, in process:
  1. detect() on the file's first 64 KiB, as `rpa ingest` does (a sniff that crashes is
     a crash; whether the damaged file is still detected as its layout is counted);
  2. ingest_file() with the layout named (`--format`), into a real case database: the
     parser, the typing in DuckDB, the checks, the sources row, the audit entry, in one
     transaction. Tenpay inputs go half through ingest_file (stage) and half ten at a time
     through the production path (stage_many);
  3. every 500 inputs, and at the end, the movements are derived (consolidate) and the
     case is checked: every row a loaded file read is a sighting or a rejected line.
A crash is any exception other than a FormatError refusal, a result that rpa reports as
a bug, or a broken check. The first few are printed with their tracebacks and the input
is kept in --keep (default: a temporary folder).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import re
import sys
import tempfile
import time
import traceback
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "formats"
FIXTURES = ROOT / "tests" / "fixtures"
FORMATS = ("wechat", "alipay", "tenpay", "canonical")
BLOCK = 500  # inputs per case database (then derived, checked and replaced)


# --------------------------------------------------------------------------- seeds


def seeds(fmt: str, work: Path) -> list[tuple[str, bytes]]:
    """(file name, bytes) of the seed files of a layout, distinct by content."""
    paths: list[Path] = []
    if fmt in ("wechat", "alipay"):
        folder = f"{fmt}_bill"
        for base in (SHARED / folder, FIXTURES / "formats" / folder):
            if base.is_dir():
                paths += sorted(p for p in base.rglob("*") if p.suffix in (".csv", ".xlsx") and p.is_file())
    elif fmt == "tenpay":
        paths += sorted((FIXTURES / "tenpay").glob("*.txt"))
        paths += sorted(p for p in (ROOT / "sample_data" / "tenpay").rglob("TenpayTrades.txt"))[:2]
    else:
        paths += sorted((ROOT / "sample_data" / "canonical").glob("*.csv"))[:3]
        parquet = work / "seed.parquet"
        if paths and not parquet.exists():
            import duckdb

            duckdb.connect().execute(f"COPY (SELECT * FROM read_csv('{paths[0]}', all_varchar = true)) TO '{parquet}' (FORMAT parquet)")
        paths.append(parquet)
    out, seen = [], set()
    for p in paths:
        data = p.read_bytes()
        digest = hashlib.sha256(data).digest()
        if digest not in seen:
            seen.add(digest)
            out.append(("TenpayTrades.txt" if fmt == "tenpay" else f"seed{len(out)}{p.suffix}", data))
    return out


# --------------------------------------------------------------------------- mutations

NASTY = [
    b"\x00", b"\x00\x00\x00", b"=cmd|' /C calc'!A0", b"+SUM(A1:A9)", b"@HYPERLINK(\"x\")", b"-2+3",
    "<img src=x onerror=alert(1)>".encode(), "\u202e反转".encode(), b'"', b'""', b'"\n"', b",,,,,,", b"\t\t\t",
    b"\r", b"\n\n", b"\\", b"\\x00", "¥-1.00".encode(), "￥1,234.56".encode(), b"99999999999999999999.99",
    b"2026-13-45 25:61:61", "微信红包（群红包）".encode(), "微信红包（群红包）".encode("gbk"), "不计收支".encode("gbk"),
    "交易时间,交易类型,交易对方".encode(), "用户ID\t交易单号\t借贷类型\t交易金额(分)".encode(), b"\x1a", b"\x7f", b"\x1b[31m",
]
BAD_BYTES = [b"\xff", b"\xfe", b"\x80", b"\x81", b"\xc0", b"\xe4\xb8", b"\xe4", b"\xa1", b"\xf8\x88\x80\x80\x80", b"\xed\xa0\x80"]
ODD_VALUES = [
    "", " ", "/", "-", "0", "-0.01", "0.001", "1e400", "NaN", "inf", "1,000.00", "¥", "9" * 40, "2026-02-30 10:00:00",
    "2026/2/3 4:05", "0000-00-00 00:00:00", "收入", "支出", "出", "入", "转入", "其他", "不计收支", "已全额退款", "发出群红包",
    "发给", "微信红包-退款", "退款-", "=1+1", "'", '"', "\t", "中文" * 3, "🧧", "\u200b", "\ufeff", "NULL", "None",
]
BOMS = [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _delimiter(line: bytes) -> bytes:
    return b"\t" if line.count(b"\t") > line.count(b",") else b","


def _encode_like(text: str, data: bytes) -> bytes:
    """A text in the encoding the file seems to use."""
    try:
        data.decode("utf-8")
        return text.encode("utf-8")
    except UnicodeDecodeError:
        return text.encode("gb18030")


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One mutation of a text file's bytes."""
    kind = rng.choice(["flip", "truncate", "insert_bad", "insert_nasty", "dup_line", "drop_line", "swap_lines",
                       "swap_cells", "odd_value", "huge_cell", "bom", "recode", "line_ends", "blank"])
    n = len(data)
    if kind == "flip" and n:
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(n)] = rng.randrange(256)
        return bytes(out)
    if kind == "truncate":
        return data[: rng.randint(0, n)]
    if kind in ("insert_bad", "insert_nasty"):
        at = rng.randint(0, n)
        return data[:at] + rng.choice(BAD_BYTES if kind == "insert_bad" else NASTY) + data[at:]
    if kind == "bom":
        for bom in BOMS:
            if data.startswith(bom):
                return data[len(bom):]
        return rng.choice(BOMS) + data
    if kind == "recode":
        try:
            return data.decode("utf-8-sig").encode("gb18030")
        except UnicodeDecodeError:
            try:
                return data.decode("gb18030").encode("utf-8")
            except UnicodeDecodeError:
                return data.decode("latin-1").encode("utf-8")
    if kind == "line_ends":
        return rng.choice([data.replace(b"\r\n", b"\n"), data.replace(b"\n", b"\r\n"), data.replace(b"\n", b"\r")])
    if kind == "blank":
        return rng.choice([b"", b" ", b"\n\n\n", b"\xef\xbb\xbf"])
    lines = _lines(data)
    i = rng.randrange(len(lines))
    if kind == "dup_line":
        lines[i:i] = [lines[i]] * rng.randint(1, 3)
    elif kind == "drop_line":
        del lines[i]
    elif kind == "swap_lines":
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    else:  # a cell of line i: swapped with another, an odd value, a huge text
        d = _delimiter(lines[i])
        cells = lines[i].split(d)
        a = rng.randrange(len(cells))
        if kind == "swap_cells":
            b = rng.randrange(len(cells))
            cells[a], cells[b] = cells[b], cells[a]
        elif kind == "odd_value":
            cells[a] = _encode_like(rng.choice(ODD_VALUES), data)
        else:
            cells[a] = _encode_like(rng.choice("备A\"") * rng.choice([70_000, 200_000]), data)
        lines[i] = d.join(cells)
    return b"\n".join(lines)


def mutate_xlsx(data: bytes, rng: random.Random) -> bytes:
    """Mutate the text inside a workbook (sheets, shared strings) and zip it again."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            parts = {name: zf.read(name) for name in zf.namelist()}
    except Exception:  # noqa: BLE001 (an earlier mutation broke the zip: mutate its bytes)
        return mutate_bytes(data, rng)
    targets = [n for n in parts if n == "xl/sharedStrings.xml" or n.startswith("xl/worksheets/")]
    if not targets:
        return mutate_bytes(data, rng)
    name = rng.choice(targets)
    xml = parts[name]
    kind = rng.choice(["bytes", "drop_row", "dup_row", "value"])
    if kind == "bytes":
        xml = mutate_bytes(xml, rng)
    else:
        tag = b"<row" if b"<row" in xml else b"<si>"
        starts = [k for k in range(len(xml)) if xml.startswith(tag, k)][:400]
        if starts:
            a = rng.choice(starts)
            close = b"</row>" if tag == b"<row" else b"</si>"
            b = xml.find(close, a)
            if b > a:
                b += len(close)
                piece = xml[a:b]
                if kind == "drop_row":
                    xml = xml[:a] + xml[b:]
                elif kind == "dup_row":
                    xml = xml[:b] + piece + xml[b:]
                else:  # a text node's content replaced by an odd value
                    t = piece.find(b"<t")
                    t_end = piece.find(b"</t>", t)
                    if t >= 0 and t_end > t:
                        gt = piece.find(b">", t) + 1
                        value = rng.choice(ODD_VALUES).replace("&", "&amp;").replace("<", "&lt;").encode()
                        xml = xml[:a] + piece[:gt] + value + piece[t_end:] + xml[b:]
    parts[name] = xml
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, content in parts.items():
            # a fixed time in the zip's headers: the same run gives the same bytes
            zf.writestr(zipfile.ZipInfo(n, date_time=(2026, 1, 1, 0, 0, 0)), content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def mutate(name: str, data: bytes, rng: random.Random) -> bytes:
    """One to three mutations of a seed."""
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if name.endswith(".xlsx") and rng.random() < 0.5:
            data = mutate_xlsx(data, rng)
        else:
            data = mutate_bytes(data, rng)
    return data


# --------------------------------------------------------------------------- running


@dataclass
class Counts:
    inputs: int = 0
    loaded: int = 0
    refused: int = 0
    crashed: int = 0
    detected: int = 0  # detect() named the seed's own layout
    rows: int = 0  # sightings of the loaded inputs
    rejected: int = 0  # rejected lines of the loaded inputs
    seconds: float = 0.0
    crashes: list[str] = field(default_factory=list)  # the first few, with tracebacks
    refusals: Counter = field(default_factory=Counter)  # why inputs were refused (the message without file or numbers)


def _why(message: str) -> str:
    """A refusal's message without the file name and the details that vary."""
    text = message.split(": ", 1)[1] if ": " in message else message
    text = re.sub(r"\(.*", "", text)  # the reader's own detail
    return re.sub(r"\d+", "N", text).strip()[:90]


def _crash(counts: Counts, what: str, exc: BaseException | None, keep: Path, data: bytes | None, name: str, show: int) -> None:
    counts.crashed += 1
    if len(counts.crashes) < show:
        kept = ""
        if data is not None:
            keep.mkdir(parents=True, exist_ok=True)
            target = keep / f"crash{len(counts.crashes)}_{name}"
            target.write_bytes(data)
            kept = f" (input kept as {target})"
        tb = "".join(traceback.format_exception(exc)) if exc is not None else ""
        counts.crashes.append(f"{what}{kept}\n{tb}")


def run(fmt: str, inputs: int, seed: int, keep: Path | None = None, show: int = 3) -> Counts:
    """Fuzz one layout with `inputs` distinct mutated inputs; returns the counts."""
    from analyzer import db
    from analyzer.ingest import derive_movements, detect, ingest_file
    from analyzer.ingest.detect import HEAD_BYTES
    from analyzer.ingest.stage import load_tenpay_batch as _ingest_tenpay_batch

    rng = random.Random(f"{fmt}:{seed}")
    counts = Counts()
    with tempfile.TemporaryDirectory(prefix=f"rpa-fuzz-{fmt}-") as tmp:
        work = Path(tmp)
        keep = keep or work / "crashes"
        pool = seeds(fmt, work)
        seen: set[bytes] = {hashlib.sha256(d).digest() for _, d in pool}
        start = time.perf_counter()
        con = None
        block = 0
        pending: list[tuple[Path, str, bytes]] = []  # Tenpay inputs for the production path

        def new_case():
            nonlocal con, block
            if con is not None:
                finish_case()
            block += 1
            path = work / f"case{block}.duckdb"
            con = db.connect(path)
            db.migrate(con)

        def finish_case():
            nonlocal con
            flush()
            try:
                derive_movements(con)
                bad = con.execute(
                    """SELECT count(*) FROM sources s WHERE rows_read <>
                           (SELECT count(*) FROM sightings g WHERE g.source_id = s.source_id)
                         + (SELECT count(DISTINCT line) FROM rejects r WHERE r.source_id = s.source_id)"""
                ).fetchall()[0][0]
                if bad:
                    _crash(counts, f"{fmt}: {bad} loaded files whose rows read are not all sightings or rejects", None, keep, None, "", show)
            except Exception as exc:  # noqa: BLE001
                _crash(counts, f"{fmt}: deriving the movements crashed", exc, keep, None, "", show)
            con.close()
            con = None

        def record(result, data: bytes, name: str) -> None:
            if result.status == "loaded":
                counts.loaded += 1
                counts.rows += result.loaded
                counts.rejected += result.rejected
            elif result.status == "error":
                counts.refused += 1
                counts.refusals[_why(result.message)] += 1
            elif result.status == "already":  # the same bytes as an earlier input: cannot happen
                counts.refused += 1
            else:  # bug, or unknown with the layout named
                _crash(counts, f"{fmt}: {result.status}: {result.message}", result.bug, keep, data, name, show)

        def flush():
            if not pending:
                return
            batch = list(pending)
            pending.clear()
            try:
                results = _ingest_tenpay_batch(con, [(p, p.name) for p, _, _ in batch], owner="fuzz", actor="fuzz")
            except Exception as exc:  # noqa: BLE001
                for p, name, data in batch:
                    _crash(counts, f"{fmt}: the production path (stage_many) crashed", exc, keep, data, name, show)
                return
            for result, (_, name, data) in zip(results, batch):
                record(result, data, name)

        new_case()
        while counts.inputs < inputs:
            name, data = rng.choice(pool)
            mutated = mutate(name, data, rng)
            digest = hashlib.sha256(mutated).digest()
            if digest in seen:
                continue
            seen.add(digest)
            counts.inputs += 1
            folder = work / "in" / str(counts.inputs)
            folder.mkdir(parents=True)
            path = folder / name
            path.write_bytes(mutated)
            try:
                if detect(path, mutated[:HEAD_BYTES]) == fmt:
                    counts.detected += 1
            except Exception as exc:  # noqa: BLE001 (ParserBug: a sniff crashed)
                _crash(counts, f"{fmt}: detect", exc, keep, mutated, name, show)
            if fmt == "tenpay" and counts.inputs % 2:
                pending.append((path, name, mutated))
                if len(pending) >= 10:
                    flush()
            else:
                try:
                    result = ingest_file(con, path, format=fmt, owner="fuzz", explicit=True, actor="fuzz")
                except Exception as exc:  # noqa: BLE001
                    _crash(counts, f"{fmt}: ingest_file raised", exc, keep, mutated, name, show)
                else:
                    record(result, mutated, name)
            if counts.inputs % BLOCK == 0:
                new_case()
        finish_case()
        counts.seconds = time.perf_counter() - start
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-format", type=int, default=10_000, help="distinct inputs per layout (default 10,000)")
    parser.add_argument("--format", action="append", choices=FORMATS, help="layout(s) to fuzz (default: all)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", type=Path, help="folder to keep crashing inputs in")
    parser.add_argument("--show", type=int, default=3, help="crashes printed with tracebacks, per layout")
    parser.add_argument("--reasons", type=int, default=0, help="print the N most common reasons for refusal, per layout")
    args = parser.parse_args(argv)
    total = Counts()
    print(f"{'layout':<10} {'inputs':>8} {'loaded':>8} {'refused':>8} {'crashes':>8} {'detected':>9} {'rows':>9} {'rejected':>9} {'seconds':>8}")
    for fmt in args.format or FORMATS:
        c = run(fmt, args.per_format, args.seed, args.keep, args.show)
        for crash in c.crashes:
            print(crash, file=sys.stderr)
        for why, n in c.refusals.most_common(args.reasons):
            print(f"    refused {n:>6,}× {why}", file=sys.stderr)
        print(f"{fmt:<10} {c.inputs:>8,} {c.loaded:>8,} {c.refused:>8,} {c.crashed:>8,} {c.detected:>9,} {c.rows:>9,} "
              f"{c.rejected:>9,} {c.seconds:>8.0f}", flush=True)
        for name in ("inputs", "loaded", "refused", "crashed", "detected", "rows", "rejected", "seconds"):
            setattr(total, name, getattr(total, name) + getattr(c, name))
    print(f"{'all':<10} {total.inputs:>8,} {total.loaded:>8,} {total.refused:>8,} {total.crashed:>8,} {total.detected:>9,} "
          f"{total.rows:>9,} {total.rejected:>9,} {total.seconds:>8.0f}")
    return 1 if total.crashed else 0


if __name__ == "__main__":
    sys.exit(main())
