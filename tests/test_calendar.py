"""The built-in festival calendar: festival dates, festive seasons, statutory holidays."""

from __future__ import annotations

from collections import Counter
from dataclasses import FrozenInstanceError
from datetime import date, timedelta

import chinese_calendar
import duckdb
import pytest
from lunar_python import Solar

from analyzer.calendar import (
    FESTIVALS,
    SEASONS,
    DayStatus,
    SeasonSettings,
    calendar_listing,
    cap_520_days,
    festival_dates,
    festive_days,
    official_day,
    official_days,
    parse_overrides,
)

D = date.fromisoformat


def dates_of(festival: str, year_from: int, year_to: int | None = None) -> list[date]:
    return [f.date for f in festival_dates(year_from, year_to or year_from) if f.festival == festival]


def seasons_on(day: date, rows=None, **kw) -> set[str]:
    rows = rows if rows is not None else festive_days(day.year, day.year, **kw)
    return {r.season for r in rows if r.date == day}


def season_bounds(season: str, season_year: int, rows) -> tuple[date, date]:
    days = [r.date for r in rows if r.season == season and r.season_year == season_year]
    return min(days), max(days)


# --------------------------------------------------------------------------- festival dates

SPOT_DATES = [
    ("spring_festival", "2016-02-08"), ("spring_festival", "2024-02-10"),
    ("spring_festival", "2025-01-29"), ("spring_festival", "2026-02-17"),
    ("new_years_eve", "2024-02-09"), ("new_years_eve", "2025-01-28"), ("new_years_eve", "2026-02-16"),
    ("lantern", "2025-02-12"), ("lantern", "2026-03-03"),
    ("qingming", "2024-04-04"), ("qingming", "2025-04-04"), ("qingming", "2026-04-05"),
    ("dragon_boat", "2024-06-10"), ("dragon_boat", "2025-05-31"), ("dragon_boat", "2026-06-19"),
    ("qixi", "2025-08-29"),
    ("mid_autumn", "2023-09-29"), ("mid_autumn", "2024-09-17"), ("mid_autumn", "2025-10-06"), ("mid_autumn", "2026-09-25"),
    ("double_ninth", "2025-10-29"),
    ("laba", "2026-01-26"),
    ("little_new_year", "2026-02-10"),
    ("new_year", "2026-01-01"), ("valentines", "2026-02-14"), ("labour_day", "2026-05-01"),
    ("520", "2026-05-20"), ("national_day", "2026-10-01"),
]


@pytest.mark.parametrize(("festival", "day"), SPOT_DATES)
def test_spot_dates(festival, day):
    d = D(day)
    assert dates_of(festival, d.year) == [d]


def test_festival_rows_carry_names_and_years():
    (laba,) = [f for f in festival_dates(2026, 2026) if f.festival == "laba"]
    assert (laba.name_zh, laba.name_en, laba.year, laba.lunar_year) == ("腊八", "Laba Festival", 2026, 2025)
    (nd,) = [f for f in festival_dates(2026, 2026) if f.festival == "national_day"]
    assert (nd.name_zh, nd.year, nd.lunar_year) == ("国庆", 2026, None)
    with pytest.raises(FrozenInstanceError):
        laba.date = D("2026-01-27")


def test_festivals_table():
    assert list(FESTIVALS) == [
        "new_year", "laba", "little_new_year", "new_years_eve", "spring_festival", "lantern", "valentines",
        "qingming", "labour_day", "520", "dragon_boat", "qixi", "mid_autumn", "national_day", "double_ninth",
    ]
    assert {f.id: f.name_zh for f in FESTIVALS.values()} == {
        "new_year": "元旦", "laba": "腊八", "little_new_year": "小年", "new_years_eve": "除夕", "spring_festival": "春节",
        "lantern": "元宵", "valentines": "情人节", "qingming": "清明", "labour_day": "劳动节", "520": "520",
        "dragon_boat": "端午", "qixi": "七夕", "mid_autumn": "中秋", "national_day": "国庆", "double_ninth": "重阳",
    }
    assert all(f.name_en for f in FESTIVALS.values())
    with pytest.raises(TypeError):
        FESTIVALS["x"] = FESTIVALS["qixi"]  # read-only


def test_little_new_year_south_is_a_day_later():
    assert dates_of("little_new_year", 2026) == [D("2026-02-10")]
    assert [f.date for f in festival_dates(2026, 2026, little_new_year="south") if f.festival == "little_new_year"] == [D("2026-02-11")]
    with pytest.raises(ValueError):
        festival_dates(2026, 2026, little_new_year="east")


def test_2033_leap_eleventh_month():
    """2033 has a 闰十一月: still one 春节 per year, and 腊月 comes after the leap month."""
    assert dates_of("spring_festival", 2033) == [D("2033-01-31")]
    assert dates_of("spring_festival", 2034) == [D("2034-02-19")]
    assert dates_of("new_years_eve", 2034) == [D("2034-02-18")]
    assert dates_of("laba", 2034) == [D("2034-01-27")]


def test_whole_range_complete():
    rows = festival_dates(1990, 2100)
    assert rows == sorted(rows, key=lambda f: f.date)
    assert {f.year for f in rows} == set(range(1990, 2101))
    per_year = Counter((f.festival, f.year) for f in rows)
    for fid in FESTIVALS:
        if fid == "laba":  # 腊月初八 falls in late December or in January: 0–2 in a Gregorian year
            assert all(per_year[(fid, y)] in (0, 1, 2) for y in range(1990, 2101))
            continue
        assert all(per_year[(fid, y)] == 1 for y in range(1990, 2101)), fid
    # one 腊八 per lunar year
    labas = Counter(f.lunar_year for f in rows if f.festival == "laba")
    assert all(labas[y] == 1 for y in range(1990, 2100))


def test_lunar_dates_agree_with_lunar_python_day_by_day_conversion():
    """Each lunar festival, converted back through lunar-python's slow path, is the right lunar day."""
    expected = {
        "laba": (12, 8), "little_new_year": (12, 23), "spring_festival": (1, 1), "lantern": (1, 15),
        "dragon_boat": (5, 5), "qixi": (7, 7), "mid_autumn": (8, 15), "double_ninth": (9, 9),
    }
    for f in festival_dates(1990, 2100):
        if f.festival not in expected and f.festival != "new_years_eve":
            continue
        lunar = Solar.fromYmd(f.date.year, f.date.month, f.date.day).getLunar()
        if f.festival == "new_years_eve":
            assert (lunar.getMonth(), lunar.getYear()) == (12, f.lunar_year), f
            nxt = f.date + timedelta(days=1)
            after = Solar.fromYmd(nxt.year, nxt.month, nxt.day).getLunar()
            assert (after.getMonth(), after.getDay()) == (1, 1), f
        else:
            assert (lunar.getMonth(), lunar.getDay(), lunar.getYear()) == (*expected[f.festival], f.lunar_year), f


def test_qingming_agrees_with_chinesecalendar_solar_terms():
    """Cross-check with chinesecalendar's formula, 1990–2099. In 2100 the formula (which
    ignores that 2100 is no leap year) says 04-04; the ephemeris puts 清明 at 2100-04-05
    00:44 Beijing time, a year after 2099-04-04 18:51 — lunar-python is right."""
    terms = {d for d, name in chinese_calendar.get_solar_terms(D("1990-01-01"), D("2099-12-31")) if name == "清明"}
    assert set(dates_of("qingming", 1990, 2099)) == terms
    assert dates_of("qingming", 2100) == [D("2100-04-05")]


@pytest.mark.parametrize("years", [(1989, 2000), (2000, 2101), (1989, 1989), (2101, 2101)])
def test_years_outside_range_refused(years):
    with pytest.raises(ValueError, match="1990"):
        festival_dates(*years)
    with pytest.raises(ValueError):
        festive_days(*years)
    with pytest.raises(ValueError):
        cap_520_days(*years)


def test_edge_years_accepted():
    assert dates_of("spring_festival", 1990) == [D("1990-01-27")]
    assert len(dates_of("spring_festival", 2100)) == 1
    assert festive_days(1990, 1990)[0].date == D("1990-01-01")
    assert festive_days(2100, 2100)[-1].date == D("2100-12-31")


def test_result_is_cached_but_not_shared():
    a = festival_dates(2020, 2030)
    a.clear()
    assert festival_dates(2020, 2030) == festival_dates(2020, 2030) != []


def test_cap_520_days():
    assert cap_520_days(2025, 2025) == [D("2025-02-14"), D("2025-05-20"), D("2025-08-29")]
    assert len(cap_520_days(2016, 2026)) == 33


# --------------------------------------------------------------------------- festive seasons


def test_default_settings():
    s = SeasonSettings()
    assert (s.days_before_little_new_year, s.days_after_lantern, s.little_new_year) == (0, 0, "north")
    assert (s.days_before_new_year, s.days_after_new_year) == (7, 2)
    assert (s.days_before_mid_autumn, s.national_day_fallback_days, s.days_after_national_day) == (10, 7, 0)
    assert (s.days_before_dragon_boat, s.days_after_dragon_boat) == (5, 1)
    assert s.include_qingming is False and s.include_spring_festival is True
    assert s.labour_day_fallback_days == 5
    with pytest.raises(FrozenInstanceError):
        s.days_after_lantern = 3


def test_2026_default_seasons():
    rows = festive_days(2026, 2026)
    assert season_bounds("spring_festival", 2026, rows) == (D("2026-02-10"), D("2026-03-03"))
    assert season_bounds("mid_autumn_national_day", 2026, rows) == (D("2026-09-15"), D("2026-10-07"))
    assert season_bounds("new_year", 2027, rows) == (D("2026-12-25"), D("2026-12-31"))  # cut at the range end
    assert season_bounds("new_year", 2026, rows) == (D("2026-01-01"), D("2026-01-03"))
    assert season_bounds("labour_day", 2026, rows) == (D("2026-05-01"), D("2026-05-05"))  # the statutory span
    assert season_bounds("dragon_boat", 2026, rows) == (D("2026-06-14"), D("2026-06-20"))
    for season, day in (("qixi", "2026-08-19"), ("valentines", "2026-02-14"), ("520", "2026-05-20"), ("double_ninth", "2026-10-18")):
        assert season_bounds(season, 2026, rows) == (D(day), D(day))
    assert "mid_autumn_national_day" in seasons_on(D("2026-09-15"), rows)
    assert seasons_on(D("2026-09-14"), rows) == set()
    assert "mid_autumn_national_day" in seasons_on(D("2026-10-07"), rows)
    assert seasons_on(D("2026-10-08"), rows) == set()
    assert seasons_on(D("2026-10-20"), rows) == set()
    assert seasons_on(D("2026-04-05"), rows) == set()  # 清明 is not a gift occasion by default
    assert seasons_on(D("2026-02-09"), rows) == set()


def test_qingming_festive_when_included():
    rows = festive_days(2026, 2026, SeasonSettings(include_qingming=True))
    assert seasons_on(D("2026-04-05"), rows) == {"qingming"}
    assert seasons_on(D("2026-04-04"), rows) == set()
    rows = festive_days(2026, 2026, SeasonSettings(include_qingming=True, days_before_qingming=1))
    assert seasons_on(D("2026-04-04"), rows) == {"qingming"}


def test_parameters_move_the_bounds():
    wide = SeasonSettings(days_before_little_new_year=15, days_after_lantern=2, days_before_mid_autumn=3,
                          days_after_national_day=1, days_before_dragon_boat=0, days_after_dragon_boat=0,
                          days_before_new_year=0, days_after_new_year=0, days_after_qixi=1)
    rows = festive_days(2026, 2026, wide)
    assert season_bounds("spring_festival", 2026, rows) == (D("2026-01-26"), D("2026-03-05"))  # from 腊八
    assert season_bounds("mid_autumn_national_day", 2026, rows) == (D("2026-09-22"), D("2026-10-08"))
    assert season_bounds("dragon_boat", 2026, rows) == (D("2026-06-19"), D("2026-06-19"))
    assert seasons_on(D("2026-12-31"), rows) == set()  # 元旦 season is now 1-1 only
    assert season_bounds("qixi", 2026, rows) == (D("2026-08-19"), D("2026-08-20"))
    (laba,) = {r.on_day for r in rows if r.date == D("2026-01-26")}
    assert laba == ("laba",)
    south = festive_days(2026, 2026, SeasonSettings(little_new_year="south"))
    assert season_bounds("spring_festival", 2026, south)[0] == D("2026-02-11")


def test_seasons_can_be_switched_off():
    off = SeasonSettings(include_spring_festival=False, include_valentines=False)
    rows = festive_days(2026, 2026, off)
    assert seasons_on(D("2026-02-17"), rows) == set()
    assert {r.season for r in rows} == set(SEASONS) - {"spring_festival", "valentines", "qingming"}


def test_one_row_per_date_and_season_overlaps_give_two_rows():
    rows = festive_days(2016, 2026)
    keys = [(r.date, r.season) for r in rows]
    assert len(keys) == len(set(keys))
    assert keys == sorted(keys, key=lambda k: (k[0], list(SEASONS).index(k[1])))
    # 2-14 falls inside the 2026 春节 season: two rows
    assert seasons_on(D("2026-02-14"), rows) == {"spring_festival", "valentines"}
    # 中秋 and 国庆 are one season: one row a day
    assert seasons_on(D("2026-10-01"), rows) == {"mid_autumn_national_day"}
    assert seasons_on(D("2025-10-06"), rows) == {"mid_autumn_national_day"}


def test_festive_day_rows():
    rows = festive_days(2026, 2026)
    (eve,) = [r for r in rows if r.date == D("2026-02-16")]
    assert (eve.season, eve.season_zh, eve.season_en, eve.season_year, eve.on_day) == (
        "spring_festival", "春节", "Spring Festival", 2026, ("new_years_eve",))
    assert [f.festival for f in eve.festivals] == ["little_new_year", "new_years_eve", "spring_festival", "lantern"]
    assert eve.row() == (D("2026-02-16"), "spring_festival", "春节", "Spring Festival")
    (dec,) = [r for r in rows if r.date == D("2026-12-28")]
    assert (dec.season, dec.season_year, dec.on_day) == ("new_year", 2027, ())
    (oct1,) = [r for r in rows if r.date == D("2026-10-01")]
    assert (oct1.season_zh, oct1.on_day) == ("中秋·国庆", ("national_day",))


def test_festive_days_load_into_duckdb():
    con = duckdb.connect()
    con.execute("CREATE TABLE festive_days(day DATE, season VARCHAR, season_zh VARCHAR, season_en VARCHAR)")
    con.executemany("INSERT INTO festive_days VALUES (?, ?, ?, ?)", [r.row() for r in festive_days(2025, 2026)])
    assert con.execute("SELECT count(*) FROM festive_days WHERE day = DATE '2026-02-14'").fetchone() == (2,)
    assert con.execute("SELECT min(day), max(day) FROM festive_days WHERE season = 'spring_festival' AND year(day) = 2025").fetchone() == (
        D("2025-01-22"), D("2025-02-12"))


def test_mid_autumn_national_day_follows_the_statutory_holiday():
    rows = festive_days(2008, 2025)
    assert season_bounds("mid_autumn_national_day", 2025, rows) == (D("2025-09-26"), D("2025-10-08"))  # 10/1–10/8 holiday
    assert season_bounds("mid_autumn_national_day", 2023, rows) == (D("2023-09-19"), D("2023-10-06"))  # 9/29–10/6 holiday
    assert season_bounds("mid_autumn_national_day", 2008, rows) == (D("2008-09-04"), D("2008-10-05"))  # 9/29–10/5 holiday
    future = festive_days(2030, 2030)
    assert season_bounds("mid_autumn_national_day", 2030, future) == (D("2030-09-02"), D("2030-10-07"))  # fallback 10-07
    assert season_bounds("labour_day", 2030, future) == (D("2030-05-01"), D("2030-05-05"))  # fallback 5-1…5-5


def test_overrides_shape_the_seasons():
    # the case enters next year's notice: 劳动节 2027 5/1–5/3
    rows = festive_days(2027, 2027, holidays_override={"2027-05-01": "劳动节", "2027-05-02": "劳动节", "2027-05-03": "劳动节"})
    assert season_bounds("labour_day", 2027, rows) == (D("2027-05-01"), D("2027-05-03"))
    # a correction: 2026-10-07 declared a working day ends the 国庆 holiday on 10-06
    rows = festive_days(2026, 2026, workdays_override={D("2026-10-07"): "国庆调休"})
    assert season_bounds("mid_autumn_national_day", 2026, rows) == (D("2026-09-15"), D("2026-10-06"))


# --------------------------------------------------------------------------- settings from rpa.toml


def test_settings_from_mapping():
    s = SeasonSettings.from_mapping({"days_after_lantern": 3, "include_qingming": True, "little_new_year": "south"})
    assert (s.days_after_lantern, s.include_qingming, s.little_new_year) == (3, True, "south")
    assert s.days_before_mid_autumn == 10
    assert SeasonSettings.from_mapping({}) == SeasonSettings() == SeasonSettings.from_mapping(None)


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"days_after_lanturn": 3}, "days_after_lanturn"),
        ({"days_after_lantern": -1}, "days_after_lantern"),
        ({"days_after_lantern": 500}, "days_after_lantern"),
        ({"days_after_lantern": "3"}, "days_after_lantern"),
        ({"days_after_lantern": True}, "days_after_lantern"),
        ({"include_qingming": "yes"}, "include_qingming"),
        ({"little_new_year": "east"}, "little_new_year"),
        ({"national_day_fallback_days": 0}, "national_day_fallback_days"),
    ],
)
def test_settings_from_mapping_refuses_bad_keys_and_values(mapping, named):
    with pytest.raises(ValueError, match=named):
        SeasonSettings.from_mapping(mapping)


# --------------------------------------------------------------------------- statutory holidays


def test_2026_official_arrangement():
    for i in range(9):
        d = D("2026-02-15") + timedelta(days=i)
        st = official_day(d)
        assert (st.is_holiday, st.is_makeup_workday, st.holiday, st.source, st.festival) == (True, False, "春节", "chinesecalendar", "spring_festival"), d
        assert st.is_statutory_holiday
    for d in ("2026-02-14", "2026-02-28"):
        st = official_day(D(d))
        assert (st.is_holiday, st.is_makeup_workday, st.holiday, st.is_workday) == (False, True, "春节", True), d
    for i in range(7):
        st = official_day(D("2026-10-01") + timedelta(days=i))
        assert (st.is_holiday, st.holiday, st.festival) == (True, "国庆", "national_day")
    for d in ("2026-09-20", "2026-10-10"):
        st = official_day(D(d))
        assert (st.is_holiday, st.is_makeup_workday, st.holiday) == (False, True, "国庆"), d
    assert official_day(D("2026-10-08")) == DayStatus(D("2026-10-08"), False, False, None, "chinesecalendar", None)
    sunday = official_day(D("2026-03-01"))
    assert (sunday.is_holiday, sunday.is_statutory_holiday, sunday.holiday) == (True, False, None)


def test_2026_listing():
    listing = {e["season"]: e for e in calendar_listing(2026)}
    sf = listing["spring_festival"]
    assert (sf["first"], sf["last"], sf["festive"], sf["source"]) == (D("2026-02-10"), D("2026-03-03"), True, "chinesecalendar")
    assert [(f["festival"], f["date"]) for f in sf["festivals"]] == [
        ("little_new_year", D("2026-02-10")), ("new_years_eve", D("2026-02-16")),
        ("spring_festival", D("2026-02-17")), ("lantern", D("2026-03-03"))]
    assert sf["holidays"] == [{"first": D("2026-02-15"), "last": D("2026-02-23"), "days": 9, "names": ["春节"]}]
    assert sf["makeup_workdays"] == [D("2026-02-14"), D("2026-02-28")]
    mn = listing["mid_autumn_national_day"]
    assert [(h["first"], h["last"]) for h in mn["holidays"]] == [(D("2026-09-25"), D("2026-09-27")), (D("2026-10-01"), D("2026-10-07"))]
    assert mn["makeup_workdays"] == [D("2026-09-20"), D("2026-10-10")]
    ny = listing["new_year"]
    assert (ny["first"], ny["last"], ny["makeup_workdays"]) == (D("2025-12-25"), D("2026-01-03"), [D("2026-01-04")])
    qm = listing["qingming"]
    assert (qm["festive"], qm["first"], qm["festivals"][0]["date"]) == (False, None, D("2026-04-05"))
    assert qm["holidays"][0]["first"] == D("2026-04-04")
    assert (listing["qixi"]["holidays"], listing["qixi"]["source"]) == ([], None)
    assert list(listing) == ["new_year", "spring_festival", "valentines", "qingming", "labour_day", "520",
                             "dragon_boat", "qixi", "mid_autumn_national_day", "double_ninth"]


def test_listing_of_an_unknown_year_says_unknown():
    listing = {e["season"]: e for e in calendar_listing(2030)}
    for season in ("new_year", "spring_festival", "labour_day", "mid_autumn_national_day"):
        assert listing[season]["holidays"] == "unknown" == listing[season]["makeup_workdays"] == listing[season]["source"]
    assert listing["spring_festival"]["first"] is not None  # the lunar season is known all the same
    covered = {e["season"]: e for e in calendar_listing(2030, holidays_override={"2030-02-03": "春节", "2030-02-04": "春节"},
                                                         workdays_override={"2030-02-09": "春节调休"})}
    sf = covered["spring_festival"]
    assert (sf["source"], sf["makeup_workdays"]) == ("override", [D("2030-02-09")])
    assert sf["holidays"] == [{"first": D("2030-02-02"), "last": D("2030-02-04"), "days": 3, "names": ["春节"]}]  # with Sat 2-2
    assert covered["mid_autumn_national_day"]["holidays"] == "unknown"


def test_listing_other_holidays():
    other = calendar_listing(2015)[-1]
    assert other["season"] is None
    assert other["holidays"] == [{"first": D("2015-09-03"), "last": D("2015-09-05"), "days": 3, "names": ["抗战胜利70周年纪念日"]}]
    assert other["makeup_workdays"] == [D("2015-09-06")]
    assert calendar_listing(2026)[-1]["season"] == "double_ninth"


def test_2005_12_31_was_a_working_saturday():
    st = official_day(D("2005-12-31"))
    assert (st.is_holiday, st.is_makeup_workday, st.holiday, st.source) == (False, True, "元旦", "chinesecalendar")
    assert chinese_calendar.is_holiday(D("2005-12-31"))  # the library's error, fixed here


def test_year_beyond_chinesecalendar_is_unknown():
    sat, tue = official_day(D("2030-01-05")), official_day(D("2030-01-01"))
    assert (sat.is_holiday, sat.source) == (True, "unknown")
    assert (tue.is_holiday, tue.source, tue.holiday) == (False, "unknown", None)
    assert official_day(D("1995-10-01")).source == "unknown"


def test_overrides_apply_and_win():
    holidays = {"2030-01-01": "元旦"}
    workdays = {D("2030-01-05"): "元旦调休"}
    st = official_day(D("2030-01-01"), holidays, workdays)
    assert st == DayStatus(D("2030-01-01"), True, False, "元旦", "override", "new_year")
    st = official_day(D("2030-01-05"), holidays, workdays)
    assert (st.is_holiday, st.is_makeup_workday, st.source, st.festival) == (False, True, "override", "new_year")
    # a year the overrides cover: the unlisted days are ordinary days of that arrangement
    assert official_day(D("2030-01-06"), holidays, workdays).source == "override"
    assert official_day(D("2031-01-04"), holidays, workdays).source == "unknown"
    # overrides beat the library
    st = official_day(D("2026-10-07"), workdays_override={"2026-10-07": "国庆调休"})
    assert (st.is_holiday, st.is_makeup_workday, st.source) == (False, True, "override")
    st = official_day(D("2026-10-08"), holidays_override={"2026-10-08": "国庆"})
    assert (st.is_holiday, st.source) == (True, "override")
    assert official_day(D("2026-10-09"), holidays_override={"2026-10-08": "国庆"}).source == "chinesecalendar"


def test_bad_overrides_refused():
    with pytest.raises(ValueError, match="2030-01-01"):
        official_day(D("2030-01-02"), {"2030-01-01": "元旦"}, {"2030-01-01": "调休"})
    with pytest.raises(ValueError, match="2030-13-01"):
        parse_overrides({"2030-13-01": "元旦"})
    with pytest.raises(ValueError):
        parse_overrides({"2030-01-01": ""})
    assert parse_overrides({"2030-01-01": " 元旦 ", D("2030-01-02"): "元旦"}) == {D("2030-01-01"): "元旦", D("2030-01-02"): "元旦"}


def test_official_days_range():
    days = official_days(D("2026-02-13"), D("2026-02-24"))
    assert [d.date for d in days] == [D("2026-02-13") + timedelta(days=i) for i in range(12)]
    assert [d.is_holiday for d in days] == [False, False] + [True] * 9 + [False]
