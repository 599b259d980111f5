"""rpa.toml: windows, events, overrides and rule parameters, and clear errors."""

from __future__ import annotations

from datetime import date

import pytest

from analyzer.config import ConfigError, Event, Window, load_settings, parse_settings
from tests.helpers import rpa


def test_windows_events_overrides_and_rules_parse():
    s = parse_settings(
        {
            "windows": [{"name": "2026 古云村换届", "kind": "election", "start": date(2026, 1, 5), "end": date(2026, 3, 31), "org_unit": "古云村党支部"}],
            "events": [{"person_id": "P0042", "kind": "wedding", "date": date(2026, 5, 1), "days": 3}],
            "holidays": {"2027-01-01": "元旦"},
            "workdays": {"2027-02-07": "春节调休"},
            "rules": {"split_packets": {"min_packets": 4}},
        }
    )
    assert s.windows == [Window("2026 古云村换届", "election", date(2026, 1, 5), date(2026, 3, 31), "古云村党支部")]
    assert s.events == [Event("P0042", "wedding", date(2026, 5, 1), 3)]
    assert s.holidays == {date(2027, 1, 1): "元旦"} and s.workdays == {date(2027, 2, 7): "春节调休"}
    assert s.rules == {"split_packets": {"min_packets": 4}}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"window": []}, "unknown section `window`"),
        ({"windows": [{"name": "w", "kind": "vote", "start": date(2026, 1, 1), "end": date(2026, 2, 1)}]}, "kind must be one of election, promotion, custom"),
        ({"windows": [{"name": "w", "kind": "election", "start": date(2026, 3, 1), "end": date(2026, 2, 1)}]}, "is before start"),
        ({"windows": [{"name": "w", "kind": "election", "start": "soon", "end": date(2026, 2, 1)}]}, "'soon' is not a date"),
        ({"windows": [{"kind": "election", "start": date(2026, 1, 1), "end": date(2026, 2, 1)}]}, "`name` is missing"),
        ({"events": [{"person_id": "P1", "kind": "party", "date": date(2026, 1, 1)}]}, "kind must be one of wedding"),
        ({"events": [{"person_id": "P1", "kind": "wedding", "date": date(2026, 1, 1), "days": -2}]}, "days must be a whole number"),
        ({"rules": {"split_packets": 4}}, "[rules.<id>] tables"),
    ],
)
def test_bad_settings_name_the_key(data, message):
    with pytest.raises(ConfigError) as err:
        parse_settings(data, "case/rpa.toml")
    assert message in str(err.value) and "case/rpa.toml" in str(err.value)


def test_broken_toml_is_one_line_through_the_cli(tmp_path):
    rpa("init", tmp_path)
    (tmp_path / "rpa.toml").write_text("[[windows]\nname = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(tmp_path)
    result = rpa("scan", "--case", tmp_path)
    assert result.exit_code == 2 and "rpa.toml" in result.stderr and "Traceback" not in result.output


def test_the_template_written_by_init_parses_to_defaults(tmp_path):
    rpa("init", tmp_path)
    s = load_settings(tmp_path)
    assert s.windows == [] and s.events == [] and s.rules == {}
