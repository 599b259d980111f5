"""`rpa synth`: a realistic synthetic world of red packets and transfers.

The world: villages with Party branches, township offices and a county bureau; Party
members and officials with ranks and superiors (subordinate relations), contractors and
businesses they regulate (service objects), households (family relations), friends,
outsiders who are not on the roster, and shops.

Ordinary life, generated in vectorised chunks (numpy, one PCG64 stream per chunk and
activity, so a seed gives the same world whatever the size of the machine): packets and
transfers inside households (520 between spouses on 5-20), festival packets among
friends with the amounts people use (6.66, 8.88, 66, 88, 168, 200), friends' loans paid
back within days, AA shares paid to the colleague who collects them (群收款), shop and
QR payments, gift cards bought by people who regulate nobody's business, family groups'
lucky-money bursts at the Spring Festival, an official's work-group packets at the
Spring Festival, wedding gifts around declared weddings, and unclaimed packets refunded
after 24 hours. It is built to be what the rules must stay quiet about.

Planted cases (analyzer.synth_cases) give every rule blatant and near-threshold
instances and benign look-alikes, each instance recorded in labels.csv.

Ground truth: every movement is one logical record (seq, ts, payer, payee, amount in
fen, kind, status, memo, channel, packet); the writers (analyzer.synth_writers) render
each export layout as a view of it.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from analyzer.errors import RpaError

FORMATS = ("canonical", "wechat", "alipay", "tenpay", "mixed")
# The options the committed sample_data/ was made with (rpa demo makes the same world).
SAMPLE_OPTIONS = {"people": 30, "days": 365, "start": date(2025, 7, 1), "seed": 2026, "fmt": "mixed", "movements": 3000}
CHUNK = 250_000  # movements per generated chunk: memory stays flat as the size grows

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力国鹏宇浩凯健俊帆帅旭宁龙林欣怡佳琪雪婷倩颖晨阳波斌成康亮峰海云飞春梅琳燕玲")
PLACES = ["古云", "青山", "石桥", "柳溪", "桃源", "松岭", "河口", "梅坞", "竹园", "杏花", "龙潭", "白沙", "黄泥", "清水", "枫林", "高坪"]
SHOPS = ["超市", "便利店", "药房", "饭店", "面馆", "水果店", "加油站", "五金店", "菜市场", "烟酒店", "理发店", "早餐店"]
NICK_STYLE = ["{g}", "阿{g}", "小{g}", "{g}{g2}", "{s}{g}", "老{s}", "{g}妈妈", "{g}爸"]

FEN = 100


class SynthError(RpaError):
    """Options rpa synth cannot work with."""


@dataclass
class Options:
    out_dir: Path
    people: int | None = None
    days: int = 365
    start: date = date(2025, 1, 1)
    seed: int = 1
    fmt: str = "canonical"
    movements: int = 20_000

    def check(self) -> None:
        if self.fmt not in FORMATS:
            raise SynthError(f"--format {self.fmt!r}: use one of {', '.join(FORMATS)}")
        if self.days < 60:
            raise SynthError(f"--days {self.days}: a world needs at least 60 days (festivals, give-back periods)")
        if self.movements < 500:
            raise SynthError(f"--movements {self.movements}: at least 500")
        if self.people is not None and self.people < 20:
            raise SynthError(f"--people {self.people}: at least 20")
        if not 1990 <= self.start.year <= 2099:
            raise SynthError(f"--start {self.start}: outside the calendar's years (1990–2099)")


# --------------------------------------------------------------------------- world


@dataclass
class World:
    """The population: one row per entity (roster person, outsider, shop) in `ents`."""

    rows: list[dict] = field(default_factory=list)
    relations: list[tuple[int, int, str, str]] = field(default_factory=list)  # (person, other, relation, note)
    events: list[dict] = field(default_factory=list)
    windows: list[dict] = field(default_factory=list)
    ents: pd.DataFrame | None = None
    friends: np.ndarray | None = None  # (k, 2) undirected pairs of ordinary persons
    next_household: int = 0

    def household(self) -> int:
        self.next_household += 1
        return self.next_household

    def add(self, role: str, *, party=False, official=False, unit="", position="", rank=None, household=None,
            social=True, roster=True, gender=None) -> int:
        """A new entity; returns its index."""
        i = len(self.rows)
        self.rows.append({
            "role": role, "party": party, "official": official, "org_unit": unit, "position": position,
            "rank": rank, "household": self.household() if household is None else household,
            "social": social, "roster": roster, "export": "",
        })
        return i

    def rel(self, person: int, other: int, relation: str, note: str = "") -> None:
        self.relations.append((person, other, relation, note))

    def family(self, members: list[int], notes: list[str] | None = None) -> None:
        """Declare each member family of the first (the household head)."""
        for k, m in enumerate(members[1:]):
            self.rel(m, members[0], "family", (notes or [""] * len(members))[k] if notes else "")


def _names(n: int, offset: int) -> list[str]:
    """n distinct plausible names (surname + one or two given characters)."""
    s, g = len(SURNAMES), len(GIVEN)
    space = s * g * (g + 1)
    out = []
    for i in range(offset, offset + n):
        k = (i * 7919 + 104729) % space
        a, k = k % s, k // s
        b, c = k % g, k // g
        out.append(SURNAMES[a] + GIVEN[b] + ("" if c == g else GIVEN[c]))
    return out


def finish(world: World) -> None:
    """Names, nicknames and accounts for every entity, once the population is complete."""
    ents = pd.DataFrame(world.rows)
    n = len(ents)
    ents["pid"] = [f"P{i + 1:05d}" for i in range(n)]
    names = _names(n, 0)
    # uniqueness: a name is an alias; two people of one name would resolve to nobody
    seen: dict[str, int] = {}
    for i, nm in enumerate(names):
        if nm in seen:
            names[i] = nm + GIVEN[(i // 7) % len(GIVEN)]
        seen[names[i]] = i
    ents["name"] = names
    shops = ents.index[ents.role == "shop"]
    for k, i in enumerate(shops):
        ents.at[i, "name"] = f"{PLACES[k % len(PLACES)]}{SHOPS[(k // len(PLACES)) % len(SHOPS)]}" + (f"{k // (len(PLACES) * len(SHOPS)) + 1}号店" if k >= len(PLACES) * len(SHOPS) else "")
    nicks = []
    used: set[str] = set()
    for i, nm in enumerate(ents["name"]):
        style = NICK_STYLE[(i * 31) % len(NICK_STYLE)]
        nick = style.format(s=nm[0], g=nm[1], g2=nm[-1])
        if nick in used or nick in seen:
            nick = f"{nick}{i % 100:02d}"
        while nick in used or nick in seen:
            nick += "_"
        used.add(nick)
        nicks.append(nick)
    ents["nick"] = nicks
    ents.loc[ents.role == "shop", "nick"] = ents.loc[ents.role == "shop", "name"]
    idx = np.arange(n, dtype=np.int64)
    ents["wxid"] = ["wxid_" + format((i * 2654435761 + 97) % 16**12, "012x") for i in idx]
    phones = (13_000_000_000 + (idx * 7_654_321 + 12_345) % 6_000_000_000).astype(str)
    ents["phone"] = phones
    ents["masked"] = [p[:3] + "******" + p[-2:] for p in phones]
    world.ents = ents


# --------------------------------------------------------------------------- ordinary population


def build_population(world: World, n_people: int, rng: np.random.Generator) -> None:
    """Villages (a branch secretary, Party members, a contractor he oversees, villagers),
    a township office per five villages and a county bureau per ten, all in households."""
    villages = max(1, round(n_people / 24))
    township_of, bureau_units = [], []
    for t in range(max(1, (villages + 4) // 5)):
        place = PLACES[t % len(PLACES)] + ("" if t < len(PLACES) else str(t // len(PLACES) + 1))
        unit = f"{place}镇人民政府"
        sec = _person(world, "official", party=True, official=True, unit=unit, position="镇党委书记", rank=7)
        dep = _person(world, "official", party=True, official=True, unit=unit, position="副镇长", rank=5)
        world.rel(dep, sec, "subordinate")
        staff = [_person(world, "staff", party=True, unit=unit, position="科员") for _ in range(3)]
        for s in staff:
            world.rel(s, dep, "subordinate")
        biz = _person(world, "business", unit=f"{place}农资公司", position="经理")
        world.rel(biz, dep, "service_object", "农资补贴")
        township_of.append((sec, place))
    for b in range(max(1, (villages + 9) // 10)):
        unit = "县住房和城乡建设局" if b == 0 else f"县住房和城乡建设局第{b + 1}分局"
        head = _person(world, "official", party=True, official=True, unit=unit, position="局长", rank=8)
        chief = _person(world, "official", party=True, official=True, unit=unit, position="科长", rank=6)
        world.rel(chief, head, "subordinate")
        for _ in range(2):
            world.rel(_person(world, "staff", party=True, unit=unit, position="科员"), chief, "subordinate")
        for k in range(2):
            c = _person(world, "business", unit=f"县{'宏达' if k == 0 else '建兴'}建筑公司{b + 1 if b else ''}", position="项目经理")
            world.rel(c, chief, "service_object", "工程监管")
        bureau_units.append(unit)
    v = 0
    while len(world.rows) < n_people:
        sec_town, _place_t = township_of[(v // 5) % len(township_of)]
        place = PLACES[(v + 3) % len(PLACES)] + ("" if v + 3 < len(PLACES) else str((v + 3) // len(PLACES) + 1))
        unit = f"{place}村党支部"
        sec = _person(world, "official", party=True, official=True, unit=unit, position="支部书记", rank=3)
        world.rel(sec, sec_town, "subordinate")
        for _ in range(4):
            world.rel(_person(world, "member", party=True, unit=unit, position="党员"), sec, "subordinate")
        c = _person(world, "business", unit=f"{place}建筑队", position="负责人")
        world.rel(c, sec, "service_object", "村道工程承包方")
        for _ in range(2):
            _person(world, "villager")
        v += 1


def _person(world: World, role: str, **kw) -> int:
    """A person with a household: a spouse, sometimes a child or a parent (family)."""
    head = world.add(role, **kw)
    hh = world.rows[head]["household"]
    members = [head]
    k = head % 4
    members.append(world.add("family", household=hh))
    if k >= 2:
        members.append(world.add("family", household=hh))
    world.family(members, ["配偶", "子女"])
    return head


def ordinary_persons(world: World) -> np.ndarray:
    e = world.ents
    return e.index[(e.roster) & (e.social)].to_numpy()


def power_pairs(world: World) -> set[tuple[int, int]]:
    """(giver, receiver) pairs that ordinary life must never pay: a subordinate or service
    object and each member of his official's household, both ways round."""
    e = world.ents
    hh = e["household"].to_numpy()
    members: dict[int, list[int]] = {}
    for i, h in enumerate(hh):
        members.setdefault(int(h), []).append(i)
    out = set()
    for p, o, rel, _ in world.relations:
        if rel in ("subordinate", "service_object"):
            for m in members[int(hh[o])]:
                for g in members[int(hh[p])]:
                    out.add((g, m))
                    out.add((m, g))
    return out


def build_friends(world: World, rng: np.random.Generator) -> None:
    """Each ordinary person gets one to three friends (stubs paired at random): few
    enough that nobody pays five Party members outside his family in a few weeks."""
    people = ordinary_persons(world)
    degree = rng.integers(1, 4, size=len(people))
    stubs = np.repeat(people, degree)
    rng.shuffle(stubs)
    if len(stubs) % 2:
        stubs = stubs[:-1]
    pairs = stubs.reshape(-1, 2)
    pairs = np.sort(pairs, axis=1)
    hh = world.ents["household"].to_numpy()
    ok = (pairs[:, 0] != pairs[:, 1]) & (hh[pairs[:, 0]] != hh[pairs[:, 1]])
    pairs = pairs[ok]
    forbidden = power_pairs(world)
    if forbidden:
        keep = np.array([(int(a), int(b)) not in forbidden for a, b in pairs], dtype=bool)
        pairs = pairs[keep]
    world.friends = np.unique(pairs, axis=0) if len(pairs) else np.zeros((0, 2), dtype=np.int64)


def add_outsiders_and_shops(world: World, n_people: int) -> None:
    for _ in range(max(8, n_people // 4)):
        world.add("outsider", roster=False, social=False)
    for _ in range(max(6, n_people // 20)):
        world.add("shop", roster=False, social=False)


# --------------------------------------------------------------------------- calendar of the span


@dataclass
class Span:
    start: date
    days: int
    festive: np.ndarray  # bool per day
    spring: np.ndarray  # bool per day: the Spring Festival season
    mid_autumn: np.ndarray
    cap: np.ndarray  # 2-14, 5-20, 七夕
    seasons: dict[str, list[tuple[date, date]]]

    def day(self, k: int) -> date:
        return self.start + timedelta(days=int(k))


def make_span(start: date, days: int) -> Span:
    from analyzer import calendar

    end = start + timedelta(days=days - 1)
    fd = calendar.festive_days(start.year, min(end.year, 2100))
    festive = np.zeros(days, dtype=bool)
    spring = np.zeros(days, dtype=bool)
    mid = np.zeros(days, dtype=bool)
    seasons: dict[str, list[date]] = {}
    for d in fd:
        k = (d.date - start).days
        if 0 <= k < days:
            festive[k] = True
            spring[k] |= d.season == "spring_festival"
            mid[k] |= d.season == "mid_autumn_national_day"
        seasons.setdefault(d.season, []).append(d.date)
    cap = np.zeros(days, dtype=bool)
    for d in calendar.cap_520_days(start.year, min(end.year, 2100)):
        k = (d - start).days
        if 0 <= k < days:
            cap[k] = True
    runs: dict[str, list[tuple[date, date]]] = {}
    for s, ds in seasons.items():
        ds = sorted(set(ds))
        first = prev = ds[0]
        for d in ds[1:]:
            if d != prev + timedelta(days=1):
                runs.setdefault(s, []).append((first, prev))
                first = d
            prev = d
        runs.setdefault(s, []).append((first, prev))
    return Span(start, days, festive, spring, mid, cap, runs)


# --------------------------------------------------------------------------- movements

COLUMNS = ["seq", "ts", "payer", "payee", "fen", "kind", "status", "memo", "channel", "pk", "pk_ts", "ref", "role"]


class Counter:
    def __init__(self, start: int = 1):
        self.value = start

    def take(self, n: int) -> np.ndarray:
        out = np.arange(self.value, self.value + n, dtype=np.int64)
        self.value += n
        return out


def frame(seq, ts, payer, payee, fen, kind, status="success", memo="", channel="wechat", pk=None, pk_ts=None,
          ref=None, role="") -> pd.DataFrame:
    """A movements frame from arrays (scalars are broadcast)."""
    n = len(seq)

    def full(v, dtype=object):
        return np.full(n, v, dtype=dtype) if np.isscalar(v) or v is None else np.asarray(v)

    return pd.DataFrame({
        "seq": np.asarray(seq, dtype=np.int64),
        "ts": pd.to_datetime(np.asarray(ts, dtype="datetime64[s]")),
        "payer": np.asarray(payer, dtype=np.int64), "payee": np.asarray(payee, dtype=np.int64),
        "fen": np.asarray(fen, dtype=np.int64),
        "kind": full(kind), "status": full(status), "memo": full(memo), "channel": full(channel),
        "pk": np.full(n, -1, dtype=np.int64) if pk is None else (np.full(n, pk, dtype=np.int64) if np.isscalar(pk) else np.asarray(pk, dtype=np.int64)),
        "pk_ts": pd.to_datetime(np.asarray(ts if pk_ts is None else pk_ts, dtype="datetime64[s]")),
        "ref": full(-1, np.int64) if ref is None else np.asarray(ref, dtype=np.int64),
        "role": full(role),
    })


def _times(rng, span: Span, n: int, weights: np.ndarray) -> np.ndarray:
    """n timestamps on days drawn with `weights`, at waking hours."""
    if n == 0 or weights.sum() == 0:
        return np.zeros(0, dtype="datetime64[s]")
    p = weights / weights.sum()
    days = rng.choice(span.days, size=n, p=p)
    secs = rng.integers(7 * 3600, 23 * 3600, size=n)
    base = np.datetime64(span.start, "s")
    return base + days.astype("timedelta64[D]").astype("timedelta64[s]") + secs.astype("timedelta64[s]")


PACKET_FESTIVE = np.array([666, 888, 6600, 8800, 16800, 20000, 5000, 10000])
PACKET_FAMILY = np.array([666, 888, 6600, 8800, 16800, 20000, 5000, 10000, 50000, 100000])


class Life:
    """Ordinary life in chunks. `shares` are the expected movements per activity."""

    SHARES: ClassVar[dict[str, float]] = {  # of the movements target
        "family": 0.22, "shop": 0.28, "qr": 0.10, "festive": 0.10, "loans": 0.12, "aa": 0.06,
        "bursts": 0.06, "work": 0.02, "cards": 0.01, "weddings": 0.03,
    }

    def __init__(self, world: World, span: Span, seed: int, counter: Counter):
        self.w, self.span, self.seed, self.counter = world, span, seed, counter
        e = world.ents
        self.persons = e.index[e.roster].to_numpy()
        self.ordinary = ordinary_persons(world)
        self.shops = e.index[e.role == "shop"].to_numpy()
        self.outsiders = e.index[e.role == "outsider"].to_numpy()
        hh = e["household"].to_numpy()
        sizes = pd.Series(hh[self.persons]).value_counts()
        self.hh = hh
        multi = self.persons[sizes.reindex(hh[self.persons]).to_numpy() >= 2]
        self.in_household = multi
        # household members, for picking a relative: sorted by household
        order = np.argsort(hh[self.persons], kind="stable")
        self.by_hh = self.persons[order]
        self.hh_sorted = hh[self.by_hh]
        power = {g for g, o, r, _ in world.relations if r in ("subordinate", "service_object")}
        heads = {int(p) for p in self.ordinary}
        # gift cards: bought by people who are nobody's subordinate or service object
        self.card_buyers = np.array([p for p in self.persons if int(p) not in power and p in heads] or list(self.persons[:1]))
        # AA: each unit's collector is its first non-official Party member
        units: dict[str, list[int]] = {}
        for p in self.ordinary:
            u = e.at[p, "org_unit"]
            if u:
                units.setdefault(u, []).append(int(p))
        self.aa_pairs = []
        for u, ms in units.items():
            collectors = [m for m in ms if e.at[m, "party"] and not e.at[m, "official"]]
            if collectors and len(ms) >= 3:
                c = collectors[0]
                self.aa_pairs += [(m, c) for m in ms if m != c]
        self.aa_pairs = np.array(self.aa_pairs or [(0, 0)], dtype=np.int64)
        # work groups: an official and the subordinates he heads
        self.work = {}
        for p, o, r, _ in world.relations:
            if r == "subordinate" and e.at[o, "social"] and e.at[p, "social"]:
                self.work.setdefault(o, []).append(p)
        self.friends = world.friends if world.friends is not None and len(world.friends) else np.zeros((0, 2), dtype=np.int64)

    def rng(self, chunk: int, activity: int) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64([self.seed, chunk, activity]))

    def relative(self, rng, who: np.ndarray) -> np.ndarray:
        """A random other member of each person's household."""
        h = self.hh[who]
        lo = np.searchsorted(self.hh_sorted, h, "left")
        hi = np.searchsorted(self.hh_sorted, h, "right")
        k = lo + (rng.random(len(who)) * (hi - lo)).astype(np.int64)
        other = self.by_hh[np.minimum(k, len(self.by_hh) - 1)]
        # the same person drawn: take the next member round the household
        same = other == who
        k2 = np.where(k + 1 < hi, k + 1, lo)
        other[same] = self.by_hh[k2[same]]
        return other

    def chunks(self, total: int):
        """Yield frames of ordinary movements, about `total` in all, CHUNK at a time."""
        n_chunks = -(-total // CHUNK) if total > 0 else 0
        for c in range(n_chunks):
            n = min(CHUNK, total - c * CHUNK)
            yield self.chunk(c, n)

    def chunk(self, c: int, n: int) -> pd.DataFrame:
        parts = []
        for a, (name, share) in enumerate(self.SHARES.items()):
            k = round(n * share)
            if k:
                parts.append(getattr(self, "_" + name)(self.rng(c, a), k))
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else frame([], [], [], [], [], "merchant")

    # -- activities (each returns about k movements)

    def _weights(self, festive=3.0, cap=0.0):
        s = self.span
        w = np.ones(s.days) + s.festive * festive
        return w + s.cap * cap

    def _family(self, rng, k):
        payer = rng.choice(self.in_household, size=k)
        payee = self.relative(rng, payer)
        ts = _times(rng, self.span, k, self._weights(4.0, 2.0))
        day = ((ts - np.datetime64(self.span.start, "s")) // np.timedelta64(1, "D")).astype(np.int64)
        fen = rng.choice(PACKET_FAMILY, size=k)
        fen = np.where(self.span.cap[day] & (rng.random(k) < 0.5), 52000, fen)
        kind = np.where(rng.random(k) < 0.7, "red_packet", "transfer")
        memo = np.where(kind == "transfer", rng.choice(["家用", "生活费", "给妈买药", ""], size=k), "")
        return frame(self.counter.take(k), ts, payer, payee, fen, kind, memo=memo)

    def _shop(self, rng, k):
        payer = rng.choice(self.persons, size=k)
        payee = rng.choice(self.shops, size=k)
        fen = (np.exp(rng.normal(3.3, 1.0, size=k)) * FEN).astype(np.int64) + 100
        channel = np.where(rng.random(k) < 0.15, "alipay", "wechat")
        memo = rng.choice(["日用品", "午饭", "水果", "加油", "药品", "理发"], size=k)
        return frame(self.counter.take(k), _times(rng, self.span, k, self._weights(0.5)), payer, payee, fen, "merchant",
                     memo=memo, channel=channel)

    def _qr(self, rng, k):
        payer = rng.choice(self.persons, size=k)
        payee = rng.choice(self.outsiders, size=k)
        fen = rng.integers(3, 80, size=k) * FEN + rng.choice([0, 50], size=k)
        return frame(self.counter.take(k), _times(rng, self.span, k, self._weights(0.5)), payer, payee, fen, "qr_payment",
                     memo="二维码收款")

    def _festive(self, rng, k):
        """Festival packets between friends, on festive days only; one in ten is never
        claimed and comes back to the sender 24 hours later."""
        if not len(self.friends) or not self.span.festive.any():
            return frame([], [], [], [], [], "red_packet")
        m = int(k / 1.1)
        pair = self.friends[rng.integers(0, len(self.friends), size=m)]
        flip = rng.random(m) < 0.5
        payer = np.where(flip, pair[:, 0], pair[:, 1])
        payee = np.where(flip, pair[:, 1], pair[:, 0])
        ts = _times(rng, self.span, m, self.span.festive.astype(float))
        fen = rng.choice(PACKET_FESTIVE, size=m)
        unclaimed = rng.random(m) < 0.1
        seq = self.counter.take(m)
        status = np.where(unclaimed, "refunded", "success")
        packets = frame(seq, ts, payer, payee, fen, "red_packet", status=status, memo="恭喜发财，大吉大利")
        u = np.flatnonzero(unclaimed)
        refunds = frame(self.counter.take(len(u)), ts[u] + np.timedelta64(86400 + 60, "s"), np.full(len(u), -1), payer[u], fen[u],
                        "refund", memo="红包退款", ref=seq[u], role="refund")
        return pd.concat([packets, refunds], ignore_index=True)

    def _loans(self, rng, k):
        """A friend lends money and is paid back the same amount within six days."""
        if not len(self.friends):
            return frame([], [], [], [], [], "transfer")
        m = k // 2
        pair = self.friends[rng.integers(0, len(self.friends), size=m)]
        flip = rng.random(m) < 0.5
        lender = np.where(flip, pair[:, 0], pair[:, 1])
        borrower = np.where(flip, pair[:, 1], pair[:, 0])
        ts = _times(rng, self.span, m, np.ones(self.span.days))
        back = ts + (rng.integers(1, 6, size=m) * 86400 + rng.integers(0, 3600, size=m)).astype("timedelta64[s]")
        fen = rng.choice([10000, 20000, 30000, 50000, 80000, 100000, 200000], size=m)
        channel = np.where(rng.random(m) < 0.2, "alipay", "wechat")
        a = frame(self.counter.take(m), ts, lender, borrower, fen, "transfer", memo="借你的", channel=channel)
        b = frame(self.counter.take(m), back, borrower, lender, fen, "transfer", memo="还钱", channel=channel)
        return pd.concat([a, b], ignore_index=True)

    def _aa(self, rng, k):
        pair = self.aa_pairs[rng.integers(0, len(self.aa_pairs), size=k)]
        ok = pair[:, 0] != pair[:, 1]
        pair = pair[ok]
        k = len(pair)
        fen = rng.integers(15, 120, size=k) * FEN
        memo = rng.choice(["AA聚餐", "午饭AA", "群收款-团建AA"], size=k)
        return frame(self.counter.take(k), _times(rng, self.span, k, self._weights(0.0)), pair[:, 0], pair[:, 1], fen,
                     "transfer", memo=memo)

    def _group(self, rng, senders, ts, grabbers_of, total_choices, rounds, gap=(60, 180)):
        """Group packets: per sender `rounds` rounds minutes apart, each a total row and
        shares to the grabbers grabbers_of(sender) gives (one frame built at the end)."""
        cols = {"seq": [], "ts": [], "payer": [], "payee": [], "fen": [], "pk": [], "role": []}
        for s, t0, r in zip(senders, ts, rounds):
            grabbers = grabbers_of(int(s))
            if len(grabbers) < 2:
                continue
            t = t0
            for _ in range(int(r)):
                total = int(rng.choice(total_choices))
                g = grabbers if len(grabbers) <= 5 else rng.choice(grabbers, size=5, replace=False)
                cuts = np.sort(rng.choice(np.arange(1, total), size=len(g) - 1, replace=False))
                shares = np.diff(np.concatenate([[0], cuts, [total]]))
                seq = self.counter.take(1 + len(g))
                n = 1 + len(g)
                cols["seq"].append(seq)
                # a share carries the packet's time: the sender's export gives the packet's
                cols["ts"].append(np.full(n, t, dtype="datetime64[s]"))
                cols["payer"].append(np.full(n, s))
                cols["payee"].append(np.concatenate([[-1], g]))
                cols["fen"].append(np.concatenate([[total], shares]))
                cols["pk"].append(np.full(n, seq[0]))
                cols["role"].append(np.array(["total"] + ["share"] * len(g), dtype=object))
                t = t + np.timedelta64(int(rng.integers(*gap)), "s")
        if not cols["seq"]:
            return frame([], [], [], [], [], "group_red_packet")
        c = {k: np.concatenate(v) for k, v in cols.items()}
        return frame(c["seq"], c["ts"], c["payer"], c["payee"], c["fen"], "group_red_packet", memo="恭喜发财",
                     pk=c["pk"], pk_ts=c["ts"], role=c["role"])

    def _bursts(self, rng, k):
        """A family's New-Year lucky money: a few rounds into the family group."""
        if not self.span.spring.any():
            return frame([], [], [], [], [], "group_red_packet")
        per_burst = 4 * 4
        m = max(1, k // per_burst)
        sizes = pd.Series(self.hh[self.persons]).value_counts()
        big = self.persons[sizes.reindex(self.hh[self.persons]).to_numpy() >= 3]
        if not len(big):
            return frame([], [], [], [], [], "group_red_packet")
        senders = rng.choice(big, size=m)
        ts = _times(rng, self.span, m, self.span.spring.astype(float))
        def hh_members(s):
            lo, hi = np.searchsorted(self.hh_sorted, self.hh[s], "left"), np.searchsorted(self.hh_sorted, self.hh[s], "right")
            m = self.by_hh[lo:hi]
            return m[m != s]

        return self._group(rng, senders, ts, hh_members, [1000, 2000, 5000, 8800, 10000], rng.integers(2, 6, size=m))

    def _work(self, rng, k):
        """An official's packets to his team's group at the Spring Festival."""
        if not self.work or not self.span.spring.any():
            return frame([], [], [], [], [], "group_red_packet")
        heads = np.array(sorted(self.work))
        m = max(1, k // 8)
        senders = rng.choice(heads, size=m)
        ts = _times(rng, self.span, m, self.span.spring.astype(float))
        return self._group(rng, senders, ts, lambda s: np.array(self.work[s]), [5000, 10000, 20000], np.ones(m, dtype=int) * 2)

    def _cards(self, rng, k):
        payer = rng.choice(self.card_buyers, size=k)
        payee = rng.choice(self.shops, size=k)
        fen = rng.choice([10000, 20000, 50000, 100000], size=k)
        memo = np.char.add(np.char.add("京东E卡 ", (fen // FEN).astype(str)), "元")
        return frame(self.counter.take(k), _times(rng, self.span, k, self._weights(1.0)), payer, payee, fen, "gift_card", memo=memo)

    def _weddings(self, rng, k):
        """Weddings of ordinary people (declared as events in rpa.toml): gifts from their
        friends by transfer on the day or the day before. Declared once, in chunk 0."""
        return frame([], [], [], [], [], "transfer")


def wedding_gifts(life: Life, rng: np.random.Generator, n_weddings: int, avoid: np.ndarray) -> pd.DataFrame:
    """Weddings of ordinary persons with friends: events in rpa.toml, gifts by transfer."""
    w = life.w
    friends = life.friends
    if not len(friends):
        return frame([], [], [], [], [], "transfer")
    people = np.unique(friends)
    rows = []
    ok_days = np.flatnonzero(~avoid)
    for p in rng.choice(people, size=min(n_weddings, len(people)), replace=False):
        day = int(rng.choice(ok_days))
        d = life.span.day(day)
        w.events.append({"person_id": w.ents.at[int(p), "pid"], "kind": "wedding", "date": d, "days": 2})
        mates = np.concatenate([friends[friends[:, 0] == p, 1], friends[friends[:, 1] == p, 0]])
        for f in mates:
            t = np.datetime64(d, "s") + np.timedelta64(int(rng.integers(8 * 3600, 20 * 3600)) - 86400 * int(rng.integers(0, 2)), "s")
            rows.append(frame(life.counter.take(1), [t], [f], [p], [int(rng.choice([20000, 50000, 66600, 88800, 100000]))],
                              "transfer", memo="新婚快乐"))
    return pd.concat(rows, ignore_index=True) if rows else frame([], [], [], [], [], "transfer")


# --------------------------------------------------------------------------- ids


def ids(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(交易单号, 商户单号) for each movement, shaped like the real ones (formats.md §1.7,
    §3.6): the same in every export that shows the movement. Shares carry their own
    交易单号 and the packet's 商户单号; a refund carries its original's 商户单号."""
    seq = df["seq"].astype(np.int64)
    ymd = df["ts"].dt.strftime("%Y%m%d")
    yymmdd = ymd.str[2:]
    kind = df["kind"]
    alipay = df["channel"] == "alipay"
    s20 = seq.astype(str).str.zfill(20)
    s13 = seq.astype(str).str.zfill(13)
    txn = pd.Series("", index=df.index, dtype=object)
    red = kind.isin(["red_packet", "group_red_packet"])
    txn[red] = "1000039901" + yymmdd[red] + s20[red]
    tr = kind == "transfer"
    txn[tr] = "1000050001" + ymd[tr] + s13[tr]
    qr = kind == "qr_payment"
    txn[qr] = "1000049901" + ymd[qr] + s13[qr].str[1:]
    mer = kind.isin(["merchant", "gift_card"])
    txn[mer] = "420000" + ymd[mer] + seq[mer].astype(str).str.zfill(14)
    rf = kind == "refund"
    txn[rf] = "1000039898" + yymmdd[rf] + s20[rf]
    txn[alipay] = ymd[alipay] + "2000400111" + seq[alipay].astype(str).str.zfill(14)
    mch = txn.copy()
    mch[red] = "1000039901" + ymd[red] + s13[red]
    pk = df["pk"] >= 0
    if pk.any():
        mch[pk] = "1000039901" + df.loc[pk, "pk_ts"].dt.strftime("%Y%m%d") + df.loc[pk, "pk"].astype(str).str.zfill(13)
    mch[mer & ~alipay] = "GY" + ymd[mer & ~alipay] + s13[mer & ~alipay]
    return txn, mch


def refund_mch(df: pd.DataFrame, originals: pd.DataFrame) -> pd.Series:
    """商户单号 of each refund: its original's (looked up by seq)."""
    _, mch = ids(originals)
    table = pd.Series(mch.to_numpy(), index=originals["seq"].to_numpy())
    return df["ref"].map(table)


# --------------------------------------------------------------------------- driver


@dataclass
class Result:
    out_dir: Path
    movements: int
    people: int
    cases: int
    files: int
    format: str
    truth: pd.DataFrame | None = None  # with keep_truth: the movements the exports show
    world: World | None = None


def synth(opts: Options, progress=None, keep_truth: bool = False) -> Result:
    """Write a world into opts.out_dir: the exports, people.csv, relations.csv, rpa.toml
    and labels.csv. Deterministic for a seed and options."""
    from analyzer import synth_cases, synth_writers

    opts.check()
    out = Path(opts.out_dir)
    if out.exists() and not out.is_dir():
        raise SynthError(f"{out}: a file, not a folder")
    if out.exists() and any(out.iterdir()):
        raise SynthError(f"{out}: not empty; rpa synth writes into a new or empty folder")
    people = opts.people or max(30, min(200_000, opts.movements // 150))
    rng = np.random.Generator(np.random.PCG64([opts.seed, 0]))
    world = World()
    build_population(world, people, rng)
    span = make_span(opts.start, opts.days)
    counter = Counter(1)
    planted = synth_cases.Planter(world, span, np.random.Generator(np.random.PCG64([opts.seed, 1])), counter)
    planted.plant_all()
    add_outsiders_and_shops(world, people)
    finish(world)
    build_friends(world, np.random.Generator(np.random.PCG64([opts.seed, 2])))
    synth_writers.assign_exports(world, opts.fmt)
    planted_df = planted.frame()
    life = Life(world, span, opts.seed, counter)
    weddings = wedding_gifts(life, np.random.Generator(np.random.PCG64([opts.seed, 3])), max(1, people // 60),
                             span.festive | planted.busy_days)
    target = max(0, opts.movements - len(planted_df) - len(weddings))
    out.mkdir(parents=True, exist_ok=True)
    writer = synth_writers.make_writer(opts.fmt, out, world)
    total = 0
    seen = []
    for df in _all_chunks(planted_df, weddings, life, target):
        writer.add(df)
        total += len(df)
        if keep_truth:
            vis = writer.visible_seqs(df)
            seen.append(df[df["seq"].isin(vis)])
        if progress:
            progress(total)
    files = writer.close()
    _write_roster(out, world)
    _write_settings(out, world, opts)
    n_cases = synth_cases.write_labels(out / "labels.csv", planted, writer)
    truth = pd.concat(seen, ignore_index=True) if keep_truth else None
    return Result(out, total, int(world.ents["roster"].sum()), n_cases, files, opts.fmt, truth, world)


def _all_chunks(planted: pd.DataFrame, weddings: pd.DataFrame, life: Life, target: int):
    for df in (planted, weddings):
        if len(df):
            yield df
    yield from life.chunks(target)


def _write_roster(out: Path, world: World) -> None:
    e = world.ents
    with open(out / "people.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["person_id", "name", "accounts", "party_member", "official", "org_unit", "position", "rank"])
        for r in e[e.roster].itertuples():
            w.writerow([r.pid, r.name, f"{r.wxid};{r.nick};{r.phone}", "是" if r.party else "否", "是" if r.official else "否",
                        r.org_unit, r.position, "" if r.rank is None or pd.isna(r.rank) else int(r.rank)])
    with open(out / "relations.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["person_id", "other_id", "relation", "note"])
        for p, o, rel, note in world.relations:
            w.writerow([e.at[p, "pid"], e.at[o, "pid"], rel, note])


def _write_settings(out: Path, world: World, opts: Options) -> None:
    lines = [
        "# Case settings of a world made by rpa synth: copy into the case folder (rpa init),",
        f"# or run rpa demo. Made with --seed {opts.seed} --people {opts.people or ''} --days {opts.days} --start {opts.start} --format {opts.fmt}.",
        "",
    ]
    for wdw in world.windows:
        lines += ["[[windows]]", f'name = "{wdw["name"]}"', f'kind = "{wdw["kind"]}"', f"start = {wdw['start']}", f"end = {wdw['end']}"]
        if wdw.get("org_unit"):
            lines.append(f'org_unit = "{wdw["org_unit"]}"')
        lines.append("")
    e = world.ents
    events = [{**ev, "person_id": ev["person_id"] if isinstance(ev["person_id"], str) else e.at[int(ev["person_id"]), "pid"]}
              for ev in world.events]
    for ev in sorted(events, key=lambda e: (e["date"], e["person_id"])):
        lines += ["[[events]]", f'person_id = "{ev["person_id"]}"', f'kind = "{ev["kind"]}"', f"date = {ev['date']}", f"days = {ev['days']}", ""]
    (out / "rpa.toml").write_text("\n".join(lines), encoding="utf-8")


def clear(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)


def parse_date(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise SynthError(f"--start {text!r}: not a date YYYY-MM-DD") from None
