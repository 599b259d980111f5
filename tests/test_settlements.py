"""A repayment is not a gift: colleagues paying an official back for lunch, month after
month, with a memo of 午饭, 饭钱, 中午的饭钱 or AA, or none, are settlements (the scan
table aa_shares, by words or by shape) for every rule that leaves settlements out; the
look-alikes stay gifts: a contractor's ¥199.50 twice a week, a colleague's lucky 66.66s.

The world is written from how it happens: a section chief pays for the office lunch, and
his colleagues pay their share back at lunchtime, amounts of whatever the dishes cost."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from analyzer.config import load_settings
from analyzer.scan import prepare
from tests.helpers import query, rpa
from tests.rule_world import build_case

MEMOS = ["午饭", "饭钱", "中午的饭钱", "AA", ""]
# weekdays from 9 March to 24 April 2026: after the Lantern Festival, before Labour Day
DAYS = [date(2026, 3, 9) + timedelta(days=i) for i in range(47) if (date(2026, 3, 9) + timedelta(days=i)).weekday() < 5]


def world(seed: int) -> tuple[dict, dict[str, list[str]]]:
    rng = random.Random(seed)
    persons = [
        {"person_id": "P1", "name": "周志明", "accounts": ["wx_zhou"], "party_member": True, "official": True,
         "org_unit": "县住建局规划科", "position": "科长", "rank": 3},
        *({"person_id": f"C{i}", "name": f"同事{i}", "accounts": [f"wx_c{i}"], "party_member": True, "official": True,
           "org_unit": "县住建局规划科", "position": "科员", "rank": 1} for i in range(1, 6)),
        {"person_id": "K1", "name": "韩建军", "accounts": ["wx_han"], "org_unit": "某建筑公司", "position": "项目经理"},
    ]
    relations = [{"person_id": f"C{i}", "other_id": "P1", "relation": "colleague"} for i in range(1, 5)]
    # C5 is in the same 科 but not declared: the org unit says colleague
    relations.append({"person_id": "K1", "other_id": "P1", "relation": "service_object"})
    rows, expect = [], {"lunch": [], "contractor": [], "lucky": []}
    n = 0

    def pay(ts, payer, amount, memo="", kind="transfer", group=None):
        nonlocal n
        n += 1
        rows.append({"txn_id": f"T{n:04d}", "ts": ts.strftime("%Y-%m-%d %H:%M:%S"), "payer": payer, "payee": "wx_zhou",
                     "amount": f"{amount:.2f}", "kind": kind, "memo": memo})
        if group:
            expect[group].append(f"T{n:04d}")

    for day in DAYS:
        # lunch: two or three colleagues pay their share back between 12:10 and 13:50
        for c in rng.sample(range(1, 6), rng.choice([2, 3])):
            while True:  # what the dishes cost: jiao and fen, not a round ten, nothing lucky
                amount = Decimal(rng.randrange(1800, 4800)) / 100
                if amount % 10 and str(amount)[-2:] not in ("88", "66", "99") and len(set(str(amount).replace(".", "").strip("0"))) > 1:
                    break
            memo = MEMOS[(c + day.toordinal()) % len(MEMOS)]
            pay(datetime.combine(day, datetime.min.time()) + timedelta(minutes=730 + rng.randrange(100)), f"wx_c{c}", amount,
                memo, rng.choice(["transfer", "red_packet"]), "lunch")
        # the contractor: ¥199.50 on Tuesdays and Thursdays at lunchtime, no memo
        if day.weekday() in (1, 3):
            pay(datetime.combine(day, datetime.min.time()) + timedelta(hours=12, minutes=20), "wx_han", Decimal("199.50"), "",
                "red_packet", "contractor")
    # a colleague's lucky packets at noon on three Fridays: gifts by their shape, not lunch
    for day in DAYS[4:15:5]:
        pay(datetime.combine(day, datetime.min.time()) + timedelta(hours=12, minutes=5), "wx_c1", Decimal("66.66"), "", "red_packet", "lucky")
    # the data runs on to the end of May, so every gift's give-back period is in it
    rows.append({"txn_id": "END", "ts": "2026-05-29 09:00:00", "payer": "wx_zhou", "payee": "某超市", "amount": "12.00", "kind": "merchant"})
    return {"persons": persons, "relations": relations, "transactions": rows}, expect


@pytest.fixture(scope="module", params=[1, 2])
def lunch_case(request, tmp_path_factory):
    w, expect = world(request.param)
    case = build_case(tmp_path_factory.mktemp("lunch") / "case", w)
    assert {r["memo"] for r in w["transactions"] if r["txn_id"] in expect["lunch"]} == set(MEMOS)  # every memo, and none
    return case, expect


def findings(case, rule):
    assert rpa("scan", "--rule", rule, "--case", case).exit_code == 0
    out = {}
    for fid, subject, cps in query(case, "SELECT id, subject, counterparties FROM findings WHERE rule = ? AND NOT stale", [rule]):
        out[(subject, tuple(cps))] = sorted(r[0] for r in query(
            case, "SELECT t.txn_id FROM finding_evidence e JOIN transactions t ON t.id = e.transaction_id WHERE e.finding_id = ?", [fid]))
    return out


def test_lunch_repayments_are_settlements_by_words_or_shape(lunch_case):
    case, expect = lunch_case
    con = duckdb.connect(str(case / "rpa.duckdb"), read_only=True)
    try:
        prepare(con, load_settings(case))
        shares = dict(con.execute("SELECT m.txn_id, a.how FROM aa_shares a JOIN mv m ON m.id = a.id").fetchall())
        memos = dict(con.execute("SELECT txn_id, coalesce(memo, '') FROM mv").fetchall())
    finally:
        con.close()
    # every lunch repayment, each memo and none; nothing of the contractor's or the lucky packets
    assert set(shares) == set(expect["lunch"])
    assert {t for t, how in shares.items() if how == "words"} == {t for t in expect["lunch"] if memos[t]}


def test_off_festival_gift_keeps_the_gifts_and_leaves_lunch_out(lunch_case):
    case, expect = lunch_case
    assert findings(case, "off_festival_gift") == {
        ("P1", ("K1",)): sorted(expect["contractor"]),   # ¥199.50 twice a week from a service object
        ("P1", ("C1",)): sorted(expect["lucky"]),        # 66.66 is a gift's amount, not a bill's
    }


def test_unreturned_gift_keeps_the_contractor_and_leaves_lunch_out(lunch_case):
    case, expect = lunch_case
    assert findings(case, "unreturned_gift") == {("P1", ("K1",)): sorted(expect["contractor"])}


def test_without_shape_only_the_words_excuse(lunch_case, tmp_path):
    # by_shape = false: the lunches without a memo are gifts again (the setting is honoured)
    case, expect = lunch_case
    toml = case / "rpa.toml"
    before = toml.read_text(encoding="utf-8")
    try:
        toml.write_text(before + "\n[aa_shares]\nby_shape = false\n", encoding="utf-8")
        found = findings(case, "off_festival_gift")
        assert ("P1", ("K1",)) in found and len(found) > 2
    finally:
        toml.write_text(before, encoding="utf-8")


def test_the_cap_decides_for_a_contractor_who_writes_a_meal_word(tmp_path):
    # the contractor writes 饭钱 on his ¥199.50: by words it would be a settlement under the
    # default cap of 500; with max_amount at what a lunch share costs (150) it is a gift again
    w, expect = world(3)
    for r in w["transactions"]:
        if r["txn_id"] in expect["contractor"]:
            r["memo"] = "饭钱"
    case = build_case(tmp_path / "case", w)
    assert ("P1", ("K1",)) not in findings(case, "unreturned_gift")
    (case / "rpa.toml").write_text("[aa_shares]\nmax_amount = 150\n", encoding="utf-8")
    assert findings(case, "unreturned_gift") == {("P1", ("K1",)): sorted(expect["contractor"])}
    # and the colleagues' lunches (all under 48 yuan) are still settlements
    assert ("P1", ("K1",)) in findings(case, "off_festival_gift") and len(findings(case, "off_festival_gift")) == 2
