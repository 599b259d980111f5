"""Damaged files load what can be loaded (issue #14, point 6): in every text layout, a
byte that decodes in no encoding, a NUL, a stray quote or an over-long cell loses its
own line only, rejected with its line number and reason; the good rows load, and the
layout is still detected. Tried on the real samples, through `rpa ingest`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests import tenpay_samples as tp
from tests.conftest import FORMATS
from tests.helpers import query, rpa

WECHAT = FORMATS / "wechat_bill/deb-sig_double-entry-generator@16c48b0/example-wechat-records.csv"  # UTF-8
ALIPAY = FORMATS / "alipay_bill/deb-sig_double-entry-generator@ef964f3/example-alipay-records.csv"  # GBK
DAMAGED = "undecodable bytes or NUL in the line"


@pytest.fixture
def case(tmp_path):
    folder = tmp_path / "case"
    assert rpa("init", folder).exit_code == 0
    return folder


def damage(src: Path, dst: Path, line: int, old: bytes, new: bytes) -> Path:
    """A copy of src with `old` replaced by `new` on (1-based) line `line`."""
    lines = src.read_bytes().split(b"\n")
    assert old in lines[line - 1], (line, lines[line - 1][:80])
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    dst.write_bytes(b"\n".join(lines))
    return dst


def loaded(case: Path) -> tuple:
    """(format, encoding, rows read, sightings, rejects as (line, reason)) of the only source."""
    (fmt, encoding, read), = query(case, "SELECT format, encoding, rows_read FROM sources")
    sightings = query(case, "SELECT count(*) FROM sightings")[0][0]
    return fmt, encoding, read, sightings, query(case, "SELECT line, reason FROM rejects ORDER BY line")


def clean_count(path: Path, tmp_path: Path, **kw) -> int:
    """How many sightings the undamaged file gives."""
    other = tmp_path / "clean"
    assert rpa("init", other).exit_code == 0
    assert rpa("ingest", path, "--case", other, *[a for k, v in kw.items() for a in (f"--{k}", v)]).exit_code == 0
    return query(other, "SELECT count(*) FROM sightings")[0][0]


def test_wechat_csv_with_one_undecodable_byte_loads_the_other_rows(case, tmp_path):
    # Before: "not UTF-8 or GBK text", the whole bill refused, no line named.
    good = clean_count(WECHAT, tmp_path)
    path = damage(WECHAT, tmp_path / "微信支付账单(20190801-20190930).csv", 19, b"2019-09-24 10:10:11,", b"2019-09-24 10:10:11,\xff")
    result = rpa("ingest", path, "--case", case)  # detected, no --format
    assert result.exit_code == 1, result.output
    assert loaded(case) == ("wechat_csv", "utf-8 (damaged)", good, good - 1, [(19, DAMAGED)])
    assert query(case, "SELECT count(*) FROM sightings WHERE ts = '2019-09-24 10:10:11'") == [(0,)]
    (raw,), = query(case, "SELECT raw FROM rejects")
    assert raw.startswith("2019-09-24 10:10:11,\ufffd")


def test_wechat_csv_with_a_nul_and_a_stray_quote_loses_those_lines_only(case, tmp_path):
    good = clean_count(WECHAT, tmp_path)
    path = damage(WECHAT, tmp_path / "w1.csv", 19, b"2019-09-24 10:10:11,", b"2019-09-24 10:10:11,\x00")
    # an opening quote on line 20: the csv reader would join the lines after it into one record
    path = damage(path, tmp_path / "w2.csv", 20, b"2021-01-17 18:03:35,", b'2021-01-17 18:03:35,"')
    assert rpa("ingest", path, "--case", case).exit_code == 1
    fmt, encoding, read, sightings, rejects = loaded(case)
    assert (fmt, encoding, sightings) == ("wechat_csv", "utf-8", good - 2)
    # line 20 read alone (its quote ends with the line): the rest of it is one cell
    assert rejects == [(19, DAMAGED), (20, "11 columns expected, 2 found")]
    (raw,), = query(case, "SELECT raw FROM rejects WHERE line = 19")
    assert "\\x00" in raw and "\x00" not in raw


def test_wechat_csv_with_an_over_long_cell_loses_that_line_only(case, tmp_path):
    good = clean_count(WECHAT, tmp_path)
    path = damage(WECHAT, tmp_path / "w.csv", 19, b",/,", b',"' + "备".encode() * 200_000 + b'",')
    assert rpa("ingest", path, "--case", case).exit_code == 1
    fmt, _, _, sightings, rejects = loaded(case)
    assert (fmt, sightings) == ("wechat_csv", good - 1)
    assert rejects == [(19, "unreadable CSV (field larger than field limit (131072))")]


def test_wechat_nickname_damaged_names_nobody(case, tmp_path):
    path = damage(WECHAT, tmp_path / "w.csv", 2, "测试".encode(), b"\xff\xfe")
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 2
    assert result.stderr.endswith("/w.csv: the file does not name its account holder; pass --owner NAME\n")
    assert result.stderr.count("\n") == 1
    assert rpa("ingest", path, "--owner", "测试", "--case", case).exit_code == 0


def test_alipay_gbk_bill_with_one_bad_cell_is_detected_and_loads_the_other_rows(case, tmp_path):
    # Before: refused as "no known layout"; only `--format alipay` loaded its good rows.
    good = clean_count(ALIPAY, tmp_path)
    path = damage(ALIPAY, tmp_path / "alipay_record_20230213.csv", 26, b",49.74", b",\x80\xff49.74")
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 1, result.output
    assert loaded(case) == ("alipay_app_2023", "gbk (damaged)", good, good - 1, [(26, DAMAGED)])
    assert query(case, "SELECT owner FROM sources") == [("xx@gmail.com",)]


def test_alipay_damaged_account_line_names_nobody(case, tmp_path):
    text = ALIPAY.read_bytes()
    path = tmp_path / "a.csv"
    path.write_bytes(text.replace(b"xx@gmail.com", b"xx@\xffgmail.com", 1))
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 2 and "does not name its account holder" in result.stderr
    assert query(case, "SELECT count(*) FROM sources") == [(0,)]


def tenpay_rows(uid: str = tp.OWNER) -> list:
    return [tp.transfer_in(payer=f"wxid_{i}", payer_name="钱七", fen=100 + i, ts="2025-03-01 12:00:00", uid=uid) for i in range(20)]


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_tenpay_production_with_damaged_lines_alone_and_in_a_batch(tmp_path, encoding):
    # The same damaged files through the single-file path (stage) and the production's
    # many-files path (stage_many): the same rows load and the same lines are rejected.
    prod = tmp_path / "prod"
    paths = tp.write_production(prod, {"wxid_a": tenpay_rows("wxid_a"), "wxid_b": tenpay_rows("wxid_b")}, encoding=encoding)
    for path, (line, old, new) in zip(paths, [(5, b"wxid_3", b"wxid\xff_3"), (8, b"wxid_6", b"wxid\x00_6")]):
        damage(path, path, line, old, new)
    batch, alone = tmp_path / "batch", tmp_path / "alone"
    for case in (batch, alone):
        assert rpa("init", case).exit_code == 0
    assert rpa("ingest", prod, "--case", batch).exit_code == 1
    for path in paths:
        assert rpa("ingest", path, "--case", alone).exit_code == 1

    def content(case):
        return (query(case, "SELECT owner, encoding, rows_read, rows_rejected FROM sources ORDER BY owner"),
                query(case, "SELECT s.owner, r.line, r.reason FROM rejects r JOIN sources s USING (source_id) ORDER BY ALL"),
                query(case, "SELECT count(*), sum(amount) FROM sightings"))

    label = "gbk (damaged)" if encoding == "gbk" else "utf-8 (damaged)"
    assert content(batch) == content(alone) == (
        [("wxid_a", label, 20, 1), ("wxid_b", "gbk" if encoding == "gbk" else "utf-8", 20, 1)],
        [("wxid_a", 5, DAMAGED), ("wxid_b", 8, DAMAGED)],
        [(38, 2 * sum(Decimal(100 + i) / 100 for i in range(20)) - Decimal("1.03") - Decimal("1.06"))],
    )


def test_tenpay_damaged_header_byte_is_still_detected(case, tmp_path):
    # A bad byte in a header cell rpa does not need (备注2): detected and loaded.
    path = tmp_path / "TenpayTrades.txt"
    tp.write_trades(path, tenpay_rows())
    damage(path, path, 1, "备注2".encode(), b"\xff2")
    assert rpa("ingest", path, "--case", case).exit_code == 0
    fmt, encoding, read, sightings, rejects = loaded(case)
    assert (fmt, encoding, read, sightings, rejects) == ("tenpay_27", "utf-8 (damaged)", 20, 20, [])


def test_canonical_csv_with_a_bad_byte_and_a_nul(case, tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(
        b"txn_id,ts,payer,payee,amount\n"
        b"1,2026-01-01 10:00:00,a,b,1.00\n"
        b"2,2026-01-01 10:00:00,a\x00x,b,2.00\n"  # NUL: a DuckDB text may hold it, an account of rpa may not
        b"3,2026-01-01 10:00:00,a,b,3.00\n"
        b"4,2026-01-01 10:00:00,a\xe4,b,4.00\n"
    )
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 1, result.output
    assert loaded(case) == ("canonical_csv", "utf-8", 4, 2, [(3, DAMAGED), (5, DAMAGED)])
    assert query(case, "SELECT txn_id FROM sightings ORDER BY line") == [("1",), ("3",)]
