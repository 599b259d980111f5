"""Nothing is skipped without saying so (issue #14, point 5).

A folder ingest lists every file no layout recognised; one that looks like an export
(.csv, .xlsx, .xls, .txt, .parquet) makes it exit 1. Files ingest never reads (.py,
.md …) stay silent. A sniff or parser that crashes is reported as a bug of rpa, naming
the layout and the file, never as "no known layout" or as a refusal of the file."""

from __future__ import annotations

import pytest

from analyzer.formats import alipay, tenpay, wechat
from tests import tenpay_samples as tp
from tests.conftest import FORMATS
from tests.helpers import query, rpa, write_canonical

WECHAT = FORMATS / "wechat_bill/deb-sig_double-entry-generator@16c48b0/example-wechat-records.csv"


@pytest.fixture
def case(tmp_path):
    folder = tmp_path / "case"
    assert rpa("init", folder).exit_code == 0
    return folder


def movement(txn_id: str) -> dict:
    return {"txn_id": txn_id, "ts": "2026-01-10 09:00:00", "payer": "a", "payee": "b", "amount": "1.00"}


def test_files_that_are_not_exports_are_listed_and_the_ingest_succeeds(case, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    write_canonical(folder / "m.csv", [movement("A1")])
    (folder / "README.md").write_text("# notes", encoding="utf-8")  # never read: silent
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    (folder / "bills.zip").write_bytes(b"PK\x03\x04" + bytes(100))
    result = rpa("ingest", folder, "--case", case)
    assert result.exit_code == 0, result.output
    assert "bills.zip: skipped, no known layout\n" in result.stdout and "photo.jpg: skipped, no known layout\n" in result.stdout
    assert "README.md" not in result.output and result.stderr == ""
    assert query(case, "SELECT count(*) FROM transactions") == [(1,)]


@pytest.mark.parametrize("name, data", [
    ("ledger.csv", "日期,金额,备注\n2024-01-01,1.00,x\n".encode()),
    ("statement.xlsx", b"PK\x03\x04" + bytes(200)),
    ("old.xls", b"\xd0\xcf\x11\xe0" + bytes(200)),
    ("notes.txt", "not an export".encode()),
    ("table.parquet", b"not parquet at all"),
])
def test_a_skipped_file_that_looks_like_an_export_exits_1(case, tmp_path, name, data):
    folder = tmp_path / "exports"
    folder.mkdir()
    write_canonical(folder / "m.csv", [movement("A1")])
    (folder / name).write_bytes(data)
    result = rpa("ingest", folder, "--case", case)
    assert result.exit_code == 1, result.output
    assert result.stderr == (f"{folder / name}: skipped, no known layout, though it looks like an export: "
                             "check it, or name its layout with --format\n")
    assert "1 movements added, 0 already known, 0 rows rejected" in result.stdout
    assert query(case, "SELECT count(*) FROM transactions") == [(1,)]


def test_tenpay_registration_files_are_listed_but_do_not_fail_the_ingest(case, tmp_path):
    paths = tp.write_production(tmp_path / "prod", {"wxid_a": [tp.transfer_in(payer="wxid_b", payer_name="乙", fen=100, ts="2025-03-01 12:00:00", uid="wxid_a")]})
    result = rpa("ingest", tmp_path / "prod", "--case", case)
    assert result.exit_code == 0, result.output
    assert "TenpayRegInfo.txt: skipped, no known layout\n" in result.stdout and result.stderr == ""
    assert query(case, "SELECT count(*) FROM sources") == [(1,)] and paths


def test_many_skipped_files_are_summed_up_with_the_first_exports_named(case, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    write_canonical(folder / "m.csv", [movement("A1")])
    for i in range(30):
        (folder / f"img{i:02d}.jpg").write_bytes(b"\xff\xd8" + bytes(10))
    for i in range(8):
        (folder / f"unknown{i}.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    result = rpa("ingest", folder, "--case", case)
    assert result.exit_code == 1
    assert "38 files skipped, no known layout (" in result.stdout
    first = ", ".join(str(folder / f"unknown{i}.csv") for i in range(5))
    assert result.stderr == f"8 of them look like exports, check them or name their layout with --format: {first} and 3 more\n"


def test_an_explicit_file_of_no_layout_is_still_exit_2(case, tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    result = rpa("ingest", path, "--case", case)
    assert result.exit_code == 2 and "ledger.csv: no known layout (tried" in result.stderr


# ---------------------------------------------------------------- crashes are bugs


def boom(*args, **kwargs):
    return 1 // 0


def test_a_sniff_that_crashes_is_a_bug_not_an_unknown_layout(case, tmp_path, monkeypatch):
    # A bug planted in the Alipay sniff (no known input makes a real one crash).
    folder = tmp_path / "exports"
    folder.mkdir()
    write_canonical(folder / "m.csv", [movement("A1")])  # recognised by canonical's sniff, tried first
    (folder / "bill.csv").write_bytes(WECHAT.read_bytes().replace(b"\xe5\xbe\xae\xe4\xbf\xa1\xe6\x94\xaf\xe4\xbb\x98", b"x", 1))
    (folder / "other.dat").write_bytes(b"nothing")
    monkeypatch.setattr(alipay, "sniff", boom)
    result = rpa("ingest", folder, "--case", case)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert f"rpa bug: the alipay sniff crashed on {folder / 'other.dat'}: ZeroDivisionError: integer division or modulo by zero; please report" in lines
    assert "no known layout" not in result.output
    # the bill is still recognised by the WeChat sniff, tried before Alipay's
    assert query(case, "SELECT format FROM sources ORDER BY format") == [("canonical_csv",), ("wechat_csv",)]


def test_a_parser_that_crashes_is_a_bug_and_loads_nothing_of_that_file(case, tmp_path, monkeypatch):
    monkeypatch.setattr(wechat, "_preamble", boom)
    result = rpa("ingest", WECHAT, "--case", case)
    assert result.exit_code == 2
    assert result.stderr == (f"rpa bug: the wechat parser crashed on {WECHAT}: ZeroDivisionError: "
                             "integer division or modulo by zero; please report\n")
    assert query(case, "SELECT count(*) FROM sources") == [(0,)]
    assert query(case, "SELECT count(*) FROM sightings") == [(0,)]


def test_a_crash_in_a_tenpay_batch_is_the_bug_of_its_file_only(case, tmp_path, monkeypatch):
    # Files of a production load many at a time; a crash there is retried file by file, so
    # that the one file at fault is reported and the others load.
    rows = {f"wxid_{c}": [tp.transfer_in(payer="wxid_z", payer_name="甲", fen=100, ts="2025-03-01 12:00:00", uid=f"wxid_{c}")]
            for c in "abc"}
    paths = tp.write_production(tmp_path / "prod", rows)
    bad = paths[1]
    bad.write_bytes(bad.read_bytes().replace("备注2".encode(), b"BOOM", 1))
    real = tenpay._header_line

    def header_line(text):
        if "BOOM" in text:
            raise RuntimeError("planted")
        return real(text)

    monkeypatch.setattr(tenpay, "_header_line", header_line)
    result = rpa("ingest", tmp_path / "prod", "--case", case)
    assert result.exit_code == 2
    assert "rpa bug: the tenpay parser crashed on" in result.stderr and "wxid_b/TenpayTrades.txt: RuntimeError: planted; please report" in result.stderr
    assert query(case, "SELECT owner FROM sources ORDER BY owner") == [("wxid_a",), ("wxid_c",)]


def test_rpa_roster_relations_and_labels_beside_the_exports_do_not_fail_the_ingest(case, tmp_path):
    # sample_data and `rpa synth` worlds hold people.csv, relations.csv and labels.csv
    # beside the exports: listed as skipped, not taken for exports rpa cannot read.
    folder = tmp_path / "world"
    folder.mkdir()
    write_canonical(folder / "m.csv", [movement("A1")])
    (folder / "people.csv").write_text("person_id,name,accounts,official\nP1,张三,wxid_a,是\n", encoding="utf-8")
    (folder / "relations.csv").write_text("person_id,other_id,relation,note\nP1,P2,family,\n", encoding="utf-8")
    (folder / "labels.csv").write_text("case_id,rule_id,subject,txn_ids\nC1,x,P1,A1\n", encoding="utf-8")
    (folder / "roster_like.csv").write_text("person_id,name\nP1,张三\n", encoding="utf-8")  # not rpa's: no accounts
    result = rpa("ingest", folder, "--case", case)
    assert result.exit_code == 1
    for name in ("people.csv", "relations.csv", "labels.csv"):
        assert f"{folder / name}: skipped, no known layout\n" in result.stdout
    assert result.stderr == (f"{folder / 'roster_like.csv'}: skipped, no known layout, though it looks like an export: "
                             "check it, or name its layout with --format\n")
