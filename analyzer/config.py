"""The case settings in rpa.toml: windows, events, holiday overrides, calendar, giving
back, AA shares and rule parameters. Read on every command; a mistake is one error line naming the key."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from analyzer.errors import RpaError

WINDOW_KINDS = ("election", "promotion", "custom")
EVENT_KINDS = ("wedding", "funeral", "birth", "birthday", "housewarming", "school", "other")


class ConfigError(RpaError):
    """rpa.toml says something rpa cannot use."""


@dataclass(frozen=True)
class Window:
    """A span of time the investigation cares about (an election, a promotion round)."""

    name: str
    kind: str
    start: date
    end: date
    org_unit: str | None = None


@dataclass(frozen=True)
class Event:
    """An occasion that explains gifts to or from a person (喜庆之事, a funeral ...)."""

    person_id: str
    kind: str
    date: date
    days: int = 3  # the occasion counts this many days either side of the date


@dataclass(frozen=True)
class GivingBack:
    """When a gift counts as given back ([giving_back]): a payment to the giver of about
    the same amount (± return_tolerance) within return_days after it, one to one or in
    bulk. Shared by every rule that judges kept gifts (the scan table given_back)."""

    return_days: int = 7
    return_tolerance: Decimal = Decimal("0.05")  # a ratio: an exact decimal, never a float


# The memo words that mark an AA / shared-bill settlement (群收款 is WeChat's AA collection),
# and the meal and fare words colleagues write when they pay one another back.
AA_WORDS = (
    "AA", "群收款", "均摊", "分摊", "平摊",
    "饭钱", "饭费", "午饭", "午餐", "晚饭", "晚餐", "早餐", "餐费", "车费", "打车", "油费", "停车费",
)


@dataclass(frozen=True)
class AaShares:
    """What an AA share looks like ([aa_shares]): a packet, transfer or QR payment whose
    memo names one of `words` (case-insensitive; each may be a regular expression) and
    whose amount is at most `max_amount` yuan; and, with `by_shape`, a settlement by its
    shape whatever its memo: an amount a gift never has (not a round ten, not a lucky
    number), at a meal time, from a colleague who is not the payee's subordinate or service
    object, paid to the same person at least `min_repeats` times. Such a share of a shared
    bill is no gift and no payment to a voter; every rule leaves it out alike (the scan
    table aa_shares)."""

    words: tuple[str, ...] = AA_WORDS
    max_amount: Decimal = Decimal(500)  # yuan: a generous share of a shared meal
    by_shape: bool = True
    min_repeats: int = 2


@dataclass
class Settings:
    """Everything rpa.toml holds."""

    windows: list[Window] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    holidays: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)
    calendar: dict = field(default_factory=dict)
    giving_back: GivingBack = field(default_factory=GivingBack)
    aa_shares: AaShares = field(default_factory=AaShares)
    rules: dict[str, dict] = field(default_factory=dict)
    rules_dir: Path | None = None


def _date(value, where: str) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: {value!r} is not a date (write it as 2026-01-05)")


def _text(table: dict, key: str, where: str, *, required: bool = True) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}: `{key}` is missing")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: `{key}` must be a non-empty string")
    return value.strip()


def _settings_table(table, where: str, known: tuple[str, ...], example: str) -> None:
    """A settings section must be a table of only the `known` keys (`example` shows one)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table ({example})")
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key `{unknown[0]}` (known: {', '.join(known)})")


def _giving_back(table, where: str) -> GivingBack:
    _settings_table(table, where, ("return_days", "return_tolerance"), "return_days = 7, return_tolerance = 0.05")
    days = table.get("return_days", GivingBack.return_days)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 366:
        raise ConfigError(f"{where}: return_days must be a whole number of days (0–366), not {days!r}")
    tolerance = table.get("return_tolerance", GivingBack.return_tolerance)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, Decimal)) or not 0 <= tolerance < 1:
        raise ConfigError(f"{where}: return_tolerance must be a share from 0 to below 1 (0.05 = ± 5 %), not {tolerance!r}")
    exact = Decimal(str(tolerance))
    if exact.as_tuple().exponent < -4:
        raise ConfigError(f"{where}: return_tolerance takes at most four decimals (0.05 = ± 5 %), not {tolerance!r}")
    return GivingBack(days, exact)


def _aa_shares(table, where: str) -> AaShares:
    _settings_table(table, where, ("words", "max_amount", "by_shape", "min_repeats"), 'words = ["AA", "群收款"], max_amount = 500')
    words = table.get("words", list(AaShares.words))
    if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
        raise ConfigError(f'{where}: words must be a non-empty list of non-empty strings, e.g. ["AA", "群收款"]')
    for word in words:
        try:
            re.compile(word)
        except re.error as exc:
            raise ConfigError(f"{where}: words: {word!r} is not a regular expression ({exc})") from None
    amount = table.get("max_amount", AaShares.max_amount)
    if isinstance(amount, bool) or not isinstance(amount, (int, float, Decimal)) or amount < 0:
        raise ConfigError(f"{where}: max_amount must be an amount in yuan (0 or more), not {amount!r}")
    exact = Decimal(str(amount))
    if not exact.is_finite() or exact.as_tuple().exponent < -2 or exact >= Decimal("1e16"):
        raise ConfigError(f"{where}: max_amount takes at most two decimals (yuan and fen), not {amount!r}")
    by_shape = table.get("by_shape", AaShares.by_shape)
    if not isinstance(by_shape, bool):
        raise ConfigError(f"{where}: by_shape must be true or false, not {by_shape!r}")
    repeats = table.get("min_repeats", AaShares.min_repeats)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= 1000:
        raise ConfigError(f"{where}: min_repeats must be a whole number from 1 to 1000, not {repeats!r}")
    return AaShares(tuple(w.strip() for w in words), exact, by_shape, repeats)


def parse_settings(data: dict, source: str = "rpa.toml", base: Path | None = None) -> Settings:
    """Validate the parsed TOML of a case's settings."""
    known = {"windows", "events", "holidays", "workdays", "calendar", "giving_back", "aa_shares", "rules", "rules_dir"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown section `{unknown[0]}` (known: {', '.join(sorted(known))})")
    settings = Settings()
    names = set()
    for i, w in enumerate(data.get("windows", []), 1):
        where = f"{source}: [[windows]] #{i}"
        if not isinstance(w, dict):
            raise ConfigError(f"{where}: must be a table")
        name = _text(w, "name", where)
        kind = _text(w, "kind", where)
        if kind not in WINDOW_KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(WINDOW_KINDS)}, not {kind!r}")
        start, end = _date(w.get("start"), f"{where} start"), _date(w.get("end"), f"{where} end")
        if end < start:
            raise ConfigError(f"{where}: end {end} is before start {start}")
        if name in names:
            raise ConfigError(f"{where}: a window named {name!r} is declared twice")
        names.add(name)
        settings.windows.append(Window(name, kind, start, end, _text(w, "org_unit", where, required=False)))
    for i, e in enumerate(data.get("events", []), 1):
        where = f"{source}: [[events]] #{i}"
        if not isinstance(e, dict):
            raise ConfigError(f"{where}: must be a table")
        kind = _text(e, "kind", where)
        if kind not in EVENT_KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(EVENT_KINDS)}, not {kind!r}")
        days = e.get("days", 3)
        if not isinstance(days, int) or days < 0 or days > 366:
            raise ConfigError(f"{where}: days must be a whole number of days (0–366)")
        settings.events.append(Event(_text(e, "person_id", where), kind, _date(e.get("date"), f"{where} date"), days))
    for section in ("holidays", "workdays"):
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of date = \"name\"")
        out = getattr(settings, section)
        for key, value in table.items():
            out[_date(key, f"{source}: [{section}]")] = str(value)
    calendar = data.get("calendar", {})
    if not isinstance(calendar, dict):
        raise ConfigError(f"{source}: [calendar] must be a table")
    settings.calendar = dict(calendar)
    settings.giving_back = _giving_back(data.get("giving_back", {}), f"{source}: [giving_back]")
    settings.aa_shares = _aa_shares(data.get("aa_shares", {}), f"{source}: [aa_shares]")
    rules = data.get("rules", {})
    if not isinstance(rules, dict) or not all(isinstance(v, dict) for v in rules.values()):
        raise ConfigError(f"{source}: [rules.<id>] tables hold a rule's parameters, e.g. [rules.split_packets]")
    settings.rules = {k: dict(v) for k, v in rules.items()}
    if "rules_dir" in data:
        folder = Path(str(data["rules_dir"])).expanduser()
        settings.rules_dir = folder if folder.is_absolute() or base is None else base / folder
    return settings


def load_settings(case_folder: Path) -> Settings:
    """Read the case's rpa.toml (missing file: default settings)."""
    path = case_folder / "rpa.toml"
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return parse_settings(data, str(path), base=case_folder)
