"""The scan table given_back: which gifts their receiver gave back, once for all rules
([giving_back] in rpa.toml)."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from analyzer.config import ConfigError, GivingBack, load_settings, parse_settings
from analyzer.scan import prepare
from tests.helpers import query, rpa
from tests.rule_world import build_case


def _t(txn_id, ts, payer, payee, amount, kind="transfer", **extra):
    return {"txn_id": txn_id, "ts": ts, "payer": payer, "payee": payee, "amount": amount, "kind": kind, **extra}


WORLD = {
    "persons": [
        {"person_id": "A", "name": "甲主任", "accounts": ["wx_a"], "party_member": True, "official": True},
        {"person_id": "B", "name": "乙", "accounts": ["wx_b"]},
        {"person_id": "C", "name": "丙", "accounts": ["wx_c"]},
        {"person_id": "D", "name": "丁", "accounts": ["wx_d"]},
        {"person_id": "E", "name": "戊", "accounts": ["wx_e"]},
    ],
    "relations": [{"person_id": "D", "other_id": "A", "relation": "subordinate"}],
    "transactions": [
        # returned the next day by an equal transfer
        _t("G1", "2026-06-02 10:00:00", "wx_b", "wx_a", 500),
        _t("R1", "2026-06-03 09:00:00", "wx_a", "wx_b", 500),
        # three 200-yuan packets given back as one 600-yuan transfer
        _t("G2", "2026-06-02 11:00:00", "wx_c", "wx_a", 200, "red_packet"),
        _t("G3", "2026-06-02 11:01:00", "wx_c", "wx_a", 200, "red_packet"),
        _t("G4", "2026-06-02 11:02:00", "wx_c", "wx_a", 200, "red_packet"),
        _t("R2", "2026-06-04 20:00:00", "wx_a", "wx_c", 600),
        # repaid after 10 days: kept (with the default 7 days)
        _t("G5", "2026-06-02 12:00:00", "wx_d", "wx_a", 300),
        _t("R5", "2026-06-12 12:00:00", "wx_a", "wx_d", 300),
        # refunded through a linked refund row: no gift at all
        _t("G6", "2026-06-02 13:00:00", "wx_e", "wx_a", 400),
        _t("R6", "2026-06-02 14:00:00", "wx_a", "wx_e", 400, "refund", refund_ref="G6"),
        # partly refunded (100 of 500): the 400 left is the gift, given back by 400
        _t("G7", "2026-06-05 13:00:00", "wx_e", "wx_a", 500),
        _t("R7a", "2026-06-05 14:00:00", "wx_a", "wx_e", 100, "refund", refund_ref="G7"),
        _t("R7b", "2026-06-06 14:00:00", "wx_a", "wx_e", 400),
        # the end of the data, so every gift above can be judged
        _t("Z1", "2026-07-30 12:00:00", "wx_b", "wx_c", 1),
    ],
}


def _given_back(case):
    """txn_id of each gift in given_back → (how, txn_ids of the payments back); the
    giving_back_settings row."""
    con = duckdb.connect(str(case / "rpa.duckdb"), read_only=True)
    try:
        prepare(con, load_settings(case))
        rows = con.execute(
            """SELECT m.txn_id, g.how, list_sort(list(b.txn_id))
               FROM given_back AS g
               JOIN mv AS m ON m.id = g.id
               CROSS JOIN unnest(g.back_ids) AS u(back_id)
               JOIN mv AS b ON b.id = u.back_id
               GROUP BY m.txn_id, g.how"""
        ).fetchall()
        settings = con.execute("SELECT return_days, return_tolerance FROM giving_back_settings").fetchall()
    finally:
        con.close()
    return {txn: (how, backs) for txn, how, backs in rows}, settings


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return build_case(tmp_path_factory.mktemp("gb") / "case", WORLD)


def test_given_back_by_value(case):
    given, settings = _given_back(case)
    assert given == {
        "G1": ("equal payment back", ["R1"]),
        "G2": ("payments back", ["R2"]),
        "G3": ("payments back", ["R2"]),
        "G4": ("payments back", ["R2"]),
        "G7": ("equal payment back", ["R7b"]),
    }
    # G5: paid back after 10 days, kept; G6: refunded in full, never a gift
    assert settings == [(7, Decimal("0.0500"))]


def test_return_days_setting_changes_the_ledger_and_the_rules(case):
    def unreturned():
        assert rpa("scan", "--rule", "unreturned_gift", "--case", case).exit_code == 0
        return [r[0] for r in query(
            case,
            """SELECT t.txn_id FROM findings f JOIN finding_evidence e ON e.finding_id = f.id
               JOIN transactions t ON t.id = e.transaction_id WHERE f.rule = 'unreturned_gift' AND NOT f.stale""",
        )]

    assert unreturned() == ["G5"]
    toml = case / "rpa.toml"
    before = toml.read_text(encoding="utf-8")
    try:
        toml.write_text(before + "\n[giving_back]\nreturn_days = 14\n", encoding="utf-8")
        given, settings = _given_back(case)
        assert given["G5"] == ("equal payment back", ["R5"])
        assert settings[0][0] == 14
        assert unreturned() == []
        reason = query(case, "SELECT reason_en FROM findings WHERE rule = 'unreturned_gift'")[0][0]
        assert "within 7 days" in reason  # the stale finding keeps the reason it was given with
    finally:
        toml.write_text(before, encoding="utf-8")


def test_giving_back_settings_are_validated():
    assert parse_settings({}).giving_back == GivingBack(7, Decimal("0.05"))
    assert parse_settings({"giving_back": {"return_days": 3, "return_tolerance": 0.1}}).giving_back == GivingBack(3, Decimal("0.1"))
    for bad in ({"return_days": -1}, {"return_days": 2.5}, {"return_days": True}, {"return_tolerance": 1.5},
                {"return_tolerance": "5%"}, {"return_tolerance": 0.123456}, {"days": 7}):
        with pytest.raises(ConfigError, match=r"\[giving_back\]"):
            parse_settings({"giving_back": bad})
    with pytest.raises(ConfigError, match=r"\[giving_back\] must be a table"):
        parse_settings({"giving_back": 7})
