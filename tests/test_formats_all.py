"""Every sample export in ../shared/formats ingests through the CLI, or — for the
hand-written grade-C files — is refused with one clear line. Values are checked by the
per-format tests (test_format_*.py); here the whole path: detect, parse, type, store."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.conftest import FORMATS
from tests.helpers import query, rpa

# (folder/file relative to formats/, expected layout, owner, movements stored)
LICENSED = [
    ("wechat_bill/deb-sig_double-entry-generator@bbd5c9d/example-wechat-records.csv", "wechat_csv", "测试", 2),
    ("wechat_bill/deb-sig_double-entry-generator@16c48b0/example-wechat-records.csv", "wechat_csv", "测试", 27),
    ("wechat_bill/deb-sig_double-entry-generator@5d250e2/example-wechat-records.xlsx", "wechat_xlsx", "测试", 27),
    ("wechat_bill/deb-sig_double-entry-generator@d93c79d/example-wechat-records.xlsx", "wechat_xlsx", "测试", 27),
    ("alipay_bill/deb-sig_double-entry-generator@e204a82/example-alipay-records.csv", "alipay_legacy_web", "faker@faker.com", 7),
    ("alipay_bill/deb-sig_double-entry-generator@d765283/example-alipay-records.csv", "alipay_app_2021", "abc@triplez.cn", 16),
    ("alipay_bill/deb-sig_double-entry-generator@ef964f3/example-alipay-records.csv", "alipay_app_2023", "xx@gmail.com", 10),
]


@pytest.fixture
def case(tmp_path):
    folder = tmp_path / "case"
    rpa("init", folder)
    return folder


@pytest.mark.parametrize("relpath, layout, owner, stored", LICENSED, ids=[l[0].split("/")[1] + "/" + l[1] for l in LICENSED])
def test_licensed_sample_ingests(case, relpath, layout, owner, stored):
    path = FORMATS / relpath
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 0, result.output
    (src,) = query(case, "SELECT format, owner, rows_read, rows_loaded, rows_duplicate, rows_rejected FROM sources")
    assert src[0] == layout and src[1] == owner
    assert src[3] + src[4] == src[2]  # every row read is stored or a recognised duplicate
    assert src[5] == 0
    assert query(case, "SELECT count(*) FROM transactions") == [(src[3],)]
    assert src[3] + src[4] == stored


def test_wechat_2019_csv_values_in_the_case(case):
    rpa("ingest", FORMATS / LICENSED[0][0], "--case", case)
    rows = query(case, "SELECT ts::VARCHAR, kind, status, payer, payee, amount, txn_id FROM transactions ORDER BY ts")
    assert rows[0] == ("2019-09-24 10:10:11", "red_packet", "success", "同性好友", "测试", Decimal("0.35"), "3985734")


def test_every_shared_sample_loads_or_is_refused_cleanly(shared_formats, tmp_path):
    files = sorted(p for p in shared_formats.rglob("*") if p.is_file() and p.suffix in (".csv", ".xlsx"))
    assert len(files) == 13
    for i, path in enumerate(files):
        case = tmp_path / f"case{i}"
        rpa("init", case)
        result = rpa("ingest", path, "--case", case)
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            # refused: one line naming the file
            assert result.stderr.count("\n") == 1 and path.name in result.stderr, result.stderr
            assert query(case, "SELECT count(*) FROM transactions") == [(0,)]
        else:
            assert result.exit_code in (0, 1), result.output
            assert query(case, "SELECT count(*) FROM transactions")[0][0] > 0


def test_grade_c_samples(shared_formats, case):
    # focus000/preciouss: hand-written, no licence (read from ../shared only)
    folder = shared_formats / "wechat_bill" / "focus000_preciouss@71e7880"
    result = rpa("ingest", folder / "wechat_sample.csv", "--case", case)
    assert result.exit_code == 0, result.output
    assert query(case, "SELECT count(*), sum(amount) FROM transactions") == [(8, Decimal("627.50"))]
    alipay = shared_formats / "alipay_bill" / "focus000_preciouss@71e7880" / "alipay_sample.csv"
    result = rpa("ingest", alipay, "--case", case)
    assert result.exit_code == 0, result.output
    assert query(case, "SELECT count(*) FROM transactions WHERE channel = 'alipay'") == [(4,)]
