"""Policy over the whole rule library, and the loader's checks."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sqlglot

from analyzer.paths import queries_dir
from analyzer.rules import RuleError, load_rules, parse_rule, resolve_params
from tests.rule_world import CASES

CONTRACT_IDS = {
    "election_mass_transfer", "off_festival_gift", "festival_gift_to_official", "split_packets", "red_packet_gambling",
    "unreturned_gift", "fan_in_to_official", "proxy_receipt", "official_side_business", "gift_card",
}
RULE_FILES = sorted(queries_dir().glob("*.sql"))

GOOD_HEADER = """-- title = "t"
-- title_zh = "标题"
-- severity = "low"
-- regulation = "r"
-- rationale = "why"
-- false_positives = ["x"]
-- reason_zh = "{n} 次"
-- reason_en = "{n} times"
-- [params.min_n]
-- default = 2
-- description = "d"
"""


def test_the_contract_rules_are_all_there():
    assert CONTRACT_IDS <= {p.stem for p in RULE_FILES}


def test_only_sql_files_in_queries():
    assert all(p.suffix == ".sql" for p in queries_dir().iterdir() if p.is_file())


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_rule_loads_and_explains_itself(path):
    rule = parse_rule(path)
    assert rule.title and rule.title_zh and rule.regulation and len(rule.rationale) > 40
    assert rule.false_positives
    for p in rule.params:
        assert p.description
        assert not isinstance(p.default, float), "money and ratios are Decimal"


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_rule_has_a_case_file(path):
    assert (CASES / f"{path.stem}.toml").is_file()


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_rule_sql_transpiles_to_spark(path):
    # A later step runs the same rules on Spark: the SQL must stay portable.
    rule = parse_rule(path)
    out = sqlglot.transpile(rule.sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
    assert len(out) == 1 and out[0].strip()


def test_titles_are_unique():
    rules = load_rules()
    titles = [r.title for r in rules.values()]
    assert len(titles) == len(set(titles))


def write_rule(folder: Path, name: str, header: str, sql: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.sql"
    path.write_text(header + sql, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "header, sql, message",
    [
        (GOOD_HEADER, "SELEC 1", "DuckDB cannot parse the SQL"),
        (GOOD_HEADER, "SELECT $min_n AS n; SELECT 2", "exactly one statement"),
        (GOOD_HEADER, "DELETE FROM mv WHERE $min_n = 1", "must be a SELECT"),
        (GOOD_HEADER, "SELECT $min_n AS n, $other AS o", "undeclared parameter(s) other"),
        (GOOD_HEADER, "SELECT 1 AS n", "declares unused parameter(s) min_n"),
        (GOOD_HEADER.replace('-- severity = "low"\n', ""), "SELECT $min_n", "the header lacks severity"),
        (GOOD_HEADER.replace('"low"', '"urgent"'), "SELECT $min_n", "severity must be one of"),
        ("-- title = \n", "SELECT 1", "the header is not TOML"),
    ],
)
def test_bad_rule_is_refused_with_file_and_reason(tmp_path, header, sql, message):
    path = write_rule(tmp_path, "my_rule", header, sql)
    with pytest.raises(RuleError) as err:
        parse_rule(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_rule_file_name_must_be_an_id(tmp_path):
    path = write_rule(tmp_path, "My-Rule", GOOD_HEADER, "SELECT $min_n")
    with pytest.raises(RuleError, match="rule id"):
        parse_rule(path)


def test_rules_dir_adds_rules_and_refuses_a_clash(tmp_path):
    write_rule(tmp_path / "mine", "my_rule", GOOD_HEADER, "SELECT $min_n AS n")
    rules = load_rules([tmp_path / "mine"])
    assert "my_rule" in rules and CONTRACT_IDS <= set(rules)
    write_rule(tmp_path / "clash", "split_packets", GOOD_HEADER, "SELECT $min_n AS n")
    with pytest.raises(RuleError, match="already defined"):
        load_rules([tmp_path / "clash"])


def test_parameters_defaults_then_case_then_command_line(tmp_path):
    write_rule(tmp_path, "my_rule", GOOD_HEADER + "-- [params.ratio]\n-- default = 0.9\n-- description = \"r\"\n", "SELECT $min_n AS n, $ratio AS r")
    rules = {"my_rule": parse_rule(tmp_path / "my_rule.sql")}
    assert resolve_params(rules, {}, []) == {"my_rule": {"min_n": 2, "ratio": Decimal("0.9")}}
    assert resolve_params(rules, {"my_rule": {"min_n": 4}}, [])["my_rule"]["min_n"] == 4
    assert resolve_params(rules, {"my_rule": {"min_n": 4}}, ["my_rule.min_n=7", "my_rule.ratio=0.85"])["my_rule"] == {
        "min_n": 7, "ratio": Decimal("0.85")
    }
    for bad, message in [
        ("my_rule.min_n=seven", "is not a whole number"),
        ("my_rule.nope=1", "has no parameter 'nope'"),
        ("other.min_n=1", "no rule 'other'"),
        ("min_n=1", "RULE.KEY=VALUE"),
    ]:
        with pytest.raises(RuleError, match=message):
            resolve_params(rules, {}, [bad])
    with pytest.raises(RuleError, match=r"\[rules.nope\] names no known rule"):
        resolve_params(rules, {"nope": {"x": 1}}, [])


LABELLED = GOOD_HEADER.replace('-- reason_en = "{n} times"\n', '-- reason_en = "{n} times"\n-- internal = ["note_zh"]\n') + """-- [labels.n]
-- zh = "次数"
-- en = "Times"
-- [labels.nights]
-- zh = "各晚"
-- en = "Per night"
-- [labels.nights.rounds]
-- zh = "轮数"
-- en = "Rounds"
"""
FIGURES_SQL = """SELECT 'P1' AS subject, ['P2'] AS counterparties, NULL AS window_name, NULL AS start_ts, NULL AS end_ts,
       0 AS total_amount, 1 AS txn_count, [id] AS evidence, 50 AS score, $min_n AS n, 'x' AS note_zh{extra}
FROM mv"""


def _scan_with(tmp_path, header: str, extra: str = ""):
    from tests.helpers import rpa, write_canonical

    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    rows = [{"txn_id": "T1", "ts": "2026-03-01 10:00:00", "payer": "a", "payee": "b", "amount": "5.00", "kind": "transfer"}]
    assert rpa("ingest", write_canonical(tmp_path / "m.csv", rows), "--case", case).exit_code == 0
    write_rule(tmp_path / "mine", "my_rule", header, FIGURES_SQL.format(extra=extra))
    return case, rpa("scan", "--rule", "my_rule", "--rules-dir", tmp_path / "mine", "--case", case)


def test_scan_refuses_a_figure_without_a_label(tmp_path):
    # a column that is neither labelled nor internal, and a key of a column of rows that is not
    _, result = _scan_with(tmp_path, LABELLED, ", 7 AS n_rounds")
    assert result.exit_code == 2 and "n_rounds" in result.stderr and "no label" in result.stderr
    _, result = _scan_with(tmp_path / "b", LABELLED, ", [struct_pack(rounds := 3, stake := 100)] AS nights")
    assert result.exit_code == 2 and "nights.stake" in result.stderr


def test_labels_need_both_languages(tmp_path):
    path = write_rule(tmp_path, "my_rule", GOOD_HEADER + '-- [labels.n]\n-- zh = "次数"\n', "SELECT $min_n AS n")
    with pytest.raises(RuleError, match=r"\[labels.n\] needs zh and en"):
        parse_rule(path)


def test_figure_rows_label_in_header_order_and_leave_internal_out(tmp_path):
    from analyzer.rules import figure_rows

    rule = parse_rule(write_rule(tmp_path, "my_rule", LABELLED, "SELECT $min_n AS n"))
    metrics = {"nights": [{"rounds": 3}, {"rounds": 5}], "note_zh": "x", "n": 2, "unknown": 1}
    assert figure_rows(rule, metrics, "zh") == [("次数", 2), ("各晚", [{"轮数": 3}, {"轮数": 5}])]
    assert figure_rows(rule, metrics, "en") == [("Times", 2), ("Per night", [{"Rounds": 3}, {"Rounds": 5}])]


def test_every_shipped_rule_labels_its_figures(tmp_path):
    # each shipped rule runs on an empty case: the scan's label check passes for all
    from tests.helpers import rpa, write_canonical

    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    rows = [{"txn_id": "T1", "ts": "2026-03-01 10:00:00", "payer": "a", "payee": "b", "amount": "5.00", "kind": "transfer"}]
    assert rpa("ingest", write_canonical(tmp_path / "m.csv", rows), "--case", case).exit_code == 0
    result = rpa("scan", "--case", case)
    assert result.exit_code == 0, result.output


def test_money_thresholds_are_one_exact_type_from_every_source():
    """A money or ratio threshold binds as the same DECIMAL whether it comes from the
    rule's default, rpa.toml (integer or float) or --param (any spelling): never DOUBLE."""
    import duckdb

    from analyzer.params import CaseConnection
    from analyzer.rules import EXACT_TYPE

    rules = load_rules()
    con = CaseConnection(duckdb.connect())

    def bound(params: dict, key: str) -> tuple:
        return con.execute(f"SELECT typeof(${key}), CAST(${key} AS VARCHAR)", {key: params[key]}).fetchall()[0]

    sources = {
        "default": resolve_params(rules, {}, [])["split_packets"],
        "toml int": resolve_params(rules, {"split_packets": {"cap": 200}}, [])["split_packets"],
        "toml float": resolve_params(rules, {"split_packets": {"cap": 200.0}}, [])["split_packets"],
        "param": resolve_params(rules, {}, ["split_packets.cap=200"])["split_packets"],
        "param 2 places": resolve_params(rules, {}, ["split_packets.cap=200.00"])["split_packets"],
    }
    seen = {name: bound(p, "cap") for name, p in sources.items()}
    assert set(seen.values()) == {(EXACT_TYPE, "200.000000")}, seen
    ratios = {name: bound(p, "near_ratio") for name, p in {
        "default": resolve_params(rules, {}, [])["split_packets"],
        "toml": resolve_params(rules, {"split_packets": {"near_ratio": 0.8}}, [])["split_packets"],
        "param": resolve_params(rules, {}, ["split_packets.near_ratio=.80"])["split_packets"],
    }.items()}
    assert set(ratios.values()) == {(EXACT_TYPE, "0.800000")}, ratios
    # a list of multiples: exact elements from every source too (it was DOUBLE[] or VARCHAR[])
    lists = {name: bound(p, "payout_multiples") for name, p in {
        "default": resolve_params(rules, {}, [])["red_packet_gambling"],
        "toml": resolve_params(rules, {"red_packet_gambling": {"payout_multiples": [1, 1.5]}}, [])["red_packet_gambling"],
        "param": resolve_params(rules, {}, ["red_packet_gambling.payout_multiples=1,1.5"])["red_packet_gambling"],
    }.items()}
    assert {t for t, _ in lists.values()} == {EXACT_TYPE + "[]"}, lists
    assert lists["toml"] == lists["param"] == (EXACT_TYPE + "[]", "[1.000000, 1.500000]")
    # 0.1 + 0.2 is exactly 0.3 at the threshold: no float on the way
    p = resolve_params(rules, {"split_packets": {"near_ratio": 0.1}}, [])["split_packets"]
    assert con.execute("SELECT $r + 0.2 = 0.3", {"r": p["near_ratio"]}).fetchall()[0][0] is True
    # what cannot be exact is refused with one line
    for bad, message in [
        (["split_packets.cap=abc"], "is not a number"),
        (["split_packets.cap=1e30"], "out of range"),
        (["split_packets.near_ratio=0.12345678"], "more than 6 decimals"),
        (["split_packets.cap=nan"], "out of range"),
    ]:
        with pytest.raises(RuleError, match=message):
            resolve_params(rules, {}, bad)
    with pytest.raises(RuleError, match="must be a number"):
        resolve_params(rules, {"split_packets": {"cap": "200"}}, [])
    with pytest.raises(RuleError, match="whole number"):
        resolve_params(rules, {"split_packets": {"min_packets": 3.5}}, [])
