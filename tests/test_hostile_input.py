"""Hostile and broken input: every parser, fed mutated real samples, wrong encodings,
truncated files, huge fields, NUL bytes, formulas and HTML, gives loaded rows plus
rejects, or one clear FormatError — never another exception, never a half-loaded file."""

from __future__ import annotations

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
    kind = draw(st.sampled_from(["truncate", "insert", "flip", "drop_line", "repeat_line", "recode"]))
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
    assert "Traceback" not in result.output
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
