"""The built-in festival calendar: festival dates, festive seasons, statutory holidays.

Three kinds of knowledge, kept apart:

* **Festival dates** (`FESTIVALS`, `festival_dates`): the days themselves — 春节, 中秋 …,
  the 节气 清明, and the fixed-date days (元旦, 2-14, 5-20 …). Lunar dates and 清明 come
  from lunar-python (`LunarYear`, one object per lunar year); every year 1990–2100.
* **Festive seasons** (`SeasonSettings`, `festive_days`): the "逢年过节" windows around
  the festivals in which a gift counts as a festival gift. The windows are heuristics
  (research note domain.md §4), so every bound is a `SeasonSettings` parameter that a
  case can change in the `[calendar]` table of its rpa.toml.
* **Statutory holidays** (`official_day`, `official_days`): the State Council's 放假 and
  调休 arrangement of a day, from chinesecalendar (2004 up to the last published year),
  corrected where it is known to be wrong, and overridden by the case's `[holidays]` /
  `[workdays]` tables (for a year the library does not know yet, or a correction).

Overlapping seasons. 中秋 and 国庆 form **one** season, ``mid_autumn_national_day``
(中秋·国庆), as in the CCDI's "中秋·国庆" notices: its window runs from 中秋 − 10 days to the
end of the 国庆 holiday, so the two festivals never give two rows. Other seasons may
still overlap (2-14 often falls inside the 春节 season; wider windows can make more
overlaps): `festive_days` then returns **one row per (date, season)**, so a date may
have several rows. Join on the day with ``EXISTS`` / ``SELECT DISTINCT day`` (or
aggregate the seasons) to avoid counting a transaction twice.

All functions are pure (no I/O); results of the lunar computations are cached.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Iterable, Literal, Mapping

import chinese_calendar
from lunar_python import LunarYear

YEAR_MIN = 1990
YEAR_MAX = 2100
MAX_WINDOW_DAYS = 90  # bound on every days_before/after setting: keeps one season's windows apart

Source = Literal["chinesecalendar", "override", "unknown"]


# --------------------------------------------------------------------------- festivals


@dataclass(frozen=True)
class Festival:
    """A festival rpa knows.

    kind: "solar" (fixed Gregorian month-day), "lunar" (lunar month-day; 除夕 is the last
    day of 腊月, 29 or 30) or "jieqi" (a solar term: 清明).
    """

    id: str
    name_zh: str
    name_en: str
    kind: Literal["solar", "lunar", "jieqi"]
    month: int | None = None
    day: int | None = None


_FESTIVAL_LIST = (
    Festival("new_year", "元旦", "New Year's Day", "solar", 1, 1),
    Festival("laba", "腊八", "Laba Festival", "lunar", 12, 8),
    Festival("little_new_year", "小年", "Little New Year", "lunar", 12, 23),
    Festival("new_years_eve", "除夕", "Chinese New Year's Eve", "lunar", 12, None),
    Festival("spring_festival", "春节", "Spring Festival", "lunar", 1, 1),
    Festival("lantern", "元宵", "Lantern Festival", "lunar", 1, 15),
    Festival("valentines", "情人节", "Valentine's Day", "solar", 2, 14),
    Festival("qingming", "清明", "Qingming Festival", "jieqi"),
    Festival("labour_day", "劳动节", "Labour Day", "solar", 5, 1),
    Festival("520", "520", "520 Day", "solar", 5, 20),
    Festival("dragon_boat", "端午", "Dragon Boat Festival", "lunar", 5, 5),
    Festival("qixi", "七夕", "Qixi Festival", "lunar", 7, 7),
    Festival("mid_autumn", "中秋", "Mid-Autumn Festival", "lunar", 8, 15),
    Festival("national_day", "国庆", "National Day", "solar", 10, 1),
    Festival("double_ninth", "重阳", "Double Ninth Festival", "lunar", 9, 9),
)

FESTIVALS: Mapping[str, Festival] = MappingProxyType({f.id: f for f in _FESTIVAL_LIST})
"""Festival id → Festival. The ids are stable: they are stored in case databases."""

_FESTIVAL_ORDER = {f.id: i for i, f in enumerate(_FESTIVAL_LIST)}

LITTLE_NEW_YEAR_DAY = {"north": 23, "south": 24}  # 北方 腊月廿三, 南方 腊月廿四


@dataclass(frozen=True)
class FestivalDate:
    """One occurrence of a festival.

    year: the Gregorian year of `date`. lunar_year: for lunar festivals the lunar year the
    occurrence belongs to — 腊八, 小年 and 除夕 of lunar year y fall in Dec y / Jan–Feb y+1
    (腊八 2025 is 2026-01-26) — None for solar festivals and 清明.
    """

    festival: str
    name_zh: str
    name_en: str
    date: date
    year: int
    lunar_year: int | None = None


def _check_years(year_from: int, year_to: int) -> None:
    for y in (year_from, year_to):
        if isinstance(y, bool) or not isinstance(y, int):
            raise ValueError(f"year must be an integer, not {y!r}")
        if not YEAR_MIN <= y <= YEAR_MAX:
            raise ValueError(f"year {y} is outside the calendar's range {YEAR_MIN}–{YEAR_MAX}")
    if year_from > year_to:
        raise ValueError(f"year_from {year_from} is after year_to {year_to}")


def _jd_to_date(jd: float) -> date:
    """A Julian day (lunar-python's, Beijing time) to its calendar date."""
    return date.fromordinal(int(jd + 0.5) - 1721425)


# Lunar years computed: enough for the festival years YEAR_MIN-1 … YEAR_MAX+1 (seasons
# reach into the neighbouring years), plus one more for 除夕 (= the day before next 春节).
_LUNAR_FIRST, _LUNAR_LAST = YEAR_MIN - 2, YEAR_MAX + 1


@lru_cache(maxsize=1)
def _lunar_table() -> tuple[dict[int, dict[int, int]], dict[int, float]]:
    """({lunar year: {regular month: Julian day of its 1st day}}, {year: Julian day of 清明}).

    One `LunarYear` per year (the fast route of domain.md §5.3). Leap months (闰月,
    negative month numbers in lunar-python) are skipped: festivals fall in the regular
    month, so 2033's 闰十一月 changes nothing but the dates of 腊月.
    """
    months: dict[int, dict[int, int]] = {}
    qingming: dict[int, float] = {}
    for y in range(_LUNAR_FIRST, _LUNAR_LAST + 2):
        ly = LunarYear.fromYear(y)
        months[y] = {m.getMonth(): m.getFirstJulianDay() for m in ly.getMonths() if m.getYear() == y and m.getMonth() > 0}
        qingming[y] = ly.getJieQiJulianDays()[8]  # the list starts at 大雪 of y-1: index 8 is 清明 of y
    return months, qingming


@lru_cache(maxsize=4)
def _all_festivals(little_new_year: str = "north") -> tuple[FestivalDate, ...]:
    """Every festival occurrence of lunar years 1988–2101 and Gregorian years 1989–2101, sorted."""
    if little_new_year not in LITTLE_NEW_YEAR_DAY:
        raise ValueError(f"little_new_year must be 'north' or 'south', not {little_new_year!r}")
    months, qingming = _lunar_table()
    out: list[FestivalDate] = []

    def add(fid: str, d: date, lunar_year: int | None = None) -> None:
        f = FESTIVALS[fid]
        out.append(FestivalDate(fid, f.name_zh, f.name_en, d, d.year, lunar_year))

    for f in _FESTIVAL_LIST:
        if f.kind == "lunar":
            for ly in range(_LUNAR_FIRST, _LUNAR_LAST + 1):
                if f.id == "new_years_eve":
                    jd = months[ly + 1][1] - 1  # the last day of 腊月, 29 or 30
                else:
                    day = LITTLE_NEW_YEAR_DAY[little_new_year] if f.id == "little_new_year" else f.day
                    jd = months[ly][f.month] + day - 1
                add(f.id, _jd_to_date(jd), ly)
        elif f.kind == "jieqi":
            for y in range(_LUNAR_FIRST + 1, _LUNAR_LAST + 1):
                add(f.id, _jd_to_date(qingming[y]))
        else:
            for y in range(_LUNAR_FIRST + 1, _LUNAR_LAST + 1):
                add(f.id, date(y, f.month, f.day))
    out.sort(key=lambda fd: (fd.date, _FESTIVAL_ORDER[fd.festival]))
    return tuple(out)


@lru_cache(maxsize=4)
def _festival_index(little_new_year: str = "north") -> dict[tuple[str, int], FestivalDate]:
    """(festival id, festival year) → occurrence; festival year = lunar year, else Gregorian year."""
    return {(fd.festival, fd.lunar_year if fd.lunar_year is not None else fd.year): fd for fd in _all_festivals(little_new_year)}


def festival_dates(year_from: int, year_to: int, little_new_year: str = "north") -> list[FestivalDate]:
    """Every festival occurrence whose Gregorian date falls in year_from … year_to (inclusive).

    Sorted by date. Years must lie in 1990–2100 (ValueError otherwise). 腊八, 小年 and 除夕
    are listed under their Gregorian dates, so a Gregorian year holds one 春节 but may
    hold 0–2 腊八. little_new_year: "north" (腊月廿三, default) or "south" (廿四).
    The whole range is computed once per process and cached.
    """
    _check_years(year_from, year_to)
    return [fd for fd in _all_festivals(little_new_year) if year_from <= fd.year <= year_to]


def cap_520_days(year_from: int, year_to: int) -> list[date]:
    """The days on which WeChat lets a red packet carry up to 520 yuan instead of 200:
    2-14, 5-20 and 七夕 (domain.md W3), sorted. Years 1990–2100.

    WeChat started the custom in 2016; earlier years are returned too (the calendar does
    not judge); a rule should not expect 520-yuan packets before 2016-05-20.
    """
    return sorted({fd.date for fd in festival_dates(year_from, year_to) if fd.festival in ("valentines", "520", "qixi")})


# --------------------------------------------------------------------------- statutory holidays

# chinesecalendar's names → festival ids (None: a one-off holiday that is no festival)
_LIBRARY_FESTIVAL = {
    "New Year's Day": "new_year",
    "Spring Festival": "spring_festival",
    "Tomb-sweeping Day": "qingming",
    "Labour Day": "labour_day",
    "Dragon Boat Festival": "dragon_boat",
    "Mid-autumn Festival": "mid_autumn",
    "National Day": "national_day",
    "Anti-Fascist 70th Day": None,
}
_ONE_OFF_NAMES_ZH = {"Anti-Fascist 70th Day": "抗战胜利70周年纪念日"}

# Known errors in chinesecalendar's data: date → (is_holiday, is_makeup_workday, festival id).
# 2005-12-31 (Sat) was a working day (国办发明电〔2005〕35号: 元旦 2006 1/1–1/3), the
# library has it as a day off (domain.md §5.1).
_LIBRARY_FIXES: dict[date, tuple[bool, bool, str | None]] = {
    date(2005, 12, 31): (False, True, "new_year"),
}

# Words in an override's name that tie it to a festival (first match wins).
_NAME_KEYWORDS = (
    ("spring_festival", ("春节", "除夕", "spring festival", "chinese new year", "lunar new year")),
    ("new_year", ("元旦", "new year")),
    ("qingming", ("清明", "tomb", "qingming")),
    ("labour_day", ("劳动", "五一", "labour", "labor")),
    ("dragon_boat", ("端午", "dragon boat")),
    ("mid_autumn", ("中秋", "mid-autumn", "mid autumn")),
    ("national_day", ("国庆", "national day")),
)


def festival_of_name(name: str | None) -> str | None:
    """The statutory festival a holiday or 调休 name refers to ("春节调休" → "spring_festival"), or None."""
    if not name:
        return None
    low = name.lower()
    for fid, words in _NAME_KEYWORDS:
        if any(w in low for w in words):
            return fid
    return None


@dataclass(frozen=True)
class DayStatus:
    """The official status of a day.

    is_holiday: a day off — a statutory holiday, or an ordinary Saturday/Sunday that is
    not a 调休 working day (chinesecalendar's meaning). is_makeup_workday: a weekend
    day worked in exchange for a holiday (调休上班). holiday: for a statutory holiday its
    name; for a 调休 working day the holiday it pays for; None for ordinary days. Names
    from the library are the Chinese festival names (春节, 国庆 …); from an override,
    the name as the case wrote it. festival: the festival id the holiday belongs to, when
    known. source: who decided — "chinesecalendar" (including rpa's corrections of it),
    "override" (the case's [holidays]/[workdays] tables: for the day itself, or for a
    year the library lacks and the tables cover, whose unlisted days are ordinary days),
    or "unknown" (no data: weekend = day off, weekday = working day).
    """

    date: date
    is_holiday: bool
    is_makeup_workday: bool
    holiday: str | None
    source: Source
    festival: str | None = None

    @property
    def is_workday(self) -> bool:
        return not self.is_holiday

    @property
    def is_statutory_holiday(self) -> bool:
        """A day off because of a holiday (not merely a weekend)."""
        return self.is_holiday and self.holiday is not None


def _as_date(key: object, what: str) -> date:
    if isinstance(key, datetime):
        return key.date()
    if isinstance(key, date):
        return key
    if isinstance(key, str):
        try:
            return date.fromisoformat(key.strip())
        except ValueError:
            pass
    raise ValueError(f"{what}: {key!r} is not a date (YYYY-MM-DD)")


def parse_overrides(mapping: Mapping | None, what: str = "holidays") -> dict[date, str]:
    """A `[holidays]` or `[workdays]` table (keys: dates or "YYYY-MM-DD" strings; values:
    names such as "元旦" or "春节调休") as {date: name}. ValueError on a bad key or value."""
    out: dict[date, str] = {}
    for key, name in (mapping or {}).items():
        d = _as_date(key, what)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{what}: {key}: the name must be a non-empty string, not {name!r}")
        out[d] = name.strip()
    return out


class _Official:
    """The statutory arrangement: chinesecalendar + fixes, overridden by the case's tables."""

    def __init__(self, holidays_override: Mapping | None, workdays_override: Mapping | None):
        self.holidays = parse_overrides(holidays_override, "holidays")
        self.workdays = parse_overrides(workdays_override, "workdays")
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(f"{both[0]} is both a holiday and a working day in the overrides")
        self.override_years = {d.year for d in (*self.holidays, *self.workdays)}

    def day(self, d: date) -> DayStatus:
        if d in self.holidays:
            name = self.holidays[d]
            return DayStatus(d, True, False, name, "override", festival_of_name(name))
        if d in self.workdays:
            name = self.workdays[d]
            return DayStatus(d, False, True, name, "override", festival_of_name(name))
        lib = _library_day(d)
        if lib is not None:
            return lib
        weekend = d.weekday() >= 5
        return DayStatus(d, weekend, False, None, "override" if d.year in self.override_years else "unknown")

    def known(self, year: int, festivals: Iterable[str]) -> Source | None:
        """Who knows the statutory arrangement of `festivals` in (festival) year `year`, or None."""
        fids = set(festivals)
        touched = any(
            festival_of_name(n) in fids and _festival_year(d, festival_of_name(n)) == year
            for table in (self.holidays, self.workdays)
            for d, n in table.items()
        )
        if touched:
            return "override"
        if _library_knows(year):
            return "chinesecalendar"
        return None

    def _statutory_days(self, year: int, fids: set[str]) -> tuple[list[date], list[date]]:
        """(holiday days, 调休 working days) of `fids` whose festival year is `year`."""
        days = set()
        for y in (year - 1, year):
            if _library_knows(y):
                days.update(_library_year(y))
        days.update(self.holidays)
        days.update(self.workdays)
        hol, work = [], []
        for d in sorted(days):
            if d.year not in (year - 1, year):
                continue
            s = self.day(d)
            if s.festival in fids and _festival_year(d, s.festival) == year:
                if s.is_holiday:
                    hol.append(d)
                elif s.is_makeup_workday:
                    work.append(d)
        return hol, work

    def spans(self, year: int, fids: Iterable[str]) -> tuple[list[tuple[date, date, tuple[str, ...]]], list[date]]:
        """The holiday spans of `fids` in festival year `year` and their 调休 working days.

        A span is the run of consecutive days off holding the statutory holiday days,
        adjoining ordinary weekend days included (2016 元旦: 1/1 holiday + weekend → 1/1–1/3).
        Each span comes with the holiday names (zh) it holds.
        """
        hol, work = self._statutory_days(year, set(fids))
        return self.runs(hol), work

    def runs(self, hol: list[date]) -> list[tuple[date, date, tuple[str, ...]]]:
        """Sorted holiday days → spans of consecutive days off (adjoining weekends included)."""
        spans: list[list] = []
        for d in hol:
            name = self.day(d).holiday
            if spans and d <= spans[-1][1] + timedelta(days=1):
                spans[-1][1] = max(spans[-1][1], d)
            else:
                spans.append([d, d, []])
            if name not in spans[-1][2]:
                spans[-1][2].append(name)
        out: list[tuple[date, date, tuple[str, ...]]] = []
        for first, last, names in spans:
            while self.day(first - timedelta(days=1)).is_holiday:
                first -= timedelta(days=1)
            while self.day(last + timedelta(days=1)).is_holiday:
                last += timedelta(days=1)
            if out and first <= out[-1][1]:  # two holidays joined by a weekend
                out[-1] = (out[-1][0], max(last, out[-1][1]), tuple(dict.fromkeys((*out[-1][2], *names))))
            else:
                out.append((first, last, tuple(names)))
        return out


def _festival_year(d: date, festival: str | None) -> int:
    """The year of the festival a holiday / 调休 day belongs to: December days of 元旦 (and
    of 春节, should one ever occur) belong to the next year's festival."""
    if festival in ("new_year", "spring_festival") and d.month == 12:
        return d.year + 1
    return d.year


@lru_cache(maxsize=None)
def _library_knows(year: int) -> bool:
    try:
        chinese_calendar.is_holiday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@lru_cache(maxsize=None)
def _library_year(year: int) -> tuple[date, ...]:
    """The days of `year` that chinesecalendar (or a fix) names: holidays and 调休 working days."""
    named = {d for d in chinese_calendar.holidays if d.year == year}
    named |= {d for d in chinese_calendar.workdays if d.year == year}
    named |= {d for d in _LIBRARY_FIXES if d.year == year}
    return tuple(sorted(named))


def _library_day(d: date) -> DayStatus | None:
    """chinesecalendar's status of `d` (corrected), or None for a year it does not know."""
    if d in _LIBRARY_FIXES:
        is_holiday, makeup, fid = _LIBRARY_FIXES[d]
        return DayStatus(d, is_holiday, makeup, FESTIVALS[fid].name_zh if fid else None, "chinesecalendar", fid)
    try:
        is_holiday, name = chinese_calendar.get_holiday_detail(d)
    except NotImplementedError:
        return None
    makeup = d in chinese_calendar.workdays
    fid = _LIBRARY_FESTIVAL.get(name) if name else None
    if name is None:
        name_zh = None
    elif fid:
        name_zh = FESTIVALS[fid].name_zh
    else:
        name_zh = _ONE_OFF_NAMES_ZH.get(name, name)
    return DayStatus(d, bool(is_holiday), makeup, name_zh, "chinesecalendar", fid)


def official_day(
    d: date,
    holidays_override: Mapping | None = None,
    workdays_override: Mapping | None = None,
) -> DayStatus:
    """The statutory status of day `d`: holiday, 调休 working day, or ordinary day.

    Order: the overrides (holidays_override / workdays_override: {date or "YYYY-MM-DD":
    name}, the case's [holidays] / [workdays] tables), then chinesecalendar (2004 up to
    the last published year; its known error on 2005-12-31 corrected), then "unknown"
    (weekend = day off). ValueError when a date is in both overrides.
    """
    return _Official(holidays_override, workdays_override).day(_as_date(d, "date"))


def official_days(
    first: date,
    last: date,
    holidays_override: Mapping | None = None,
    workdays_override: Mapping | None = None,
) -> list[DayStatus]:
    """`official_day` for every day first … last (for loading a day table at once)."""
    off = _Official(holidays_override, workdays_override)
    first, last = _as_date(first, "first"), _as_date(last, "last")
    return [off.day(first + timedelta(days=i)) for i in range((last - first).days + 1)]


# --------------------------------------------------------------------------- seasons


@dataclass(frozen=True)
class Season:
    """A festive season: a window of days around one or more festivals."""

    id: str
    name_zh: str
    name_en: str
    festivals: tuple[str, ...]  # festivals that may fall inside (listed when they do)
    statutory: tuple[str, ...] = ()  # festivals whose statutory holidays belong to the season


_SEASON_LIST = (
    Season("new_year", "元旦", "New Year's Day", ("new_year",), ("new_year",)),
    Season("spring_festival", "春节", "Spring Festival",
           ("laba", "little_new_year", "new_years_eve", "spring_festival", "lantern"), ("spring_festival",)),
    Season("valentines", "情人节", "Valentine's Day", ("valentines",)),
    Season("qingming", "清明", "Qingming Festival", ("qingming",), ("qingming",)),
    Season("labour_day", "劳动节", "Labour Day", ("labour_day",), ("labour_day",)),
    Season("520", "520", "520 Day", ("520",)),
    Season("dragon_boat", "端午", "Dragon Boat Festival", ("dragon_boat",), ("dragon_boat",)),
    Season("qixi", "七夕", "Qixi Festival", ("qixi",)),
    Season("mid_autumn_national_day", "中秋·国庆", "Mid-Autumn Festival and National Day",
           ("mid_autumn", "national_day"), ("mid_autumn", "national_day")),
    Season("double_ninth", "重阳", "Double Ninth Festival", ("double_ninth",)),
)

SEASONS: Mapping[str, Season] = MappingProxyType({s.id: s for s in _SEASON_LIST})
"""Season id → Season. The ids are stable: they are stored in case databases."""

_SEASON_ORDER = {s.id: i for i, s in enumerate(_SEASON_LIST)}


@dataclass(frozen=True)
class SeasonSettings:
    """The festive windows ("逢年过节", domain.md §4 — heuristics, tune per case).

    For each season: include_<season> (False: the season is not festive at all) and the
    days before / after its anchor that still count. Defaults:

    * 元旦: 12-25 → 01-03 (7 days before 1-1, 2 after).
    * 春节: 小年 → 元宵 (days_before_little_new_year=0, days_after_lantern=0);
      little_new_year "north" = 腊月廿三, "south" = 廿四. 腊八 is always 15 days before
      the northern 小年: days_before_little_new_year=15 starts the season at 腊八.
    * 清明: not festive (include_qingming=False: not a gift occasion); when included, the day.
    * 劳动节: the statutory holiday span when the year's arrangement is known, else
      5-1 … 5-<labour_day_fallback_days> (5-1…5-5).
    * 端午: 5 days before → 1 day after.
    * 中秋·国庆: 中秋 − 10 days → the last day of the 国庆 holiday when the arrangement is
      known, else 10-<national_day_fallback_days> (10-07); never before 中秋 itself.
    * 七夕, 2-14 (valentines), 5-20 (520), 重阳: the day.

    Every days_* value is an integer 0–90.
    """

    include_new_year: bool = True
    days_before_new_year: int = 7
    days_after_new_year: int = 2

    include_spring_festival: bool = True
    little_new_year: str = "north"
    days_before_little_new_year: int = 0
    days_after_lantern: int = 0

    include_valentines: bool = True
    days_before_valentines: int = 0
    days_after_valentines: int = 0

    include_qingming: bool = False
    days_before_qingming: int = 0
    days_after_qingming: int = 0

    include_labour_day: bool = True
    labour_day_fallback_days: int = 5
    days_before_labour_day: int = 0
    days_after_labour_day: int = 0

    include_520: bool = True
    days_before_520: int = 0
    days_after_520: int = 0

    include_dragon_boat: bool = True
    days_before_dragon_boat: int = 5
    days_after_dragon_boat: int = 1

    include_qixi: bool = True
    days_before_qixi: int = 0
    days_after_qixi: int = 0

    include_mid_autumn_national_day: bool = True
    days_before_mid_autumn: int = 10
    national_day_fallback_days: int = 7
    days_after_national_day: int = 0

    include_double_ninth: bool = True
    days_before_double_ninth: int = 0
    days_after_double_ninth: int = 0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("include_"):
                if not isinstance(value, bool):
                    raise ValueError(f"calendar.{f.name} must be true or false, not {value!r}")
            elif f.name == "little_new_year":
                if value not in LITTLE_NEW_YEAR_DAY:
                    raise ValueError(f"calendar.little_new_year must be \"north\" or \"south\", not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"calendar.{f.name} must be a whole number of days, not {value!r}")
            elif f.name.endswith("_fallback_days"):
                if not 1 <= value <= 31:
                    raise ValueError(f"calendar.{f.name} must be 1–31, not {value}")
            elif not 0 <= value <= MAX_WINDOW_DAYS:
                raise ValueError(f"calendar.{f.name} must be 0–{MAX_WINDOW_DAYS} days, not {value}")

    @classmethod
    def from_mapping(cls, d: Mapping | None) -> SeasonSettings:
        """Settings from the `[calendar]` table of rpa.toml; keys are the field names.

        Missing keys keep their defaults; an unknown key or a bad value → ValueError
        naming it.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        for key in d or {}:
            if key not in known:
                raise ValueError(f"calendar: unknown setting {key!r} (known: {', '.join(sorted(known))})")
        return cls(**dict(d or {}))

    def included(self, season: str) -> bool:
        return getattr(self, f"include_{season}")


@dataclass(frozen=True)
class FestiveDay:
    """One day of one festive season.

    season_year: the year of the season's festival (2025-12-28 is in the 元旦 season of
    2026; the 春节 season of 2026 is the one holding 春节 2026-02-17). festivals: the
    festival occurrences inside this season's window. on_day: ids of those falling on
    this very date (e.g. ("new_years_eve",) on 除夕).
    """

    date: date
    season: str
    season_zh: str
    season_en: str
    season_year: int
    festivals: tuple[FestivalDate, ...] = ()
    on_day: tuple[str, ...] = ()

    def row(self) -> tuple[date, str, str, str]:
        """(day, season, season_zh, season_en): a row of the `festive_days` table."""
        return (self.date, self.season, self.season_zh, self.season_en)


@dataclass(frozen=True)
class _Window:
    season: Season
    year: int
    first: date
    last: date
    festivals: tuple[FestivalDate, ...]


def _windows(year: int, s: SeasonSettings, off: _Official, only_included: bool = True) -> list[_Window]:
    """The season windows whose festival year is `year` (year may be 1989–2101)."""
    idx = _festival_index(s.little_new_year)

    def fest(fid: str, y: int) -> FestivalDate:
        return idx[(fid, y)]

    day = timedelta(days=1)
    out = []
    for season in _SEASON_LIST:
        if only_included and not s.included(season.id):
            continue
        sid = season.id
        if sid == "new_year":
            anchor = fest("new_year", year).date
            first, last = anchor - s.days_before_new_year * day, anchor + s.days_after_new_year * day
            cands = [fest("new_year", year)]
        elif sid == "spring_festival":
            # 春节 and 元宵 of lunar year Y fall in Gregorian Y; 腊八, 小年, 除夕 before them are of Y-1
            cands = [fest("laba", year - 1), fest("little_new_year", year - 1), fest("new_years_eve", year - 1),
                     fest("spring_festival", year), fest("lantern", year)]
            first = cands[1].date - s.days_before_little_new_year * day
            last = cands[4].date + s.days_after_lantern * day
        elif sid == "labour_day":
            spans, _ = off.spans(year, ("labour_day",))
            if spans:
                a, b = spans[0][0], spans[-1][1]
            else:
                a, b = date(year, 5, 1), date(year, 5, s.labour_day_fallback_days)
            first, last = a - s.days_before_labour_day * day, b + s.days_after_labour_day * day
            cands = [fest("labour_day", year)]
        elif sid == "mid_autumn_national_day":
            mid = fest("mid_autumn", year)
            spans, _ = off.spans(year, ("mid_autumn", "national_day"))
            oct1 = date(year, 10, 1)
            national = [b for a, b, names in spans if a <= oct1 <= b or any(festival_of_name(n) == "national_day" or "国庆" in n for n in names)]
            end = max(national) if national else date(year, 10, s.national_day_fallback_days)
            first = mid.date - s.days_before_mid_autumn * day
            last = max(end, mid.date) + s.days_after_national_day * day
            cands = [mid, fest("national_day", year)]
        else:  # a single day ± days: qingming, dragon_boat, qixi, double_ninth, valentines, 520
            (fid,) = season.festivals
            fd = fest(fid, year)
            first = fd.date - getattr(s, f"days_before_{sid}") * day
            last = fd.date + getattr(s, f"days_after_{sid}") * day
            cands = [fd]
        inside = tuple(sorted((c for c in cands if first <= c.date <= last), key=lambda c: c.date))
        out.append(_Window(season, year, first, last, inside))
    return out


def festive_days(
    year_from: int,
    year_to: int,
    settings: SeasonSettings | None = None,
    holidays_override: Mapping | None = None,
    workdays_override: Mapping | None = None,
) -> list[FestiveDay]:
    """Every festive day of 1 Jan year_from … 31 Dec year_to, one row per (date, season).

    A date in two seasons (2-14 inside the 春节 season, say) gives two rows; 中秋 and 国庆
    are one season (``mid_autumn_national_day``). Windows crossing the range's edges are
    cut (2025-12-25…31 are festive days of 2025, in the 元旦 season of 2026). Sorted by
    date, then season. The overrides ({date: name}) shape the 劳动节 and 国庆 spans as in
    `official_day`. Years 1990–2100 (ValueError otherwise).
    """
    _check_years(year_from, year_to)
    s = settings or SeasonSettings()
    off = _Official(holidays_override, workdays_override)
    lo, hi = date(year_from, 1, 1), date(year_to, 12, 31)
    rows: dict[tuple[date, str], FestiveDay] = {}
    for y in range(year_from - 1, year_to + 2):
        for w in _windows(y, s, off):
            d = max(w.first, lo)
            while d <= min(w.last, hi):
                on_day = tuple(f.festival for f in w.festivals if f.date == d)
                rows.setdefault((d, w.season.id), FestiveDay(d, w.season.id, w.season.name_zh, w.season.name_en, y, w.festivals, on_day))
                d += timedelta(days=1)
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], _SEASON_ORDER[k[1]]))]


def calendar_listing(
    year: int,
    settings: SeasonSettings | None = None,
    holidays_override: Mapping | None = None,
    workdays_override: Mapping | None = None,
) -> list[dict]:
    """What `rpa calendar --year Y` prints: one dict per season of year Y, by date.

    Keys: season, season_zh, season_en; festive (the season is included by the settings);
    first, last (the window, None when not festive; it may begin in Y-1 — 元旦 — or end
    in Y+1 with wide settings); festivals (list of {festival, name_zh, name_en, date}: the
    season's festival days — for a season left out, its main festival days); holidays (list
    of {first, last, days, names} statutory spans; [] for seasons without a statutory
    holiday; "unknown" when neither chinesecalendar nor an override covers that holiday of
    Y); makeup_workdays (list of dates, or "unknown"); source ("chinesecalendar",
    "override", "unknown", or None for seasons without a statutory holiday).
    A last row with season None lists other statutory holidays of Y (2015's 9-3 抗战胜利70周年).
    """
    _check_years(year, year)
    s = settings or SeasonSettings()
    off = _Official(holidays_override, workdays_override)
    out = []
    for w in _windows(year, s, off, only_included=False):
        season = w.season
        festive = s.included(season.id)
        fds = w.festivals
        if not festive:  # show the festival days of a season that is off
            main = {"spring_festival": ("new_years_eve", "spring_festival", "lantern")}.get(season.id, season.festivals)
            fds = tuple(_festival_index(s.little_new_year)[(f, year - 1 if f == "new_years_eve" else year)] for f in main)
        entry = {
            "season": season.id,
            "season_zh": season.name_zh,
            "season_en": season.name_en,
            "festive": festive,
            "first": w.first if festive else None,
            "last": w.last if festive else None,
            "festivals": [{"festival": f.festival, "name_zh": f.name_zh, "name_en": f.name_en, "date": f.date} for f in fds],
            "holidays": [],
            "makeup_workdays": [],
            "source": None,
        }
        if season.statutory:
            source = off.known(year, season.statutory)
            if source is None:
                entry.update(holidays="unknown", makeup_workdays="unknown", source="unknown")
            else:
                spans, work = off.spans(year, season.statutory)
                entry["holidays"] = [{"first": a, "last": b, "days": (b - a).days + 1, "names": list(n)} for a, b, n in spans]
                entry["makeup_workdays"] = work
                entry["source"] = source
        out.append(entry)
    out.sort(key=lambda e: (e["first"] or e["festivals"][0]["date"], _SEASON_ORDER[e["season"]]))
    other = _other_holidays(year, off)
    if other:
        out.append(other)
    return out


def _other_holidays(year: int, off: _Official) -> dict | None:
    """Statutory holidays of `year` that belong to no season (one-off holidays, unnamed overrides)."""
    days = set(_library_year(year)) if _library_knows(year) else set()
    days |= {d for d in (*off.holidays, *off.workdays) if d.year == year}
    hol, work = [], []
    for d in sorted(days):
        st = off.day(d)
        if st.festival is not None or st.holiday is None:
            continue
        if st.is_holiday:
            hol.append(d)
        elif st.is_makeup_workday:
            work.append(d)
    if not hol and not work:
        return None
    return {
        "season": None,
        "season_zh": "其他法定假日",
        "season_en": "Other statutory holidays",
        "festive": False,
        "first": None,
        "last": None,
        "festivals": [],
        "holidays": [{"first": a, "last": b, "days": (b - a).days + 1, "names": list(n)} for a, b, n in off.runs(hol)],
        "makeup_workdays": work,
        "source": "override" if any(d in off.holidays or d in off.workdays for d in days) else "chinesecalendar",
    }
