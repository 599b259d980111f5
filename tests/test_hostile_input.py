"""Hostile and broken input: every parser, fed mutated real samples, wrong encodings,
truncated files, huge fields, NUL bytes, formulas and HTML, gives loaded rows plus
rejects, or one clear FormatError — never another exception, never a half-loaded file.

A parser refuses a file by FormatError from its own checks only; any other exception is
a crash, and these tests fail on it (tested below with crashes planted on purpose). The
long run is benchmarks/fuzz_formats.py (figures in README, "Reliability"); a short run
of it is a test here."""

from __future__ import annotations

import importlib.util
import random
import sys
from importlib import import_module
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.errors import FormatError
from analyzer.formats.base import MOVEMENT_COLUMNS
from tests.conftest import FIXTURES, FORMATS, ROOT
from tests.helpers import query, rpa

SAMPLES = {
    "wechat": [
        FORMATS / "wechat_bill/deb-sig_double-entry-generator@16c48b0/example-wechat-records.csv",
        FORMATS / "wechat_bill/deb-sig_double-entry-generator@d93c79d/example-wechat-records.xlsx",
    ],
    "alipay": [
        FORMATS / "alipay_bill/deb-sig_double-entry-generator@e204a82/example-alipay-records.csv",
        FORMATS / "alipay_bill/deb-sig_double-entry-generator@d765283/example-alipay-records.csv",
        FORMATS / "alipay_bill/deb-sig_double-entry-generator@ef964f3/example-alipay-records.csv",
    ],
    "tenpay": [FIXTURES / "tenpay/TenpayTrades_27_utf8.txt", FIXTURES / "tenpay/TenpayTrades_26_gbk.txt"],
}
CANONICAL = ROOT / "sample_data/canonical/P00005.csv"  # canonical has stage/load_into, not parse: fuzzed through ingest


def fuzz_module():
    """benchmarks/fuzz_formats.py: the mutations and the long run."""
    spec = importlib.util.spec_from_file_location("rpa_fuzz_formats", ROOT / "benchmarks" / "fuzz_formats.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


FUZZ = fuzz_module()
NASTY = [
    b"\x00", b"\x00\x00\x00", b"=cmd|' /C calc'!A0", b"+SUM(A1:A9)", b"@HYPERLINK(\"x\")",
    "<img src=x onerror=alert(1)>".encode(), "\u202e反转".encode(), b"\xff\xfe", b"\xef\xbb\xbf",
    b'"', b'""', b",,,,,,", b"\t\t\t", b"\r", b"\n\n", "¥-1.00".encode(), b"99999999999999999999.99",
    b"2026-13-45 25:61:61", "微信红包（群红包）".encode("gbk"), b"A" * 200_000,
]


@st.composite
def mutation(draw, data: bytes):
    """Some damage to a file's bytes: cut it, insert nasty bytes, flip bytes, drop or
    repeat a line, or swap the encoding."""
    kind = draw(st.sampled_from(["truncate", "insert", "flip", "drop_line", "repeat_line", "recode", "fuzz"]))
    if kind == "fuzz":  # the long run's mutations: cells swapped, odd values, huge cells, BOMs, line ends …
        return FUZZ.mutate("x.xlsx" if data.startswith(b"PK") else "x.txt", data, random.Random(draw(st.integers(0, 2**32))))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.sampled_from(NASTY)) + data[at:]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, max(len(out) - 1, 0)))
            if out:
                out[i] = draw(st.integers(0, 255))
        return bytes(out)
    lines = data.split(b"\n")
    i = draw(st.integers(0, max(len(lines) - 1, 0)))
    if kind == "drop_line":
        return b"\n".join(lines[:i] + lines[i + 1:])
    if kind == "repeat_line":
        return b"\n".join(lines[: i + 1] + [lines[i]] * draw(st.integers(1, 3)) + lines[i + 1:])
    try:  # recode: UTF-8 text written as GBK, or GBK text read as Latin-1 and written as UTF-8
        return data.decode("utf-8").encode("gb18030")
    except UnicodeDecodeError:
        return data.decode("latin-1").encode("utf-8")


def check_parse(fmt: str, path: Path) -> None:
    module = import_module(f"analyzer.formats.{fmt}")
    try:
        parsed = module.parse(path)
    except FormatError as exc:
        message = str(exc)
        assert message and "\n" not in message.strip()
        return
    assert list(parsed.rows.columns) == list(MOVEMENT_COLUMNS)
    assert all(r.line >= 1 and r.reason for r in parsed.rejects)


CASES = [(fmt, path) for fmt, paths in SAMPLES.items() for path in paths]


@pytest.mark.parametrize("fmt, sample", CASES, ids=[f"{f}-{p.parent.name}-{p.suffix}" for f, p in CASES])
@settings(max_examples=int(__import__("os").environ.get("RPA_FUZZ_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_parser_survives_mutations(fmt, sample, data, tmp_path_factory):
    raw = sample.read_bytes()
    mutated = data.draw(mutation(raw))
    path = tmp_path_factory.mktemp("m") / sample.name
    path.write_bytes(mutated)
    check_parse(fmt, path)


@pytest.mark.parametrize("fmt, sample", CASES[:1] + CASES[2:3] + CASES[5:6], ids=["wechat", "alipay", "tenpay"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_ingest_of_damaged_file_is_whole_or_nothing(fmt, sample, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("case")
    assert rpa("init", folder).exit_code == 0
    path = folder / sample.name
    path.write_bytes(data.draw(mutation(sample.read_bytes())))
    result = rpa("ingest", path, "--format", fmt, "--owner", "测试", "--case", folder)
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output and "rpa bug" not in result.output, result.output
    sources = query(folder, "SELECT rows_loaded FROM sources")
    stored = query(folder, "SELECT count(*) FROM transactions")[0][0]
    if result.exit_code == 2 or not sources:
        assert stored == 0 and not sources  # refused: nothing half-loaded
    else:
        assert stored == sources[0][0]


def test_huge_field_and_html_in_names_load_as_text(tmp_path):
    path = tmp_path / "m.csv"
    big = "备" * 300_000
    path.write_text(
        "txn_id,ts,payer,payee,amount,memo\n"
        f"1,2026-01-01 10:00:00,<img src=x onerror=alert(1)>,=cmd|' /C calc'!A0,1.00,{big}\n",
        encoding="utf-8",
    )
    rpa("init", tmp_path / "case")
    assert rpa("ingest", path, "--case", tmp_path / "case").exit_code == 0
    assert query(tmp_path / "case", "SELECT payer, payee, length(memo) FROM transactions") == [
        ("<img src=x onerror=alert(1)>", "=cmd|' /C calc'!A0", 300_000)
    ]


def test_a_nul_byte_in_a_row_rejects_that_line_and_the_rest_loads(tmp_path):
    # Found by the fuzzer: a NUL byte in an Alipay row ended ingest in a traceback
    # (a DuckDB text cannot hold it). The line is rejected, its raw text kept with the
    # NUL written as \x00, and the other rows load.
    src = ROOT / "tests/fixtures/formats/alipay_bill/deb-sig_double-entry-generator@ef964f3/example-alipay-records.csv"
    lines = src.read_bytes().split(b"\n")
    first_data = next(i for i, line in enumerate(lines) if line.startswith(b"2023-02-12 21:32:14"))
    lines[first_data] = lines[first_data].replace(b",49.74", b",49.\x0074")
    damaged = tmp_path / "alipay_record_20230213.csv"
    damaged.write_bytes(b"\n".join(lines))
    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    result = rpa("ingest", damaged, "--format", "alipay", "--case", case)
    assert result.exit_code == 1, result.output
    (line, raw), = query(case, "SELECT line, raw FROM rejects")
    assert line == first_data + 1 and "\\x00" in raw
    assert query(case, "SELECT count(*) FROM sightings")[0][0] > 0


# ---------------------------------------------------------------- crash or refusal


def test_a_crash_is_not_taken_for_a_refusal(monkeypatch):
    # A bug planted in the Alipay parser: check_parse (used by the property tests above)
    # lets the exception through instead of passing it as a refusal.
    from analyzer.formats import alipay

    def broken(*args, **kwargs):
        raise KeyError("planted")

    monkeypatch.setattr(alipay, "_record", broken)
    with pytest.raises(KeyError):
        check_parse("alipay", SAMPLES["alipay"][0])


def test_the_fuzz_run_counts_a_planted_crash(monkeypatch):
    from analyzer.formats import alipay

    real = alipay._record

    def sometimes(lineno, *args, **kwargs):
        if lineno % 7 == 0:
            raise IndexError("planted")
        return real(lineno, *args, **kwargs)

    monkeypatch.setattr(alipay, "_record", sometimes)
    counts = FUZZ.run("alipay", 30, seed=1, show=1)
    assert counts.crashed > 0 and counts.inputs == 30
    assert counts.loaded + counts.refused + counts.crashed == 30
    assert counts.crashes[0].startswith("alipay: bug: rpa bug: the alipay parser crashed on ")
    assert "IndexError: planted" in counts.crashes[0]


@pytest.mark.parametrize("fmt", FUZZ.FORMATS)
def test_short_fuzz_run_has_no_crashes(fmt):
    # 200 distinct damaged inputs per layout through the path ingest uses (detect, then
    # ingest_file with the layout named, Tenpay also ten at a time as a production).
    counts = FUZZ.run(fmt, 200, seed=14)
    assert counts.crashes == [] and counts.crashed == 0
    assert counts.inputs == 200 and counts.loaded + counts.refused == 200
    assert counts.loaded > 0 and counts.refused > 0


# ---------------------------------------------------------------- crashes the fuzzer found


def test_wechat_amount_beyond_decimal_precision_is_a_rejected_row(tmp_path):
    # ¥ and 40 digits crashed the parser (decimal.InvalidOperation), which used to pass as
    # "cannot be read as wechat": the whole bill refused. Now the row is rejected.
    src = SAMPLES["wechat"][0]
    lines = src.read_bytes().split(b"\n")
    lines[18] = lines[18].replace("¥0.35".encode(), ("¥" + "9" * 40).encode())
    path = tmp_path / "w.csv"
    path.write_bytes(b"\n".join(lines))
    case = tmp_path / "case"
    rpa("init", case)
    assert rpa("ingest", path, "--case", case).exit_code == 1
    assert query(case, "SELECT line, reason FROM rejects") == [(19, "amount is not a decimal number of yuan with at most two decimals: " + "¥" + "9" * 40)]


def test_canonical_column_without_a_name_is_kept_by_position(tmp_path):
    # an empty header cell (a trailing comma) crashed the insert of the extra columns
    path = tmp_path / "m.csv"
    path.write_text("txn_id,ts,payer,payee,amount,,x,\n1,2026-01-01 10:00:00,a,b,1.00,p,q,r\n", encoding="utf-8")
    case = tmp_path / "case"
    rpa("init", case)
    assert rpa("ingest", path, "--case", case).exit_code == 0
    assert query(case, "SELECT raw FROM sightings") == [('{"#6":"p","x":"q","#8":"r"}',)]


def test_canonical_line_with_a_nul_is_rejected_as_damaged_with_the_nul_written(tmp_path):
    # DuckDB's reader keeps a NUL in a cell: no text rpa stores may hold one (it crashed
    # ingest). The line is rejected as damaged, its cells as JSON with the NUL escaped.
    path = tmp_path / "m.csv"
    path.write_bytes(b"txn_id,ts,payer,payee,amount\n1,2026-01-01 10:00:00,a\x00,b,x\n3,2026-01-01 10:00:00,a,b,3.00\n")
    case = tmp_path / "case"
    rpa("init", case)
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 1 and "rpa bug" not in result.output, result.output
    (line, raw, reason), = query(case, "SELECT line, raw, reason FROM rejects")
    assert (line, reason) == (2, "undecodable bytes or NUL in the line")
    assert '"payer":"a\\u0000"' in raw and "\x00" not in raw
    assert query(case, "SELECT txn_id FROM sightings") == [("3",)]


def test_canonical_line_too_long_for_duckdbs_reject_store_is_rejected_alone(tmp_path):
    # DuckDB keeps 10,000 bytes of a line its typed reader rejects and may cut it inside
    # a character (a crash the fuzzer found). Read as text, the line is rejected by rpa
    # itself, whole, for its amount; the next line loads.
    path = tmp_path / "m.csv"
    amount = "\u5907" * 5000
    path.write_bytes(b"txn_id,ts,payer,payee,amount\n2,2026-01-01 10:00:00,a,b," + amount.encode()
                     + b"\n3,2026-01-01 10:00:00,a,b,3.00\n")
    case = tmp_path / "case"
    rpa("init", case)
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 1 and "rpa bug" not in result.output
    assert query(case, "SELECT line, reason FROM rejects") == [
        (2, "amount is not a decimal number of yuan with at most two decimals: " + amount)]
    assert query(case, "SELECT txn_id, line FROM sightings") == [("3", 3)]


def test_damaged_parquet_is_refused_not_a_crash(tmp_path):
    # DuckDB's Parquet reader raises its plain Error ("TProtocolException: Invalid data")
    import duckdb

    path = tmp_path / "m.parquet"
    duckdb.connect().execute(f"COPY (SELECT 'A' AS txn_id, '2026-01-01 10:00:00' AS ts, 'a' AS payer, 'b' AS payee, '1.00' AS amount "
                             f"FROM range(100)) TO '{path}' (FORMAT parquet)")
    data = bytearray(path.read_bytes())
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")  # the Thrift metadata
    data[footer + 3 : footer + 40] = b"\xff" * 37
    path.write_bytes(bytes(data))
    case = tmp_path / "case"
    rpa("init", case)
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 2 and "rpa bug" not in result.output
    assert result.stderr.startswith(f"m.parquet: not a readable Parquet file (")


def test_tenpay_lines_ending_in_cr_alone_and_a_header_of_thousands_of_cells(tmp_path):
    # A file whose line ends were CR alone read as one line of 27 × N cells: the SQL for
    # such a header took half a minute to prepare. CR alone now ends a line; a header of
    # more than 100 columns is not a TenpayTrades header.
    from analyzer.formats import tenpay
    from tests import tenpay_samples as tp

    path = tmp_path / "TenpayTrades.txt"
    tp.write_trades(path, [tp.transfer_in(payer=f"wxid_{i}", payer_name="甲", fen=100, ts="2025-03-01 12:00:00") for i in range(40)])
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    parsed = tenpay.parse(path)
    assert len(parsed.rows) == 40 and parsed.rejects == [] and parsed.rows["line"].tolist() == list(range(2, 42))
    path.write_bytes(("\t".join(tp.HEADER_27 * 5) + "\n").encode())
    with pytest.raises(FormatError, match="its header has 135 columns"):
        tenpay.parse(path)


def test_xlsx_part_declaring_an_unknown_encoding_is_refused_not_a_crash(tmp_path):
    # openpyxl raised LookupError ("unknown encoding: UTF-X") from a part's XML declaration
    import zipfile

    src = SAMPLES["wechat"][1]
    path = tmp_path / "bill.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name.endswith(".rels"):
                data = data.replace(b'encoding="UTF-8"', b'encoding="UTF-X"', 1)
            zout.writestr(name, data)
    from analyzer.formats import wechat

    with pytest.raises(FormatError, match=r"^bill\.xlsx: unreadable XLSX workbook \(LookupError: unknown encoding: UTF-X\)$"):
        wechat.parse(path)


def test_canonical_column_name_with_a_nul(tmp_path):
    # A NUL in a column name ended the SQL name early (found by the long fuzz run): a
    # CSV's column is kept with the NUL written \x00; a Parquet file is refused.
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "m.csv"
    path.write_bytes(b"txn_id,ts,payer,payee,amount,d\x00irection\n1,2026-01-01 10:00:00,a,b,1.00,in\n")
    case = tmp_path / "case"
    rpa("init", case)
    assert rpa("ingest", path, "--case", case).exit_code == 0
    assert query(case, "SELECT direction, raw FROM sightings") == [("both", '{"d\\\\x00irection":"in"}')]
    parquet = tmp_path / "m.parquet"
    pq.write_table(pa.table({"txn_id": ["1"], "ts": ["2026-01-01 10:00:00"], "payer": ["a"], "payee": ["b"],
                             "amount": ["1.00"], "me\x00mo": ["x"]}), parquet)
    result = rpa("ingest", parquet, "--case", case)
    assert result.exit_code == 2 and result.stderr == "m.parquet: a column name of the Parquet file holds a NUL character\n"
