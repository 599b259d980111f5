"""Query parameters bound as literals (analyzer.params): the same values as DuckDB's
own binding, placeholders found only outside strings and comments, and no pandas
import for the commands that need none."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal

import duckdb
import pytest

from analyzer.params import CaseConnection, ParameterError, bind, literal
from tests.helpers import write_canonical

VALUES = [
    None, True, False, 0, -5, 2**40, 2**70, 1.25, -0.5, Decimal("0.05"), Decimal(200), Decimal("-12.345"),
    Decimal("1234567890123456.78"), "", "plain", "it's", "引号'与\\反斜杠", "a\nb", dt.datetime(2026, 1, 2, 3, 4, 5),
    dt.datetime(2026, 1, 2, 3, 4, 5, 123), dt.date(2026, 2, 17), dt.time(9, 30), dt.timedelta(days=1, seconds=3),
    b"\x00\xff", [1, 2], ["x", None, "y'z"], [], [Decimal("1.50"), Decimal("2.25")],
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_literal_reads_back_as_duckdb_binds_it(value):
    con = duckdb.connect()
    own = con.execute("SELECT ?", [value]).fetchall()[0][0]
    ours = con.execute("SELECT " + literal(value)).fetchall()[0][0]
    assert ours == own
    assert type(ours) is type(own)


def test_decimal_keeps_its_scale():
    con = duckdb.connect()
    assert con.execute("SELECT typeof(" + literal(Decimal("12.30")) + ")").fetchall() == [("DECIMAL(4,2)",)]


def test_placeholders_in_strings_identifiers_and_comments_are_left_alone():
    sql = "SELECT ?, '?', \"col?\", regexp_full_match(x, '\\d(\\.\\d)?') -- what?\n/* ? */, 'it''s ?', ?"
    assert bind(sql, [1, "y"]) == "SELECT 1, '?', \"col?\", regexp_full_match(x, '\\d(\\.\\d)?') -- what?\n/* ? */, 'it''s ?', 'y'"
    named = bind("SELECT $a, '$a', \"$a\", x$a -- $a\n, $a_b /* $a */", {"a": "it's", "a_b": 2})
    assert named == "SELECT 'it''s', '$a', \"$a\", x$a -- $a\n, 2 /* $a */"


def test_hostile_text_stays_a_value():
    con = CaseConnection(duckdb.connect())
    con.execute("CREATE TABLE t (s VARCHAR)")
    evil = "x'); DROP TABLE t; --"
    con.execute("INSERT INTO t VALUES (?)", [evil])
    assert con.execute("SELECT s FROM t WHERE s = $s", {"s": evil}).fetchall() == [(evil,)]


@pytest.mark.parametrize(
    ("sql", "params", "message"),
    [
        ("SELECT ?, ?", [1], "more than 1 placeholders"),
        ("SELECT ?", [1, 2], "2 values for 1 placeholders"),
        ("SELECT $a", {"b": 1}, "no value given for $a"),
        ("SELECT $a", {"a": 1, "b": 2}, "values given for no placeholder: b"),
        ("SELECT ?", [object()], "cannot bind a parameter of type object"),
        ("SELECT ?", ["a\x00b"], "NUL"),
    ],
)
def test_misfits_are_errors(sql, params, message):
    with pytest.raises(ParameterError, match=message.replace("$", r"\$")):
        bind(sql, params)


def test_executemany_inserts_every_row_in_batches():
    con = CaseConnection(duckdb.connect())
    con.execute("CREATE TABLE t (i INTEGER, s VARCHAR, d DECIMAL(18,2))")
    rows = [(i, f"n'{i}", Decimal(i) / 100) for i in range(2500)]
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    assert con.execute("SELECT count(*), sum(i), sum(d), max(s) FROM t").fetchall() == [(2500, 3123750, Decimal("31237.50"), "n'999")]
    con.executemany("UPDATE t SET s = ? WHERE i = ?", [("one", 1), ("two", 2)])
    assert con.execute("SELECT s FROM t WHERE i IN (1, 2) ORDER BY i").fetchall() == [("one",), ("two",)]


def test_executemany_of_many_rows_through_arrow_gives_what_literals_give(monkeypatch):
    # From ARROW_ROWS rows on, the rows go to DuckDB as an Arrow table (a 10M case's
    # roster has 267,240 aliases: 9 s as literals). Every type rpa inserts must arrive
    # as the literals would put it, and a column pyarrow cannot type falls back to them.
    import analyzer.params as params

    schema = """CREATE TABLE t (id INTEGER, name VARCHAR, flag BOOLEAN, rank INTEGER, amount DECIMAL(18,2),
                                day DATE, seen TIMESTAMP, extra VARCHAR, nothing VARCHAR)"""
    rows = [(i, ["王'五", "a\nb", "", "引号'与\\反斜杠"][i % 4] + str(i), [True, False, None][i % 3], i if i % 5 else None,
             Decimal(i) / 100, "2026-02-17" if i % 2 else "2026-01-02", dt.datetime(2026, 1, 2, 3, 4, i % 60),
             '{"部门": "x"}' if i % 7 == 0 else None, None) for i in range(params.ARROW_ROWS + 7)]
    mixed = [(i, i if i % 2 else f"s{i}", None, None, None, None, None, None, None) for i in range(params.ARROW_ROWS)]
    taken, insert_arrow = [], CaseConnection._insert_arrow
    monkeypatch.setattr(CaseConnection, "_insert_arrow", lambda *a: taken.append(insert_arrow(*a)) or taken[-1])
    tables = []
    for arrow_rows in (params.ARROW_ROWS, 10**9):
        monkeypatch.setattr(params, "ARROW_ROWS", arrow_rows)
        con = CaseConnection(duckdb.connect())
        con.execute(schema)
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.executemany("INSERT INTO t (id, name, flag, rank, amount, day, seen, extra, nothing) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", mixed)
        tables.append(con.execute("SELECT * FROM t ORDER BY id, name").fetchall())
    assert taken == [True, False]  # the typed rows went as Arrow, the mixed column fell back
    assert tables[0] == tables[1]
    assert len(tables[0]) == len(rows) + len(mixed)
    first = next(r for r in tables[0] if r[1] == "王'五0")
    assert (True, Decimal("0.00"), dt.date(2026, 1, 2), '{"部门": "x"}') == tuple(first[i] for i in (2, 4, 5, 7))


def test_case_commands_that_need_no_pandas_do_not_import_it(tmp_path):
    """DuckDB's own binding imports pandas (a quarter second) on the first statement
    with parameters; init, ingest of a canonical file, status and people do without."""
    src = write_canonical(tmp_path / "m.csv", [
        {"txn_id": "A1", "ts": "2026-01-10 09:00:00", "payer": "a", "payee": "b", "amount": "5.00", "kind": "red_packet"},
        {"txn_id": "A2", "ts": "2026-01-10 09:00:00", "payer": "a", "payee": "b", "amount": "bad", "kind": "red_packet"},
    ])
    script = f"""
import sys
from typer.testing import CliRunner
from analyzer.cli import app
runner = CliRunner()
case = {str(tmp_path / 'case')!r}
codes = [runner.invoke(app, args).exit_code for args in (
    ["init", case], ["ingest", {str(src)!r}, "--case", case], ["status", "--case", case], ["people", "--case", case])]
print(codes, sorted(m for m in ("pandas", "numpy", "pyarrow") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[0, 1, 0, 0] []"


@pytest.mark.parametrize("size", [3, 10_001])
def test_list_parameters_short_and_long_give_the_same_rows(size):
    # Short lists become literals; long ones go to DuckDB's own binding (a literal of a
    # million values parses ten times slower). Both must give every value back.
    con = CaseConnection(duckdb.connect())
    values = [f"wxid_{i}'" for i in range(size)]
    rows = con.execute("SELECT count(*), count(DISTINCT v), max(v) FROM (SELECT unnest($a) AS v)", {"a": values}).fetchall()
    assert rows == [(size, size, max(values))]
