"""The roster: loading people and relations, aliases resolving accounts to persons."""

from __future__ import annotations

import json

import pytest

from tests.helpers import query, rpa, write_canonical

PEOPLE = """person_id,name,accounts,party_member,official,org_unit,position,rank,phone
P001,王建国,wxid_wang01;老王;ＷＡＮＧ　Ｊｉａｎ,是,是,古云村党支部,支部书记,3,13800000000
P002,李红,wxid_lihong;红姐,yes,no,古云村党支部,党员,,
P003,张老板,zhang_boss;张总,0,false,,个体户,,
"""
RELATIONS = """person_id,other_id,relation,since
P003,P001,service_object,2024
P002,P001,subordinate,
"""


@pytest.fixture
def case(tmp_path):
    folder = tmp_path / "case"
    rpa("init", folder)
    return folder


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_roster_loads_people_relations_and_extra_columns(case, tmp_path):
    people = write(tmp_path / "people.csv", PEOPLE)
    relations = write(tmp_path / "relations.csv", RELATIONS)
    result = rpa("roster", people, "--relations", relations, "--case", case)
    assert result.exit_code == 0, result.output
    assert "3 persons" in result.stdout and "2 relations" in result.stdout
    assert query(case, "SELECT person_id, name, party_member, official, org_unit, position, rank FROM persons ORDER BY 1") == [
        ("P001", "王建国", True, True, "古云村党支部", "支部书记", 3),
        ("P002", "李红", True, False, "古云村党支部", "党员", None),
        ("P003", "张老板", False, False, None, "个体户", None),
    ]
    assert json.loads(query(case, "SELECT extra FROM persons WHERE person_id = 'P001'")[0][0]) == {"phone": "13800000000"}
    assert query(case, "SELECT person_id, other_id, relation, extra FROM relations ORDER BY 1") == [
        ("P002", "P001", "subordinate", '{"since": ""}'),
        ("P003", "P001", "service_object", '{"since": "2024"}'),
    ]
    # the real name is an alias too
    assert ("P001", "王建国") in query(case, "SELECT person_id, alias FROM person_accounts")


def test_gbk_roster_loads(case, tmp_path):
    people = write(tmp_path / "people.csv", PEOPLE, encoding="gbk")
    assert rpa("roster", people, "--case", case).exit_code == 0
    assert query(case, "SELECT name FROM persons WHERE person_id = 'P001'") == [("王建国",)]


def test_accounts_resolve_through_normalised_aliases(case, tmp_path):
    # Ingest first, roster after: accounts already seen are resolved on roster load.
    rows = [
        {"txn_id": "1", "ts": "2026-01-20 10:00:00", "payer": "zhang_boss", "payee": "WANG Jian", "amount": "200.00", "kind": "red_packet"},
        {"txn_id": "2", "ts": "2026-01-20 10:01:00", "payer": "張總", "payee": "老王", "amount": "200.00", "kind": "red_packet"},
        {"txn_id": "3", "ts": "2026-01-20 10:02:00", "payer": "stranger", "payee": "wxid_lihong", "amount": "5.00", "kind": "transfer"},
    ]
    rpa("ingest", write_canonical(tmp_path / "m.csv", rows), "--case", case)
    rpa("roster", write(tmp_path / "people.csv", PEOPLE), "--case", case)
    resolved = query(case, "SELECT txn_id, payer_person, payee_person FROM movements ORDER BY txn_id")
    # 'WANG Jian' matches the full-width alias 'ＷＡＮＧ　Ｊｉａｎ' after NFKC and space removal;
    # '張總' (traditional characters) is not an alias: it stays an account.
    assert resolved == [("1", "P003", "P001"), ("2", None, "P001"), ("3", None, "P002")]
    listing = rpa("people", "--case", case)
    assert listing.exit_code == 0
    line = next(l for l in listing.stdout.splitlines() if "P001" in l)
    assert line.rstrip().rstrip("│").split("│")[-1].strip() == "2"  # P001 takes part in 2 movements


def test_roster_before_ingest_resolves_new_accounts(case, tmp_path):
    rpa("roster", write(tmp_path / "people.csv", PEOPLE), "--case", case)
    rows = [{"txn_id": "1", "ts": "2026-01-20 10:00:00", "payer": "红姐", "payee": "wxid_wang01", "amount": "8.88"}]
    rpa("ingest", write_canonical(tmp_path / "m.csv", rows), "--case", case)
    assert query(case, "SELECT payer_person, payee_person FROM movements") == [("P002", "P001")]


def test_alias_claimed_twice_resolves_to_nobody(case, tmp_path):
    people = PEOPLE + "P004,王建国,wxid_other,no,no,,,,\n"  # same real name as P001
    result = rpa("roster", write(tmp_path / "people.csv", people), "--case", case)
    assert result.exit_code == 0
    assert "alias 王建国 (P001, P004)" in result.stderr
    rows = [{"txn_id": "1", "ts": "2026-01-20 10:00:00", "payer": "王建国", "payee": "wxid_other", "amount": "1"}]
    rpa("ingest", write_canonical(tmp_path / "m.csv", rows), "--case", case)
    assert query(case, "SELECT payer_person, payee_person FROM movements") == [(None, "P004")]


def test_roster_replaces_the_previous_one(case, tmp_path):
    rpa("roster", write(tmp_path / "people.csv", PEOPLE), "--relations", write(tmp_path / "r.csv", RELATIONS), "--case", case)
    rpa("roster", write(tmp_path / "people2.csv", "person_id,name\nP009,新人\n"), "--case", case)
    assert query(case, "SELECT person_id FROM persons") == [("P009",)]
    assert query(case, "SELECT count(*) FROM relations") == [(0,)]


@pytest.mark.parametrize(
    "people, relations, message",
    [
        ("person_id,name\nP1,a\nP1,b\n", None, "people.csv:3: person_id P1 already on line 2"),
        ("person_id,official\nP1,maybe\n", None, "people.csv:2: official must be yes/no"),
        ("person_id,rank\nP1,high\n", None, "people.csv:2: rank must be an integer"),
        ("name\n张三\n", None, "people file lacks the column(s) person_id"),
        ("person_id,name\nP1,a\n", "person_id,other_id,relation\nP1,P2,family\n", "relations.csv:2: other_id 'P2' is not in people.csv"),
        ("person_id,name\nP1,a\nP2,b\n", "person_id,other_id,relation\nP1,P2,boss\n", "relations.csv:2: relation must be one of"),
        ("person_id,name\nP1,a,extra\n", None, "people.csv:2: 2 columns expected, 3 found"),
    ],
)
def test_bad_roster_is_one_error_line_and_keeps_the_old_roster(case, tmp_path, people, relations, message):
    rpa("roster", write(tmp_path / "good.csv", PEOPLE), "--case", case)
    args = ["roster", write(tmp_path / "people.csv", people)]
    if relations:
        args += ["--relations", write(tmp_path / "relations.csv", relations)]
    result = rpa(*args, "--case", case)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert query(case, "SELECT count(*) FROM persons") == [(3,)]
