"""The scan table given_back: which gifts their receiver gave back, once for all rules
([giving_back] in rpa.toml)."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from analyzer.config import (
    AaShares,
    ConfigError,
    GivingBack,
    load_settings,
    parse_settings,
)
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


# ---- the gifts and aa_shares tables, and the AA words as a case setting ([aa_shares])

GIFT_WORLD = {
    "persons": [
        {"person_id": "A", "name": "甲主任", "accounts": ["wx_a"], "party_member": True, "official": True},
        {"person_id": "W", "name": "甲妻", "accounts": ["wx_w"]},
        {"person_id": "D", "name": "丁", "accounts": ["wx_d"]},
        {"person_id": "K", "name": "钱", "accounts": ["wx_k"]},
        {"person_id": "S", "name": "孙候选", "accounts": ["wx_s"]},
        *({"person_id": f"M{i}", "name": f"党员{i}", "accounts": [f"wx_m{i}"], "party_member": True, "org_unit": "某村党支部"}
          for i in range(1, 6)),
    ],
    "relations": [
        {"person_id": "D", "other_id": "A", "relation": "subordinate"},
        {"person_id": "W", "other_id": "A", "relation": "family"},
    ],
    "windows": [{"name": "换届", "kind": "election", "start": "2026-01-05", "end": "2026-03-31", "org_unit": "某村党支部"}],
    "transactions": [
        # five members each send S 10 ("a loan") and S sends each 200 the next day
        *(_t(f"B{i}", f"2026-03-02 09:0{i}:00", f"wx_m{i}", "wx_s", 10) for i in range(1, 6)),
        *(_t(f"E{i}", f"2026-03-03 20:0{i}:00", "wx_s", f"wx_m{i}", 200) for i in range(1, 6)),
        # a member's loan to S 12 days before the window: inside twice return_days
        _t("N3", "2025-12-24 10:00:00", "wx_m2", "wx_s", 30),
        # a member's payment to S half a year before the window, and one between two
        # people no rule asks about: not gifts a rule can use
        _t("N2", "2025-06-01 10:00:00", "wx_m1", "wx_s", 20),
        _t("N1", "2026-06-01 10:00:00", "wx_k", "wx_s", 50),
        # to the official: pending (not accepted), partly refunded (400 left), from his
        # wife (family), a group-packet share, a shop payment
        _t("N4", "2026-04-10 10:00:00", "wx_s", "wx_a", 100, status="pending"),
        _t("N5", "2026-04-11 10:00:00", "wx_k", "wx_a", 500),
        _t("N5r", "2026-04-11 11:00:00", "wx_a", "wx_k", 100, "refund", refund_ref="N5"),
        _t("N6", "2026-04-12 10:00:00", "wx_w", "wx_a", 1000),
        _t("N7", "2026-04-13 10:00:00", "wx_k", "wx_a", 8.8, "group_red_packet", packet_id="GP1"),
        _t("N8", "2026-04-14 10:00:00", "wx_k", "某超市", 88, "merchant"),
        # the subordinate pays the official: 饭钱 (a meal word, by default an AA word) and an AA share
        _t("X1", "2026-04-01 12:00:00", "wx_d", "wx_a", 80, memo="饭钱"),
        _t("X2", "2026-04-02 12:00:00", "wx_d", "wx_a", 300, memo="聚餐aa"),
        _t("Z1", "2026-07-30 12:00:00", "wx_k", "某超市", 1, "merchant"),
    ],
}


@pytest.fixture(scope="module")
def gift_case(tmp_path_factory):
    return build_case(tmp_path_factory.mktemp("gifts") / "case", GIFT_WORLD)


def _scan_tables(case, sql):
    con = duckdb.connect(str(case / "rpa.duckdb"), read_only=True)
    try:
        prepare(con, load_settings(case))
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_gifts_table_by_value(gift_case):
    rows = _scan_tables(gift_case, """SELECT m.txn_id, g.kind, g.giver, g.receiver, g.amount, g.aa
                                      FROM gifts AS g JOIN mv AS m ON m.id = g.id ORDER BY m.txn_id""")
    D = Decimal
    assert rows == [
        *((f"B{i}", "transfer", f"M{i}", "S", D("10.00"), False) for i in range(1, 6)),   # voters around the window
        *((f"E{i}", "transfer", "S", f"M{i}", D("200.00"), False) for i in range(1, 6)),  # to Party members
        ("N3", "transfer", "M2", "S", D("30.00"), False),
        ("N5", "transfer", "K", "A", D("400.00"), False),                               # net of its refund
        ("N7", "group_red_packet", "K", "A", D("8.80"), False),
        ("X1", "transfer", "D", "A", D("80.00"), True),
        ("X2", "transfer", "D", "A", D("300.00"), True),
    ]
    # the members' payments to S are in the giving-back ledger: S's 200s give them back
    # in bulk (200 ≥ 10), which is why election_mass_transfer caps bulk repayments
    given = _scan_tables(gift_case, "SELECT m.txn_id, g.how FROM given_back AS g JOIN mv AS m ON m.id = g.id ORDER BY 1")
    assert given == [(f"B{i}", "payments back") for i in range(1, 6)]


def test_a_repayment_of_twenty_times_the_loan_still_buys_votes(gift_case):
    assert rpa("scan", "--rule", "election_mass_transfer", "--case", gift_case).exit_code == 0
    found = query(gift_case, """SELECT f.subject, list_sort(list(t.txn_id)) FROM findings f
                                JOIN finding_evidence e ON e.finding_id = f.id JOIN transactions t ON t.id = e.transaction_id
                                WHERE f.rule = 'election_mass_transfer' AND NOT f.stale GROUP BY f.subject""")
    assert found == [("S", [f"E{i}" for i in range(1, 6)])]


def test_aa_shares_setting_changes_what_every_rule_leaves_out(gift_case):
    def unreturned():
        assert rpa("scan", "--rule", "unreturned_gift", "--case", gift_case).exit_code == 0
        return query(gift_case, """SELECT list_sort(list(t.txn_id)) FROM findings f JOIN finding_evidence e ON e.finding_id = f.id
                                   JOIN transactions t ON t.id = e.transaction_id
                                   WHERE f.rule = 'unreturned_gift' AND NOT f.stale AND f.subject = 'A'""")

    aa = "SELECT m.txn_id FROM aa_shares AS a JOIN mv AS m ON m.id = a.id ORDER BY 1"
    assert _scan_tables(gift_case, aa) == [("X1",), ("X2",)]  # 饭钱; 'aa' matches AA: case-insensitive
    assert _scan_tables(gift_case, "SELECT words, max_amount, by_shape, min_repeats FROM aa_settings") == [
        (["AA", "群收款", "均摊", "分摊", "平摊", "饭钱", "饭费", "午饭", "午餐", "晚饭", "晚餐", "早餐", "餐费", "车费", "打车",
          "油费", "停车费"], Decimal("500.00"), True, 2)]
    assert unreturned() == [(None,)]  # both left out: no finding
    toml = gift_case / "rpa.toml"
    before = toml.read_text(encoding="utf-8")
    try:
        toml.write_text(before + '\n[aa_shares]\nwords = ["饭钱", "^AA"]\nmax_amount = 100\n', encoding="utf-8")
        # 饭钱 80 is now a share; 聚餐aa neither starts with AA nor fits 100 yuan
        assert _scan_tables(gift_case, aa) == [("X1",)]
        assert unreturned() == [(["X2"],)]
        toml.write_text(before + '\n[aa_shares]\nwords = ["(?<=x)AA"]\n', encoding="utf-8")
        bad = rpa("scan", "--rule", "unreturned_gift", "--case", gift_case)
        assert bad.exit_code == 2 and "[aa_shares]" in bad.stderr and "Traceback" not in bad.output
    finally:
        toml.write_text(before, encoding="utf-8")


def test_aa_shares_settings_are_validated():
    assert parse_settings({}).aa_shares == AaShares(("AA", "群收款", "均摊", "分摊", "平摊", "饭钱", "饭费", "午饭", "午餐", "晚饭",
                                                     "晚餐", "早餐", "餐费", "车费", "打车", "油费", "停车费"), Decimal(500), True, 2)
    assert parse_settings({"aa_shares": {"by_shape": False, "min_repeats": 4}}).aa_shares.min_repeats == 4
    assert parse_settings({"aa_shares": {"words": ["AA", "党费"], "max_amount": 200.5}}).aa_shares == AaShares(("AA", "党费"), Decimal("200.5"))
    for bad in ({"words": []}, {"words": "AA"}, {"words": ["AA", ""]}, {"words": ["(AA"]}, {"max_amount": -1},
                {"max_amount": "500"}, {"max_amount": 1.234}, {"max_amount": True}, {"limit": 5},
                {"by_shape": "yes"}, {"min_repeats": 0}, {"min_repeats": 2.5}):
        with pytest.raises(ConfigError, match=r"\[aa_shares\]"):
            parse_settings({"aa_shares": bad})
    with pytest.raises(ConfigError, match=r"\[aa_shares\] must be a table"):
        parse_settings({"aa_shares": ["AA"]})
