"""Planted cases for `rpa synth`: every rule, blatant and near its thresholds (default
parameters), and benign look-alikes that must stay quiet.

Each scenario has its own cast (persons added to the roster, with households, taking
part in ordinary life only through family packets and shop payments, so ordinary life
cannot push a look-alike over a threshold). A scenario states, rule by rule, the
findings it is an instance of: where rules overlap by definition (a kept gift from a
subordinate is an unreturned gift whatever else it is), the scenario names each of them.
Those statements are labels.csv: case_id, rule_id, subject, txn_ids.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from analyzer import synth as S


class Planter:
    def __init__(self, world: S.World, span: S.Span, rng: np.random.Generator, counter: S.Counter):
        self.w, self.span, self.rng, self.counter = world, span, rng, counter
        self.rows: list[pd.DataFrame] = []
        self.cases: list[tuple[str, str, int, list[int]]] = []  # (case_id, rule, subject entity, seqs)
        self.busy_days = np.zeros(span.days, dtype=bool)
        self.n_cast = 0
        # plain days: no festive season, not the last 14 days (give-back periods)
        plain = ~span.festive
        plain[-14:] = False
        plain[:3] = False
        self.plain = plain
        self.election = None

    # -- helpers

    def person(self, role="cast", *, party=False, official=False, unit="", position="", rank=None, household=None):
        return self.w.add(role, party=party, official=official, unit=unit, position=position, rank=rank,
                          household=household, social=False)

    def official(self, unit, position="科长", rank=5, family=("配偶",)):
        o = self.person(party=True, official=True, unit=unit, position=position, rank=rank)
        hh = self.w.rows[o]["household"]
        fam = []
        for note in family:
            f = self.person(household=hh)
            self.w.rel(f, o, "family", note)
            fam.append(f)
        return o, fam

    def dependant(self, official, relation, *, party=False, unit=""):
        p = self.person(party=party, unit=unit, position="科员" if relation == "subordinate" else "经理")
        self.w.rel(p, official, relation)
        return p

    def outsider(self):
        return self.w.add("outsider", roster=False, social=False)

    def shop(self):
        return self.w.add("shop", roster=False, social=False)

    def day(self, where=None, after=0):
        """A free day (plain by default) not used by another scenario."""
        mask = (self.plain if where is None else where) & ~self.busy_days
        mask[: max(0, after)] = False
        k = np.flatnonzero(mask)
        if not len(k):
            k = np.flatnonzero(self.plain if where is None else where)
        d = int(self.rng.choice(k))
        self.busy_days[max(0, d - 1): d + 2] = True
        return d

    def at(self, d: int, hour=20, minute=0, second=0) -> np.datetime64:
        return np.datetime64(self.span.day(d), "s") + np.timedelta64(hour * 3600 + minute * 60 + second, "s")

    def mv(self, t, payer, payee, yuan, kind="red_packet", status="success", memo="") -> int:
        seq = self.counter.take(1)
        fen = round(float(yuan) * 100)
        self.rows.append(S.frame(seq, [t], [payer], [payee], [fen], kind, status=status, memo=memo))
        return int(seq[0])

    def group(self, t, sender, total, shares: list[tuple[int, float]]) -> tuple[int, list[int]]:
        seq = self.counter.take(1 + len(shares))
        self.rows.append(S.frame(seq[:1], [t], [sender], [-1], [round(total * 100)], "group_red_packet", memo="恭喜发财",
                                 pk=seq[:1], role="total"))
        ts = np.full(len(shares), t, dtype="datetime64[s]")  # shares carry the packet's time
        self.rows.append(S.frame(seq[1:], ts, [sender] * len(shares), [g for g, _ in shares], [round(a * 100) for _, a in shares],
                                 "group_red_packet", pk=np.full(len(shares), seq[0]), pk_ts=np.full(len(shares), t, dtype="datetime64[s]"),
                                 role="share"))
        return int(seq[0]), [int(s) for s in seq[1:]]

    def block(self, days: int) -> int:
        """The first run of `days` plain days no other scenario uses; reserved."""
        free = np.flatnonzero(self.plain & ~self.busy_days)
        for k in free:
            if k + days < self.span.days - 14 and self.plain[k:k + days].all() and not self.busy_days[k:k + days].any():
                self.busy_days[k:k + days] = True
                return int(k)
        return int(free[0])

    def case(self, rule, subject, seqs):
        self.cases.append((f"C{len(self.cases) + 1:03d}", rule, subject, list(seqs)))

    def frame(self) -> pd.DataFrame:
        return pd.concat(self.rows, ignore_index=True) if self.rows else S.frame([], [], [], [], [], "red_packet")

    def season_day(self, mask):
        return self.day(mask & ~self.busy_days if (mask & ~self.busy_days).any() else mask)

    # -- scenarios

    def plant_all(self) -> None:
        for name in ("election", "split", "unreturned", "festival", "fan_in", "off_festival", "occasion", "proxy",
                     "gift_card", "side_business", "gambling", "grabs"):
            getattr(self, "_" + name)()

    def _election(self):
        """Vote buying in a branch's 换届 window (no festive day inside it)."""
        s = self.span
        free = np.flatnonzero(self.plain)
        # a 20-day window of plain days, near the middle of the span
        start = None
        for k in free[len(free) // 3:]:
            if k + 20 < s.days and self.plain[k:k + 20].all():
                start = int(k)
                break
        if start is None:
            return
        unit = "凤凰村党支部"
        o, _ = self.official(unit, "支部书记", 3)
        members = [self.dependant(o, "subordinate", party=True, unit=unit) for _ in range(10)]
        self.w.windows.append({"name": f"{s.day(start).year} 凤凰村换届", "kind": "election", "start": s.day(start),
                               "end": s.day(start + 19), "org_unit": unit})
        self.busy_days[start:start + 20] = True
        seqs = [self.mv(self.at(start + 2 + i // 4, 20, 5 * i), o, m, 100) for i, m in enumerate(members)]
        self.case("election_mass_transfer", o, seqs)
        # near: a member paying exactly five others 20 yuan each
        c2 = members[0]
        self.case("election_mass_transfer", c2, [self.mv(self.at(start + 6, 21, i), c2, m, 20) for i, m in enumerate(members[1:6])])
        # look-alike: four Party members only
        c3 = members[6]
        for i, m in enumerate(members[7:10] + [members[1]]):
            self.mv(self.at(start + 8, 19, i), c3, m, 20)
        self.election = (start, start + 19)

    def _split(self):
        unit = "县市场监督管理局"
        o, _ = self.official(unit, "股长", 4)
        b = self.person(position="老板")
        d = self.day()
        seqs = [self.mv(self.at(d, 21, 2 * i), b, o, 200) for i in range(5)]
        self.case("split_packets", o, seqs)
        self.case("off_festival_gift", o, seqs)
        # near: three 168s between private persons in half an hour
        a, q = self.person(), self.person()
        d = self.day()
        self.case("split_packets", a, [self.mv(self.at(d, 22, 12 * i), a, q, 168) for i in range(3)])
        # look-alikes: two 200s within the hour; three 168s on 5-20 (a day whose cap is 520)
        x, y = self.person(), self.person()
        d = self.day()
        self.mv(self.at(d, 20, 0), x, y, 200)
        self.mv(self.at(d, 20, 40), x, y, 200)
        cap = np.flatnonzero(self.span.cap)
        if len(cap):
            u, v = self.person(), self.person()
            for i in range(3):
                self.mv(self.at(int(cap[0]), 9, 5 * i), u, v, 168)

    def _unreturned(self):
        unit = "古城镇人民政府"
        o, _ = self.official(unit, "镇长", 6)
        s1 = self.dependant(o, "subordinate", party=True, unit=unit)
        seqs = [self.mv(self.at(self.day(), 19, 30), s1, o, 500, "transfer", memo="一点心意") for _ in range(3)]
        self.case("unreturned_gift", o, seqs)
        self.case("off_festival_gift", o, seqs)
        # near: one 20-yuan packet from a service object
        o2, _ = self.official("古城镇人民政府", "副镇长", 5)
        t = self.dependant(o2, "service_object")
        self.case("unreturned_gift", o2, [self.mv(self.at(self.day(), 12), t, o2, 20)])
        # look-alikes: given back two days later; a packet he sent back (退还)
        s2 = self.dependant(o, "subordinate", party=True, unit=unit)
        d = self.day()
        self.mv(self.at(d, 20), s2, o, 200)
        self.mv(self.at(d + 2, 9), o, s2, 200, "transfer", memo="心意领了，退回")
        s3 = self.dependant(o2, "subordinate", party=True, unit=unit)
        self.mv(self.at(self.day(), 20), s3, o2, 200, "transfer", status="returned")

    def _festival(self):
        if not self.span.spring.any() or not self.span.mid_autumn.any():
            return
        unit = "县交通运输局"
        o, _ = self.official(unit, "副局长", 7)
        s1 = self.dependant(o, "subordinate", party=True, unit=unit)
        t1 = self.dependant(o, "service_object")
        a = [self.mv(self.at(self.season_day(self.span.spring), 10), s1, o, 200) for _ in range(2)]
        b = [self.mv(self.at(self.season_day(self.span.spring), 11), t1, o, 500, "transfer", memo="拜年")]
        self.case("festival_gift_to_official", o, a + b)
        self.case("unreturned_gift", o, a)
        self.case("unreturned_gift", o, b)
        # near: 8.88 at mid-autumn from a service object
        o2, _ = self.official(unit, "科长", 5)
        t2 = self.dependant(o2, "service_object")
        n = [self.mv(self.at(self.season_day(self.span.mid_autumn), 9), t2, o2, 8.88)]
        self.case("festival_gift_to_official", o2, n)
        self.case("unreturned_gift", o2, n)
        # look-alike: a festival packet given back the next day
        s2 = self.dependant(o2, "subordinate", party=True, unit=unit)
        d = self.season_day(self.span.mid_autumn)
        self.mv(self.at(d, 10), s2, o2, 200)
        self.mv(self.at(d + 1, 10), o2, s2, 200, "transfer", memo="退回")

    def _fan_in(self):
        unit = "县教育局"
        o, _ = self.official(unit, "副局长", 7)
        subs = [self.dependant(o, "subordinate", party=True, unit=unit) for _ in range(5)]
        d0 = self.block(12)
        seqs = []
        for i, s in enumerate(subs):
            seq = self.mv(self.at(min(d0 + 2 * i, self.span.days - 15), 20, i), s, o, 100, "transfer", memo="辛苦了")
            seqs.append(seq)
            self.case("unreturned_gift", o, [seq])
        self.case("fan_in_to_official", o, seqs)
        self.busy_days[d0:d0 + 12] = True
        self.w.windows.append({"name": "县教育局干部调整", "kind": "promotion", "start": self.span.day(d0 - 1),
                               "end": self.span.day(min(d0 + 12, self.span.days - 1)), "org_unit": unit})
        # near: three service objects, 10 yuan each, within 25 days
        o2, _ = self.official(unit, "科长", 5)
        d1 = self.block(26)
        seqs = []
        for i in range(3):
            t = self.dependant(o2, "service_object")
            seq = self.mv(self.at(min(d1 + 12 * i, self.span.days - 15), 12, i), t, o2, 10)
            seqs.append(seq)
            self.case("unreturned_gift", o2, [seq])
        self.case("fan_in_to_official", o2, seqs)
        # look-alike: three subordinates' AA shares
        o3, _ = self.official(unit, "股长", 4)
        d2 = self.day()
        for i in range(3):
            s = self.dependant(o3, "subordinate", party=True, unit=unit)
            self.mv(self.at(d2, 21, i), s, o3, 80, "transfer", memo="聚餐AA")

    def _off_festival(self):
        unit = "县财政局"
        m = self.person(party=True, unit=unit, position="会计")
        b = self.person(position="老板")
        seqs = [self.mv(self.at(self.day(), 20), b, m, 300, "transfer", memo="茶水费") for _ in range(8)]
        self.case("off_festival_gift", m, seqs)
        # near: exactly 200 in two gifts
        m2, b2 = self.person(party=True, unit=unit, position="出纳"), self.person(position="老板")
        self.case("off_festival_gift", m2, [self.mv(self.at(self.day(), 19), b2, m2, 100, "transfer") for _ in range(2)])
        # look-alikes: 199 in two gifts; gifts repaid over weeks; a gift at a declared birthday
        m3, b3 = self.person(party=True, unit=unit), self.person()
        self.mv(self.at(self.day(), 19), b3, m3, 99.5, "transfer")
        self.mv(self.at(self.day(), 19), b3, m3, 99.5, "transfer")
        m4, b4 = self.person(party=True, unit=unit), self.person()
        d = self.day()
        self.mv(self.at(d, 19), b4, m4, 500, "transfer")
        self.mv(self.at(d + 1, 19), b4, m4, 500, "transfer")
        self.mv(self.at(min(d + 30, self.span.days - 15), 19), m4, b4, 900, "transfer", memo="还你上次的")
        m5, b5 = self.person(party=True, unit=unit), self.person()
        d = self.day()
        self.w.events.append({"person_id": m5, "kind": "birthday", "date": self.span.day(d), "days": 1})
        self.mv(self.at(d, 12), b5, m5, 600, "transfer", memo="生日快乐")

    def _occasion(self):
        unit = "县水利局"
        o, (_wife, son) = self.official(unit, "局长", 8, family=("配偶", "子女"))
        d = self.day()
        self.w.events.append({"person_id": son, "kind": "wedding", "date": self.span.day(d), "days": 2})
        seqs = [self.mv(self.at(d, 11, i), self.dependant(o, "service_object"), son, 1000, "transfer", memo="新婚快乐") for i in range(4)]
        self.case("occasion_collection", o, seqs)
        # near: two subordinates, 2,000 in all, at his wife's birthday
        o2, (w2,) = self.official(unit, "副局长", 7)
        d = self.day()
        self.w.events.append({"person_id": w2, "kind": "birthday", "date": self.span.day(d), "days": 1})
        self.case("occasion_collection", o2, [self.mv(self.at(d, 12, i), self.dependant(o2, "subordinate", party=True, unit=unit), w2, 1000,
                                                      "transfer", memo="生日快乐") for i in range(2)])
        # look-alike: two subordinates, 500 each, at his daughter's wedding
        o3, (_w3, dau) = self.official(unit, "科长", 5, family=("配偶", "子女"))
        d = self.day()
        self.w.events.append({"person_id": dau, "kind": "wedding", "date": self.span.day(d), "days": 2})
        for i in range(2):
            self.mv(self.at(d, 10, i), self.dependant(o3, "subordinate", party=True, unit=unit), dau, 500, "transfer", memo="新婚快乐")

    def _proxy(self):
        unit = "县自然资源局"
        o, (wife, child) = self.official(unit, "局长", 8, family=("配偶", "子女"))
        t = self.dependant(o, "service_object")
        self.case("proxy_receipt", o, [self.mv(self.at(self.day(), 20), t, wife, 1000, "transfer") for _ in range(3)])
        if self.span.spring.any():
            self.case("proxy_receipt", o, [self.mv(self.at(self.season_day(self.span.spring), 10), t, child, 200)])
            o2, (_w2, c2) = self.official(unit, "科长", 5, family=("配偶", "子女"))
            t2 = self.dependant(o2, "service_object")
            self.case("proxy_receipt", o2, [self.mv(self.at(self.season_day(self.span.spring), 9), t2, c2, 66)])
        # look-alike: given back the next day
        o3, (w3,) = self.official(unit, "股长", 4)
        t3 = self.dependant(o3, "service_object")
        d = self.day()
        self.mv(self.at(d, 20), t3, w3, 500, "transfer")
        self.mv(self.at(d + 1, 9), w3, t3, 500, "transfer", memo="退回")

    def _gift_card(self):
        seasons = self.span.seasons
        unit = "县卫生健康局"
        shop = self.shop()
        ma = [a for a, b in seasons.get("mid_autumn_national_day", []) if 20 <= (a - self.span.start).days < self.span.days - 14]
        sf = [a for a, b in seasons.get("spring_festival", []) if 20 <= (a - self.span.start).days < self.span.days - 14]
        if ma:
            o, _ = self.official(unit, "局长", 8)
            t = self.dependant(o, "service_object")
            d = (ma[0] - self.span.start).days - 5
            self.case("gift_card", o, [self.mv(self.at(d, 15), t, shop, 3000, "gift_card", memo="京东E卡 3000元")])
            # look-alike: a 500-yuan card forty days before the season
            o3, _ = self.official(unit, "股长", 4)
            s3 = self.dependant(o3, "subordinate", party=True, unit=unit)
            self.mv(self.at(max(1, d - 35), 15), s3, shop, 500, "gift_card", memo="京东E卡 500元")
        if sf:
            o2, _ = self.official(unit, "科长", 5)
            s2 = self.dependant(o2, "subordinate", party=True, unit=unit)
            d = (sf[0] - self.span.start).days - 8
            self.case("gift_card", o2, [self.mv(self.at(d, 15), s2, shop, 500, "gift_card", memo="京东E卡 500元")])

    def _side_business(self):
        unit = "县农业农村局"

        def run(official_or_wife, payers, payments, d0, span_days):
            outs = [self.outsider() for _ in range(payers)]
            seqs = []
            for i in range(payments):
                d = d0 + (i * span_days) // payments
                seqs.append(self.mv(self.at(d, 9 + i % 12, i % 60), outs[i % payers], official_or_wife,
                                    float(self.rng.integers(20, 150)), "qr_payment", memo="二维码收款"))
            return seqs

        block = self.block
        o, _ = self.official(unit, "科长", 5)
        self.case("official_side_business", o, run(o, 20, 45, block(26), 25))
        o2, _ = self.official(unit, "股长", 4)
        self.case("official_side_business", o2, run(o2, 15, 30, block(29), 28))
        _o3, (w3,) = self.official(unit, "副局长", 7)
        run(w3, 25, 50, block(26), 25)  # his wife's shop: not his
        o4, _ = self.official(unit, "办公室主任", 5)
        run(o4, 14, 40, block(26), 25)  # fourteen customers: below the threshold

    def _gambling(self):
        banker = self.person(position="个体户")
        players = [self.person() for _ in range(4)]
        d = self.day()
        seqs = []
        for r in range(12):
            t = self.at(d, 21, 3 * r)
            cut = sorted(self.rng.choice(np.arange(1, 5000), size=3, replace=False))
            shares = np.diff([0, *cut, 5000]) / 100
            tot, sh = self.group(t, banker, 50, list(zip(players, shares)))
            seqs += [tot, *sh]
            if r % 3 != 2:
                seqs.append(self.mv(t + np.timedelta64(90, "s"), players[r % 4], banker, 100, "transfer", memo="踩雷"))
        self.case("red_packet_gambling", banker, seqs)
        # near: five rounds of 20, three settlements of 1 × 20, two players
        b2 = self.person(position="个体户")
        ps = [self.person() for _ in range(2)]
        d = self.day()
        seqs = []
        for r in range(5):
            t = self.at(d, 22, 4 * r)
            tot, sh = self.group(t, b2, 20, [(ps[0], 12.5), (ps[1], 7.5)])
            seqs += [tot, *sh]
            if r < 3:
                seqs.append(self.mv(t + np.timedelta64(120, "s"), ps[r % 2], b2, 20, "transfer"))
        self.case("red_packet_gambling", b2, seqs)
        # look-alike: a boss's six equal packets at the annual dinner
        boss = self.person(position="老板")
        staff = [self.person() for _ in range(5)]
        d = self.day()
        for r in range(6):
            self.group(self.at(d, 20, 2 * r), boss, 200, [(s, 40) for s in staff])
        # look-alike: a family's New-Year game, relatives sending back (family money)
        head = self.person()
        hh = self.w.rows[head]["household"]
        kin = [self.person(household=hh) for _ in range(3)]
        for k in kin:
            self.w.rel(k, head, "family", "亲属")
        d = self.season_day(self.span.spring) if self.span.spring.any() else self.day()
        for r in range(6):
            t = self.at(d, 20, 3 * r)
            self.group(t, head, 30, [(k, 10) for k in kin])
            self.mv(t + np.timedelta64(60, "s"), kin[r % 3], head, 30, "transfer")

    def _grabs(self):
        unit = "县商务局"
        o, _ = self.official(unit, "副局长", 7)
        t = self.dependant(o, "service_object")
        others = [self.outsider() for _ in range(3)]
        mine = []
        for _ in range(40):
            _, sh = self.group(self.at(self.day(), 12, int(self.rng.integers(0, 59))), t, 100, [(o, 30), (others[0], 30), (others[1], 25), (others[2], 15)])
            mine.append(sh[0])
        self.case("service_object_group_grabs", o, mine)
        self.case("off_festival_gift", o, mine)
        # near: thirty small grabs
        o2, _ = self.official(unit, "科长", 5)
        t2 = self.dependant(o2, "service_object")
        mine = []
        for _ in range(30):
            _tot, sh = self.group(self.at(self.day(), 13, int(self.rng.integers(0, 59))), t2, 20, [(o2, 5), (others[0], 9), (others[1], 6)])
            mine.append(sh[0])
        self.case("service_object_group_grabs", o2, mine)
        # look-alike: a villager (no Party member, no official) grabbing a contractor's packets
        v = self.person()
        for _ in range(35):
            self.group(self.at(self.day(), 14), t2, 20, [(v, 8), (others[2], 12)])


def write_labels(path: Path, planter: Planter, writer) -> int:
    """labels.csv: one row per planted case whose movements the exports show, with the
    ids as written in them (the format `rpa backtest` reads)."""
    df = planter.frame()
    txn, _ = S.ids(df)
    by_seq = dict(zip(df["seq"].tolist(), txn.tolist()))
    pid = planter.w.ents["pid"]
    visible = writer.visible_seqs(df)
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "rule_id", "subject", "txn_ids"])
        for case_id, rule, subject, seqs in planter.cases:
            if not all(s in visible for s in seqs):
                continue
            w.writerow([case_id, rule, pid[subject], ";".join(dict.fromkeys(by_seq[s] for s in seqs))])
            n += 1
    return n
