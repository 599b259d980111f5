"""Each finding says, where it means something, how far it is from the person's own
habit, with figures from the case: gifts from subordinates this month ¥3,000, 6× his
monthly average over the year before (¥500)."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.helpers import query, rpa
from tests.rule_world import build_case

PERSONS = [
    {"person_id": "P1", "name": "周志明", "accounts": ["wx_zhou"], "party_member": True, "official": True,
     "org_unit": "县住建局", "position": "局长", "rank": 5},
    {"person_id": "S1", "name": "下属甲", "accounts": ["wx_s1"]},
    {"person_id": "S2", "name": "下属乙", "accounts": ["wx_s2"]},
]
RELATIONS = [{"person_id": "S1", "other_id": "P1", "relation": "subordinate"},
             {"person_id": "S2", "other_id": "P1", "relation": "subordinate"}]


def tx(txn, ts, payer, amount):
    return {"txn_id": txn, "ts": ts, "payer": payer, "payee": "wx_zhou", "amount": amount, "kind": "transfer"}


def scan(tmp_path, transactions, rule="unreturned_gift"):
    case = build_case(tmp_path / "case", {"persons": PERSONS, "relations": RELATIONS, "transactions": transactions + [
        {"txn_id": "END", "ts": "2026-03-31 09:00:00", "payer": "wx_zhou", "payee": "某超市", "amount": 9, "kind": "merchant"}]})
    assert rpa("scan", "--rule", rule, "--case", case).exit_code == 0
    return {cps[0]: (zh, en, json.loads(m)) for cps, zh, en, m in
            query(case, "SELECT counterparties, reason_zh, reason_en, metrics FROM findings WHERE rule = ?", [rule])}


def test_this_months_gifts_against_the_monthly_average_of_the_year_before(tmp_path):
    # S1 gives ¥500 a month through 2025 (on a working day that is no festival); in
    # January 2026 S2 gives ¥3,000 in fifteen 200-yuan packets
    year = [tx(f"A{m:02d}", f"2025-{m:02d}-{'26' if m in (5, 9, 10) else '16'} 20:00:00", "wx_s1", 500) for m in range(1, 13)]
    january = [tx(f"B{d:02d}", f"2026-01-{d:02d} 21:00:00", "wx_s2", 200) for d in range(6, 21)]
    found = scan(tmp_path, year + january)
    zh, en, m = found["S2"]
    assert "当月（2026-01）共收受下属、管理服务对象红包、转账¥3,000，为其此前12个月月均（¥500）的6倍" in zh
    assert "in 2026-01 he received from subordinates and service objects ¥3,000, 6× the monthly average of the 12 months before (¥500)" in en
    assert (Decimal(str(m["habit_this_month"])), Decimal(str(m["habit_monthly_avg"])), m["habit_months"], m["habit_ratio"]) == (
        Decimal(3000), Decimal(500), 12, 6.0)
    # S1's own finding ends in December: that month ¥500 against 11 months of ¥500 → 1×
    zh1, _, m1 = found["S1"]
    assert "当月（2025-12）共收受下属、管理服务对象红包、转账¥500，为其此前11个月月均（¥500）的1倍" in zh1


def test_nothing_said_without_enough_history_and_a_first_time_said_as_such(tmp_path):
    # two months of data only: no comparison is made
    short = scan(tmp_path / "a", [tx("C1", "2026-02-10 20:00:00", "wx_s1", 800), tx("C2", "2026-03-05 20:00:00", "wx_s1", 600)])
    zh, en, m = short["S1"]
    assert "月均" not in zh and "monthly average" not in en and m["habit_months"] == 1
    # a year of data with no such gift, then one: said as the first in the months before
    first = scan(tmp_path / "b", [
        {"txn_id": "OLD", "ts": "2025-03-02 10:00:00", "payer": "wx_zhou", "payee": "某超市", "amount": 20, "kind": "merchant"},
        tx("D1", "2026-03-05 20:00:00", "wx_s2", 1000)])
    zh, en, m = first["S2"]
    assert "当月（2026-03）共收受下属、管理服务对象红包、转账¥1,000，此前12个月未收受过" in zh
    assert m["habit_ratio"] is None


def test_off_festival_gifts_say_it_too(tmp_path):
    year = [tx(f"A{m:02d}", f"2025-{m:02d}-{'26' if m in (5, 9, 10) else '16'} 20:00:00", "wx_s1", 100) for m in range(1, 13)]
    march = [tx(f"M{d:02d}", f"2026-03-{d:02d} 21:00:00", "wx_s2", 200) for d in range(9, 13)]
    found = scan(tmp_path, year + march, "off_festival_gift")
    zh, en, m = found["S2"]
    assert "当月（2026-03）非节日收受红包、转账共¥800，为其此前12个月月均" in zh
    assert m["habit_this_month"] == 800 and m["habit_months"] == 12


def test_a_festival_season_against_the_months_before(tmp_path):
    # ¥100 a month from S1 through 2025 (on the 18th: no festive day), then S2's ¥1,200
    # in the 2026 Spring Festival season: eleven of those months fall in the 12 before it
    year = [tx(f"A{m:02d}", f"2025-{m:02d}-18 20:00:00", "wx_s1", 100) for m in range(1, 13)]
    spring = [tx(f"F{d}", f"2026-02-{d} 20:00:00", "wx_s2", 200) for d in range(14, 20)]
    found = scan(tmp_path, year + spring, "festival_gift_to_official")
    assert set(found) == {"S2"}
    zh, en, m = found["S2"]
    assert "本节期所收为其节前12个月月均（¥91.67）的13.1倍" in zh
    assert "this season's gifts are 13.1× his monthly average of the 12 months before (¥91.67)" in en
    assert (m["habit_months"], m["habit_ratio"]) == (12, 13.1)
