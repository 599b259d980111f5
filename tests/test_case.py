"""The case: init, finding it (--case, RPA_CASE, current folder), schema versions."""

from __future__ import annotations

import duckdb
import pytest

from analyzer.db import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version, unordered
from analyzer.errors import RpaError
from tests.helpers import query, rpa


def test_init_creates_database_and_commented_config(tmp_path):
    case = tmp_path / "case1"
    result = rpa("init", case)
    assert result.exit_code == 0
    assert (case / "rpa.duckdb").is_file()
    config = (case / "rpa.toml").read_text(encoding="utf-8")
    assert "[[windows]]" in config and "[[events]]" in config
    assert all(line.startswith("#") or not line.strip() for line in config.splitlines())
    tables = {r[0] for r in query(case, "SELECT table_name FROM information_schema.tables")}
    assert {"sources", "transactions", "rejects", "duplicates", "persons", "accounts", "person_accounts", "relations", "meta"} <= tables
    assert query(case, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


def test_init_twice_keeps_the_case(tmp_path):
    rpa("init", tmp_path)
    (tmp_path / "rpa.toml").write_text("# mine\n", encoding="utf-8")
    result = rpa("init", tmp_path)
    assert result.exit_code == 0 and "already holds a case" in result.stdout
    assert (tmp_path / "rpa.toml").read_text(encoding="utf-8") == "# mine\n"


def test_command_without_case_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RPA_CASE", raising=False)
    result = rpa("status")
    assert result.exit_code == 2
    assert "no rpa case in" in result.stderr and "rpa init" in result.stderr
    assert "Traceback" not in result.output


def test_case_option_and_env_pick_the_case(tmp_path, monkeypatch):
    rpa("init", tmp_path / "a")
    monkeypatch.chdir(tmp_path)
    assert rpa("status", "--case", tmp_path / "a").exit_code == 0
    assert rpa("status", env={"RPA_CASE": str(tmp_path / "a")}).exit_code == 0
    assert rpa("status", env={"RPA_CASE": str(tmp_path / "missing")}).exit_code == 2


def test_current_folder_is_the_default_case(tmp_path, monkeypatch):
    rpa("init", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RPA_CASE", raising=False)
    result = rpa("status")
    assert result.exit_code == 0
    assert "0 sources, 0 movements" in result.stdout


def test_migrations_bring_an_old_case_up_to_date(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    assert schema_version(con) == 0
    assert migrate(con) == len(MIGRATIONS)
    assert schema_version(con) == SCHEMA_VERSION
    assert migrate(con) == 0  # nothing to do the second time


def test_case_from_a_newer_rpa_is_refused(tmp_path):
    con = duckdb.connect(str(tmp_path / "new.duckdb"))
    migrate(con)
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(RpaError, match="newer than this rpa"):
        migrate(con)


def test_unordered_statements_put_back_the_insertion_order_they_found():
    con = duckdb.connect()

    def keeps_order() -> bool:
        return con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]

    assert keeps_order() is True
    with unordered(con):
        assert keeps_order() is False
        with unordered(con):  # nested: the inner block must not give the order back early
            assert keeps_order() is False
        assert keeps_order() is False
    assert keeps_order() is True
    try:
        with unordered(con):
            raise KeyError("a failed statement")
    except KeyError:
        pass
    assert keeps_order() is True
    con.execute("SET preserve_insertion_order = false")
    with unordered(con):
        pass
    assert keeps_order() is False


def test_a_case_of_schema_10_keeps_its_rows_and_loses_the_keys_of_the_tables_that_grow(tmp_path):
    """Migration 11: sources, audit_log and accounts lose their PRIMARY KEY (DuckDB
    rewrote a keyed table whole at each checkpoint), with every row as it was; the
    audit chain stays intact and the next file takes the next source id."""
    from tests.helpers import write_canonical

    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    rows = [{"txn_id": f"T{i}", "ts": f"2026-01-02 10:00:0{i}", "payer": "甲", "payee": "乙", "amount": "1.00"} for i in range(3)]
    assert rpa("ingest", write_canonical(tmp_path / "a.csv", rows), "--case", case).exit_code == 0
    keyed = {"sources": "source_id", "audit_log": "seq", "accounts": "account"}
    con = duckdb.connect(str(case / "rpa.duckdb"))
    before = {}
    for table, key in keyed.items():
        before[table] = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        ddl = con.execute(f"SELECT sql FROM duckdb_tables() WHERE table_name = '{table}'").fetchall()[0][0]
        ddl = ddl.replace(f"CREATE TABLE {table}(", f"CREATE TABLE {table}_10(").replace(");", f", PRIMARY KEY ({key}));")
        con.execute(ddl)
        con.execute(f"INSERT INTO {table}_10 SELECT * FROM {table}")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}_10 RENAME TO {table}")
    assert len(con.execute("SELECT * FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
                           "AND table_name IN ('sources', 'audit_log', 'accounts')").fetchall()) == 3
    con.execute("UPDATE meta SET value = '10' WHERE key = 'schema_version'")
    con.close()

    assert rpa("status", "--case", case).exit_code == 0  # migrates
    assert query(case, "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
                       "AND table_name IN ('sources', 'audit_log', 'accounts')") == [(0,)]
    for table in keyed:
        assert query(case, f"SELECT * FROM {table} ORDER BY ALL") == before[table], table
    assert rpa("verify", "--case", case).exit_code == 0
    more = [{"txn_id": "T9", "ts": "2026-01-03 10:00:00", "payer": "乙", "payee": "丙", "amount": "2.00"}]
    assert rpa("ingest", write_canonical(tmp_path / "b.csv", more), "--case", case).exit_code == 0
    assert query(case, "SELECT source_id FROM sources ORDER BY 1") == [(1,), (2,)]
    assert query(case, "SELECT count(*), count(DISTINCT account) FROM accounts") == [(3, 3)]
    assert rpa("verify", "--case", case).exit_code == 0
