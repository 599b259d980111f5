"""`rpa scan`: run the SQL rules over the case and store findings that explain themselves.

Before the rules run, the scan builds the tables they read (TEMP, this connection only):

  mv             movements in scope: id, txn_id, ts, day, amount, kind, status, channel,
                 memo, packet_id, refund_of, payer, payee, payer_person, payee_person,
                 payer_party / payee_party (the person when resolved, else the account)
  people         persons: person_id, name, party_member, official, org_unit, position, rank
  rel            relations: person_id, other_id, relation (family listed both ways round)
  scan_windows   the windows in scope: name, kind, start_day, end_day, org_unit
  festive_days   day, season, season_zh, season_en: the festive seasons (built-in calendar)
  cap_days       day: the days WeChat allows 520-yuan packets (2-14, 5-20, 七夕)
  occasions      person_id, kind, day_from, day_to: declared events and the days around them
  occasion_owners  person_id, day_from, day_to: each occasion for its owner and for each
                 of the owner's family members (a son's wedding explains gifts to his father)
  refunded       id, amount: money given back through the platform, per movement that a
                 refund row names (refund_of)
  power          giver, official, relation: the giver is the official's subordinate or
                 service object ('both' when both) and not also his family
  aa_settings    one row: words, max_amount, by_shape, min_repeats ([aa_shares] in rpa.toml)
  aa_shares      id, how: every packet, group-packet share, transfer or QR payment whose
                 memo names an AA, meal or fare word (case-insensitive) and whose amount is
                 at most max_amount (how = 'words'), and with by_shape every settlement by
                 its shape (how = 'shape': AA_SHARES_SQL): a share of a shared bill or a
                 colleague paying lunch back, no gift (rules leave these out alike)
  gifts          id, ts, day, kind, giver, giver_person, receiver, amount, aa: every
                 accepted person-to-person packet, group-packet share or transfer (not
                 refunded, returned or pending; amount net of linked refunds) that a rule
                 can ask about: to an official, a Party member or an official's family
                 member, or, around an election window, from a voter (a Party member or a
                 member of the window's unit); never between family members. giver is the
                 payer (the person, else the account), receiver the payee person; aa marks
                 an AA share (kept in, so that the giving-back ledger is the same for all)
  giving_back_settings  one row: return_days, return_tolerance ([giving_back] in rpa.toml)
  given_back     id, back_ids, how: the gifts (above) that the receiver gave back to the
                 giver within return_days: one to one by a payment of about the same amount
                 (± return_tolerance, how = 'equal payment back'), or in bulk (how =
                 'payments back'); back_ids are the payments. One ledger per (receiver,
                 giver) pair over all gifts of the pair; rules that judge kept gifts take
                 theirs NOT IN given_back.

Then the database is locked (no file access, no ATTACH, configuration frozen) and each
rule runs with its parameters. A rule returns one row per finding (rules.OUTPUT_COLUMNS
plus metrics); the scan gives each a stable id and its reason in Chinese and English.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import duckdb

from analyzer import __version__
from analyzer.config import Settings
from analyzer.db import transaction
from analyzer.errors import RpaError
from analyzer.params import identifier, literal
from analyzer.pause import pause_point
from analyzer.rules import OUTPUT_COLUMNS, SEVERITIES, Rule, RuleError, check_labels, placeholders

SCOPES = ("all", "election", "promotion", "custom", "festival")


@dataclass
class RuleRun:
    """What one rule found in a scan."""

    rule: Rule
    findings: int
    by_severity: dict[str, int]
    seconds: float
    new: int = 0  # findings not stored before
    suppressed: int = 0  # findings a suppression in force keeps out of the active list
    stale: int = 0  # stored findings of the rule that this scan no longer gave


def prepare(con: duckdb.DuckDBPyConnection, settings: Settings, scope: str = "all", since: date | None = None, until: date | None = None) -> None:
    """Build the scan tables for the given scope (see the module docstring)."""
    windows = settings.windows
    if scope in ("election", "promotion", "custom"):
        windows = [w for w in windows if w.kind == scope]
    elif scope not in ("all", "festival"):
        windows = [w for w in windows if w.name == scope]
        if not windows:
            known = ", ".join(w.name for w in settings.windows) or "none declared in rpa.toml"
            raise RpaError(f"--window {scope!r}: not all, election, promotion, custom, festival or a window name ({known})")
    con.execute("CREATE OR REPLACE TEMP TABLE scan_windows (name VARCHAR, kind VARCHAR, start_day DATE, end_day DATE, org_unit VARCHAR)")
    if windows:
        con.executemany("INSERT INTO scan_windows VALUES (?, ?, ?, ?, ?)", [(w.name, w.kind, w.start, w.end, w.org_unit) for w in windows])

    first, last = con.execute("SELECT min(ts)::DATE, max(ts)::DATE FROM movement_rows").fetchall()[0]
    years = (max((first or date.today()).year, 1990), min((last or date.today()).year, 2100))
    _calendar_tables(con, settings, years)

    con.execute("CREATE OR REPLACE TEMP TABLE occasions (person_id VARCHAR, kind VARCHAR, day_from DATE, day_to DATE)")
    if settings.events:
        con.executemany(
            "INSERT INTO occasions VALUES (?, ?, ?::DATE - ?::INTEGER, ?::DATE + ?::INTEGER)",
            [(e.person_id, e.kind, e.date, e.days, e.date, e.days) for e in settings.events],
        )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE people AS
           SELECT person_id, name, party_member, official, org_unit, position, rank FROM persons"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE rel AS
           SELECT person_id, other_id, relation FROM relations
           UNION SELECT other_id, person_id, relation FROM relations WHERE relation IN ('family', 'colleague')"""
    )
    # mv is a view over the stored (compressed, cached) table, not a copy: each rule
    # reads only the columns it needs. Dates enter as literals we format ourselves.
    where = ["t.status NOT IN ('failed', 'closed')"]
    if since:
        where.append(f"t.ts >= DATE '{since.isoformat()}'")
    if until:
        where.append(f"t.ts < DATE '{until.isoformat()}' + INTERVAL 1 DAY")
    if scope == "festival":
        where.append("CAST(t.ts AS DATE) IN (SELECT day FROM festive_days)")
    elif scope != "all":
        where.append("EXISTS (SELECT 1 FROM scan_windows w WHERE CAST(t.ts AS DATE) BETWEEN w.start_day AND w.end_day)")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW mv AS
        SELECT t.id, t.txn_id, t.ts, CAST(t.ts AS DATE) AS day, t.amount, t.kind, t.status, t.channel, t.memo,
               t.packet_id, t.refund_of, t.payer, t.payee, t.payer_person, t.payee_person,
               coalesce(t.payer_person, t.payer) AS payer_party,
               coalesce(t.payee_person, t.payee) AS payee_party
        FROM main.movement_rows t
        WHERE {' AND '.join(where)}
        """
    )
    _shared_tables(con)
    _gift_tables(con, settings)
    _giving_back_tables(con, settings)


def _shared_tables(con) -> None:
    """Relations and refunds that several rules need, built once (see the docstring)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE occasion_owners AS
        SELECT person_id, day_from, day_to FROM occasions
        UNION ALL
        SELECT f.person_id, o.day_from, o.day_to
        FROM occasions AS o JOIN rel AS f ON f.relation = 'family' AND f.other_id = o.person_id
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE refunded AS
        SELECT refund_of AS id, sum(amount) AS amount FROM mv
        WHERE kind = 'refund' AND refund_of IS NOT NULL
        GROUP BY refund_of
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE power AS
        SELECT r.person_id AS giver, r.other_id AS official,
               CASE WHEN count(DISTINCT r.relation) > 1 THEN 'both' ELSE min(r.relation) END AS relation
        FROM rel AS r
        JOIN people AS p ON p.person_id = r.other_id
        WHERE r.relation IN ('subordinate', 'service_object')
          AND p.official
          AND NOT EXISTS (
              SELECT 1 FROM rel AS f
              WHERE f.relation = 'family' AND f.person_id = r.person_id AND f.other_id = r.other_id
          )
        GROUP BY r.person_id, r.other_id
        """
    )


# The giving-back ledger, once for all rules. Per (receiver, giver) pair: every accepted
# gift of the pair and the receiver's payments back to the giver; first one to one by
# amount, then what is left in bulk. Party equality and time ranges bound every join;
# window sums over time ranges do the bulk step.
GIVEN_BACK_SQL = """
CREATE OR REPLACE TEMP TABLE given_back AS
WITH pairs AS (
    -- the gifts (scan table gifts: accepted, net of linked refunds, from outside the
    -- receiver's family) per receiver and giver
    SELECT receiver, giver, min(ts) AS first_ts, max(ts) AS last_ts
    FROM gifts
    GROUP BY receiver, giver
),
paid_back AS (
    -- the receiver's payments to the giver from the first gift to return_days after the
    -- last: bounded by party (both parties equal) and by time. A refund row that names
    -- no original (refund_of empty) counts as a payment back too.
    SELECT pr.receiver, pr.giver, b.id, b.ts, b.amount - coalesce(r.amount, 0) AS amount
    FROM pairs AS pr
    JOIN mv AS b
      ON b.payer_party = pr.receiver
     AND b.payee_party = pr.giver
     AND b.ts >= pr.first_ts
     AND b.ts <= pr.last_ts + $return_days * INTERVAL 1 DAY
    LEFT JOIN refunded AS r ON r.id = b.id
    WHERE (b.kind IN ('red_packet', 'group_red_packet', 'transfer') OR (b.kind = 'refund' AND b.refund_of IS NULL))
      AND b.status NOT IN ('refunded', 'returned', 'pending')
      AND b.amount - coalesce(r.amount, 0) > 0
),
candidates AS (
    -- step 1, one to one: a payment back of about the gift's amount (± return_tolerance)
    -- within return_days after it. Bounded by party and time.
    SELECT g.id AS gift_id, b.id AS back_id,
           row_number() OVER (PARTITION BY b.id ORDER BY g.ts DESC, g.id DESC) AS rank_for_back,
           row_number() OVER (PARTITION BY g.id ORDER BY b.ts, b.id) AS rank_for_gift
    FROM gifts AS g
    JOIN paid_back AS b
      ON b.receiver = g.receiver
     AND b.giver = g.giver
     AND b.ts >= g.ts
     AND b.ts <= g.ts + $return_days * INTERVAL 1 DAY
    WHERE b.amount >= g.amount * (1 - $return_tolerance)
      AND b.amount <= g.amount * (1 + $return_tolerance)
),
matched AS (
    -- a match both sides agree on (the payment's latest candidate gift and the gift's
    -- earliest candidate payment): that gift was given back
    SELECT gift_id, back_id FROM candidates WHERE rank_for_back = 1 AND rank_for_gift = 1
),
ledger AS (
    -- what is left: gifts and payments back that found no match of their own
    SELECT receiver, giver, id, ts, amount AS gift, 0 AS back
    FROM gifts WHERE id NOT IN (SELECT gift_id FROM matched)
    UNION ALL
    SELECT receiver, giver, id, ts, 0 AS gift, amount AS back
    FROM paid_back WHERE id NOT IN (SELECT back_id FROM matched)
),
bulk AS (
    -- step 2, in bulk: an unmatched gift is given back when the unmatched payments back
    -- in the return_days after it cover all unmatched gifts of the pair within
    -- return_days either side of it, less the tolerance (three 200-yuan packets given
    -- back as one 600-yuan transfer). Window sums per pair over time ranges: no join,
    -- linear in the pair's rows.
    SELECT id, gift,
           sum(gift) OVER (PARTITION BY receiver, giver ORDER BY ts
                           RANGE BETWEEN $return_days * INTERVAL 1 DAY PRECEDING AND $return_days * INTERVAL 1 DAY FOLLOWING) AS gifts_around,
           sum(back) OVER (PARTITION BY receiver, giver ORDER BY ts
                           RANGE BETWEEN CURRENT ROW AND $return_days * INTERVAL 1 DAY FOLLOWING) AS back_after,
           list(CASE WHEN back > 0 THEN id END) OVER (PARTITION BY receiver, giver ORDER BY ts
                           RANGE BETWEEN CURRENT ROW AND $return_days * INTERVAL 1 DAY FOLLOWING) AS backs_after
    FROM ledger
),
given AS (
    -- the gifts given back: matched one to one, or (not kept) in bulk
    SELECT gift_id AS id, [back_id] AS back_ids, 'equal payment back' AS how
    FROM matched
    UNION ALL
    SELECT id, list_filter(backs_after, lambda x: x IS NOT NULL), 'payments back'
    FROM bulk
    WHERE gift > 0 AND back_after >= gifts_around * (1 - $return_tolerance)
)
SELECT CAST(id AS BIGINT) AS id, CAST(back_ids AS BIGINT[]) AS back_ids, CAST(how AS VARCHAR) AS how
FROM given
ORDER BY id
"""


# Which movements are gifts, once for all rules (see the module docstring). Kinds,
# statuses, refunds and family are judged here alike; each rule then picks its givers
# and receivers (power, proxies, occasions ...) and leaves out the AA shares.
GIFTS_SQL = """
CREATE OR REPLACE TEMP TABLE gifts AS
WITH receivers AS (
    -- the persons a rule asks about as receivers: officials, Party members and officials'
    -- family members (most packets of ordinary life are between other people: leaving
    -- them out keeps the table and the giving-back ledger small)
    SELECT person_id FROM people WHERE official OR party_member
    UNION
    SELECT f.person_id FROM rel AS f JOIN people AS o ON o.person_id = f.other_id AND o.official
    WHERE f.relation = 'family'
),
voters AS (
    -- around each election window (from twice return_days before it), the voters: what
    -- they paid anyone may be a loan or a gift that a payment to them in the window
    -- gives back (election_mass_transfer does not count such repayments)
    SELECT p.person_id, w.start_day - 2 * $return_days AS day_from, w.end_day AS day_to
    FROM scan_windows AS w
    JOIN people AS p ON p.party_member OR p.org_unit = w.org_unit
    WHERE w.kind = 'election'
)
SELECT m.id, m.ts, m.day, m.kind, m.payer_party AS giver, m.payer_person AS giver_person,
       m.payee_person AS receiver,
       m.amount - coalesce(r.amount, 0) AS amount,
       a.id IS NOT NULL AS aa
FROM mv AS m
LEFT JOIN refunded AS r ON r.id = m.id
LEFT JOIN aa_shares AS a ON a.id = m.id
WHERE m.kind IN ('red_packet', 'group_red_packet', 'transfer')
  -- refunded / returned: never accepted; pending: not (yet) accepted
  AND m.status NOT IN ('refunded', 'returned', 'pending')
  AND m.payee_person IS NOT NULL
  AND m.payer_party IS NOT NULL
  AND m.payer_party <> m.payee_party
  AND m.amount - coalesce(r.amount, 0) > 0
  AND (
      m.payee_person IN (SELECT person_id FROM receivers)
      -- (a semi-join on the id: one hash join over the few windows' voters)
      OR m.id IN (
          SELECT x.id
          FROM mv AS x
          JOIN voters AS v ON v.person_id = x.payer_person AND x.day BETWEEN v.day_from AND v.day_to
          WHERE x.kind IN ('red_packet', 'group_red_packet', 'transfer')
      )
  )
  -- not between family members
  AND NOT EXISTS (
      SELECT 1 FROM rel AS f
      WHERE f.relation = 'family' AND f.person_id = m.payer_person AND f.other_id = m.payee_person
  )
"""


# Amounts people choose for a gift because of how they read (5.20 我爱你, 13.14 一生一世,
# 1.68 一路发 …); repeated digits (6.66, 8.88, 99.9) and endings in 88, 66 or 99 are
# lucky too (AA_SHARES_SQL). A settlement's amount is what the bill came to.
LUCKY_AMOUNTS = ("5.2", "5.21", "52", "52.1", "13.14", "131.4", "1.314", "1.68", "16.8", "1.88", "18.8", "1.99", "19.9")

# The settlements no rule counts as gifts or as payments to voters, once for all rules:
# by their words (a memo naming an [aa_shares] word, at most max_amount) and, with
# by_shape, by their shape whatever the memo says: a packet, transfer or QR payment of at
# most max_amount that is no round ten and no lucky number (so an amount a gift never
# has: 23.50, 37.80, 41.30), paid at a meal time (10:30–14:30 or 16:30–21:00) by a
# colleague (relations.csv, or the same org unit) who is not the payee's subordinate or
# service object, to the same person at least min_repeats times. A contractor's 199.50
# twice a week stays a gift: he is the official's service object.
AA_SHARES_SQL = """
CREATE OR REPLACE TEMP TABLE aa_shares AS
WITH worded AS (
    -- the memo is matched case-insensitively (aa = AA); a NULL memo matches nothing
    SELECT id, 'words' AS how FROM mv
    WHERE kind IN ('red_packet', 'group_red_packet', 'transfer', 'qr_payment')
      AND amount <= $max_amount
      AND regexp_matches(memo, $pattern, 'i')
),
digits AS (
    -- the amount's digits without the point and without leading or trailing zeros
    -- (23.50 → 235, 6.66 → 666, 88.80 → 888)
    SELECT m.id, m.payer_party, m.payee_party, m.payer_person, m.payee_person, m.amount, m.ts,
           rtrim(ltrim(replace(format('{:.2f}', m.amount), '.', ''), '0'), '0') AS d
    FROM mv AS m
    WHERE $by_shape
      AND m.kind IN ('red_packet', 'transfer', 'qr_payment')
      AND m.status NOT IN ('refunded', 'returned')
      AND m.amount <= $max_amount
      AND m.amount % 10 <> 0
      AND m.payer_person IS NOT NULL AND m.payee_person IS NOT NULL
      AND m.payer_person <> m.payee_person
      AND (hour(m.ts) * 60 + minute(m.ts) BETWEEN 630 AND 870 OR hour(m.ts) * 60 + minute(m.ts) BETWEEN 990 AND 1260)
),
shaped AS (
    SELECT g.id, g.payer_party, g.payee_party
    FROM digits AS g
    WHERE NOT list_contains($lucky, g.amount)
      AND NOT (length(g.d) >= 2 AND g.d = repeat(left(g.d, 1), length(g.d)))
      AND right(format('{:.2f}', g.amount), 2) NOT IN ('88', '66', '99')
      -- among colleagues: declared, or the same org unit
      AND (EXISTS (SELECT 1 FROM rel AS c WHERE c.relation = 'colleague' AND c.person_id = g.payer_person AND c.other_id = g.payee_person)
           OR EXISTS (SELECT 1 FROM people AS a JOIN people AS b ON a.org_unit = b.org_unit
                      WHERE a.person_id = g.payer_person AND b.person_id = g.payee_person AND a.org_unit <> ''))
      -- not from someone the payee has power over: that is what the gift rules are about
      AND NOT EXISTS (SELECT 1 FROM power AS w WHERE w.giver = g.payer_person AND w.official = g.payee_person)
),
recurring AS (
    -- settled again and again: at least min_repeats such payments from the payer to the payee
    SELECT id, 'shape' AS how
    FROM (SELECT id, count(*) OVER (PARTITION BY payer_party, payee_party) AS n FROM shaped) AS s
    WHERE n >= $min_repeats
)
SELECT id, max(how) AS how FROM (SELECT * FROM worded UNION ALL SELECT * FROM recurring) AS a GROUP BY id
"""


def _gift_tables(con, settings: Settings) -> None:
    """aa_settings, aa_shares and gifts (see the module docstring)."""
    from analyzer.config import ConfigError

    aa = settings.aa_shares
    con.execute(
        "CREATE OR REPLACE TEMP TABLE aa_settings (words VARCHAR[], max_amount DECIMAL(18,2), by_shape BOOLEAN, min_repeats INTEGER)"
    )
    con.execute("INSERT INTO aa_settings VALUES (?, ?, ?, ?)", [list(aa.words), aa.max_amount, aa.by_shape, aa.min_repeats])
    try:
        con.execute(
            AA_SHARES_SQL,
            {"max_amount": aa.max_amount, "pattern": "|".join(aa.words), "by_shape": aa.by_shape,
             "min_repeats": aa.min_repeats, "lucky": [Decimal(x) for x in LUCKY_AMOUNTS]},
        )
    except duckdb.Error as exc:
        raise ConfigError(f"rpa.toml [aa_shares] words: {str(exc).splitlines()[0]}") from None
    con.execute(GIFTS_SQL, {"return_days": settings.giving_back.return_days})


def _giving_back_tables(con, settings: Settings) -> None:
    """giving_back_settings and given_back (see the module docstring)."""
    gb = settings.giving_back
    con.execute("CREATE OR REPLACE TEMP TABLE giving_back_settings (return_days INTEGER, return_tolerance DECIMAL(6,4))")
    con.execute("INSERT INTO giving_back_settings VALUES (?, ?)", [gb.return_days, gb.return_tolerance])
    # the values bound exactly as a rule's own parameters are (int days, decimal ratio)
    con.execute(GIVEN_BACK_SQL, {"return_days": gb.return_days, "return_tolerance": gb.return_tolerance})


def season_settings(settings: Settings):
    """The festive-season parameters of the case ([calendar] in rpa.toml)."""
    from analyzer import calendar
    from analyzer.config import ConfigError

    try:
        return calendar.SeasonSettings.from_mapping(settings.calendar) if settings.calendar else calendar.SeasonSettings()
    except ValueError as exc:
        raise ConfigError(f"rpa.toml [calendar]: {exc}") from None


def _calendar_tables(con, settings: Settings, years: tuple[int, int]) -> None:
    from analyzer import calendar
    from analyzer.config import ConfigError

    try:
        days = calendar.festive_days(years[0], years[1], season_settings(settings), settings.holidays or None, settings.workdays or None)
    except ValueError as exc:
        raise ConfigError(f"rpa.toml [holidays]/[workdays]: {exc}") from None
    con.execute("CREATE OR REPLACE TEMP TABLE festive_days (day DATE, season VARCHAR, season_zh VARCHAR, season_en VARCHAR)")
    if days:
        con.execute(
            "INSERT INTO festive_days SELECT unnest($d), unnest($s), unnest($z), unnest($e)",
            {"d": [d.date for d in days], "s": [d.season for d in days], "z": [d.season_zh for d in days], "e": [d.season_en for d in days]},
        )
    con.execute("CREATE OR REPLACE TEMP TABLE cap_days AS SELECT unnest($d) AS day", {"d": calendar.cap_520_days(years[0], years[1])})


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """From here on SQL cannot reach outside the case: no reading or writing files, no
    ATTACH, no extension loading, and the configuration cannot be changed back."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def finding_id(rule_id: str, subject: str, evidence: list[int]) -> str:
    """Stable id: the same rule, subject and evidence movements give the same id.
    (FINDING_ID_SQL computes the same in DuckDB; a test keeps the two equal.)"""
    key = f"{rule_id}|{subject}|{','.join(str(i) for i in sorted(evidence))}"
    return "F" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:11].upper()


FINDING_ID_SQL = "'F' || upper(substr(sha256($rule || '|' || subject || '|' || array_to_string(ev, ',')), 1, 11))"


def _fmt(value: object) -> str:
    """A parameter value as the reason shows it."""
    if isinstance(value, Decimal):
        return f"{value:,.2f}" if value != value.to_integral_value() else f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.2f}" if value != int(value) else f"{int(value):,}"
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def _column_text(name: str, type_: str) -> str:
    """SQL rendering of a rule output column inside a reason: money with thousands
    separators and two decimals, counts as integers, lists joined with 、."""
    col = identifier(name)
    t = type_.upper()
    if t.startswith("DECIMAL"):
        return f"CASE WHEN {col} = round({col}) THEN format('{{:,}}', CAST({col} AS BIGINT)) ELSE format('{{:,.2f}}', {col}) END"
    if t in ("DOUBLE", "FLOAT", "REAL"):
        return f"CASE WHEN {col} = round({col}) THEN format('{{:,}}', CAST({col} AS BIGINT)) ELSE format('{{:,.2f}}', {col}) END"
    if t.endswith("[]"):
        return f"array_to_string({col}, '、')"
    if t.startswith("TIMESTAMP"):
        return f"strftime({col}, '%Y-%m-%d %H:%M')"
    return f"CAST({col} AS VARCHAR)"


# `{<column>_label}` in a reason names the party (person id or account) in the rule's
# column <column> (a list: each of them): "name（id）" for a person on the roster, else
# the account. The rule gives the party as a value and the label is made here and, with
# pseudonyms, by a masked report: a rule never builds a label with a name inside it.
LABEL_SUFFIX = "_label"
PERSON_NAMES = """(SELECT map_from_entries(list(struct_pack(k := person_id, v := name)) FILTER (WHERE name IS NOT NULL)) AS m
                   FROM people) AS person_names"""


def label_column(name: str, types: dict[str, str]) -> str | None:
    """The party column a `{name}` placeholder labels, when it is one."""
    base = name[: -len(LABEL_SUFFIX)] if name.endswith(LABEL_SUFFIX) else None
    return base if base and base in types and name not in types else None


def _label_text(name: str, type_: str) -> str:
    def one(x: str) -> str:
        return f"coalesce(map_extract_value(person_names.m, {x}) || '（' || {x} || '）', {x})"

    col = identifier(name)
    if type_.upper().endswith("[]"):
        return f"array_to_string(list_transform(CAST({col} AS VARCHAR[]), x -> {one('x')}), '、')"
    return one(f"CAST({col} AS VARCHAR)")


def reason_sql(template: str, types: dict[str, str], params: dict) -> str:
    """A reason template as a SQL expression over the rule's output: literal text,
    the rule's columns (rendered per type), parties' labels and the parameter values."""
    import string

    parts = []
    for text, name, _, _ in string.Formatter().parse(template):
        if text:
            parts.append(literal(text))
        if name:
            if name in types:  # the rule's own figure wins over a parameter of that name
                parts.append(f"coalesce({_column_text(name, types[name])}, '')")
            elif (base := label_column(name, types)) is not None:
                parts.append(f"coalesce({_label_text(base, types[base])}, '')")
            else:
                parts.append(literal(_fmt(params[name])))
    return " || ".join(parts) if parts else "''"


def run_rule(con: duckdb.DuckDBPyConnection, rule: Rule, params: dict) -> None:
    """Run one rule into TEMP table `rule_out`, then append its findings, with ids,
    reasons and metrics computed in DuckDB, to TEMP table `found`."""
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE rule_out AS {rule.sql}", params)
    except duckdb.OutOfMemoryException:
        raise  # the case is too big for the memory limit, not a broken rule: the CLI says so
    except duckdb.Error as exc:
        raise RuleError(f"rule {rule.id} failed: {str(exc).splitlines()[0]}") from None
    types = {name: type_ for name, type_, *_ in con.execute("DESCRIBE rule_out").fetchall()}
    missing = [c for c in OUTPUT_COLUMNS if c not in types]
    if missing:
        raise RuleError(f"rule {rule.id} does not return the column(s) {', '.join(missing)}")
    check_labels(rule, types)
    for lang in ("reason_zh", "reason_en"):
        unknown = {n for n in placeholders(getattr(rule, lang)) - set(types) - set(params) if label_column(n, types) is None}
        if unknown:
            raise RuleError(f"rule {rule.id}: {lang} names {', '.join(sorted(unknown))}, which the rule neither returns nor takes")
    severity = f"coalesce(severity, {literal(rule.severity)})" if "severity" in types else literal(rule.severity)
    bad = con.execute(f"SELECT DISTINCT {severity} FROM rule_out WHERE {severity} NOT IN ('high', 'medium', 'low')").fetchall()
    if bad:
        raise RuleError(f"rule {rule.id} returned severity {bad[0][0]!r}")
    metric_cols = [c for c in types if c not in OUTPUT_COLUMNS and c != "severity"]
    metrics = (
        "to_json(struct_pack(" + ", ".join(f"{identifier(c)} := {identifier(c)}" for c in metric_cols) + "))::VARCHAR"
        if metric_cols else "'{}'"
    )
    params_json = json.dumps({k: _json_value(v) for k, v in params.items()}, ensure_ascii=False)
    con.execute(
        f"""
        INSERT INTO found
        SELECT {FINDING_ID_SQL}, $rule, {severity}, greatest(0, least(100, coalesce(CAST(score AS DOUBLE), 0))),
               CAST(subject AS VARCHAR),
               list_sort(list_distinct(CAST(counterparties AS VARCHAR[]))),  -- list_distinct drops NULLs
               CAST(window_name AS VARCHAR), CAST(start_ts AS TIMESTAMP), CAST(end_ts AS TIMESTAMP),
               CAST(total_amount AS DECIMAL(18,2)), CAST(txn_count AS BIGINT),
               {reason_sql(rule.reason_zh, types, params)}, {reason_sql(rule.reason_en, types, params)},
               {metrics}, $params, ev
        FROM (SELECT *, list_sort(list_distinct(CAST(evidence AS BIGINT[]))) AS ev FROM rule_out), {PERSON_NAMES}
        WHERE subject IS NOT NULL AND len(ev) > 0
        """,
        {"rule": rule.id, "params": params_json},
    )
    con.execute("DROP TABLE rule_out")


def scan(
    con: duckdb.DuckDBPyConnection,
    rules: list[Rule],
    params: dict[str, dict],
    settings: Settings,
    *,
    scope: str = "all",
    since: date | None = None,
    until: date | None = None,
    actor: str | None = None,
    today: date | None = None,
) -> list[RuleRun]:
    """Run `rules` and store their findings in the case. Returns what each found.

    A finding given again keeps its id and its triage history and is refreshed; a
    stored finding of these rules that this scan did not give is kept, marked stale;
    suppressions in force on `today` (default: the scan's date) mark the findings they
    match. The scan is recorded in the audit log as `actor`.

    The connection is locked down for the rules, so a scan is the last thing a
    connection does."""
    import time

    started = datetime.now().replace(microsecond=0)
    today = today or started.date()
    prepare(con, settings, scope, since, until)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE found (id VARCHAR, rule VARCHAR, severity VARCHAR, score DOUBLE, subject VARCHAR,
           counterparties VARCHAR[], window_name VARCHAR, start_ts TIMESTAMP, end_ts TIMESTAMP, total_amount DECIMAL(18,2),
           txn_count BIGINT, reason_zh VARCHAR, reason_en VARCHAR, metrics VARCHAR, params VARCHAR, evidence BIGINT[])"""
    )
    lock_down(con)
    runs = []
    for rule in rules:
        t0 = time.perf_counter()
        run_rule(con, rule, params[rule.id])
        counts = dict(con.execute("SELECT severity, count(*) FROM found WHERE rule = ? GROUP BY 1", [rule.id]).fetchall())
        by_sev = {s: counts.get(s, 0) for s in SEVERITIES}
        runs.append(RuleRun(rule, sum(by_sev.values()), by_sev, time.perf_counter() - t0))
        pause_point("scan.after_rule")
    changes = _store(con, rules, params, scope, since, until, started, today, actor)
    for run in runs:
        run.new, run.suppressed, run.stale = changes.get(run.rule.id, (0, 0, 0))
    return runs


# The findings table's columns, in order, as _store writes them.
FINDING_COLUMNS = (
    "id", "rule", "severity", "score", "subject", "counterparties", "window_name", "start_ts", "end_ts", "total_amount",
    "txn_count", "reason_zh", "reason_en", "metrics", "params", "scan_id", "evidence", "first_scan_id", "stale",
    "stale_scan_id", "suppressed_by",
)


# What a finding says, beyond its id (rule, subject and evidence): a finding given again
# with all of these unchanged is kept as stored.
CONTENT_COLUMNS = (
    "severity", "score", "counterparties", "window_name", "start_ts", "end_ts", "total_amount", "txn_count",
    "reason_zh", "reason_en", "metrics", "params",
)


# The key of a finding's metrics that records how its evidence changed across scans
# (a list of {scan_id, status, added, removed}; movement ids). No rule returns it.
EVIDENCE_HISTORY = "_evidence_history"


def _carry_identity(con, source: str, rule_ids: list[str], scan_id: int) -> None:
    """A finding keeps its identity as the case grows. A finding given now under an id
    that is not stored (its evidence changed: new data added a movement, a refund took
    one away) is the successor of the stored finding of the same rule that this scan did
    not give again and whose evidence it mostly holds (at least half of it): it takes
    that finding's id, so its triage decisions stay with it, and its metrics record what
    changed (EVIDENCE_HISTORY: the scan, the status the finding had, the subject it had
    when that changed — a game's biggest winner can change with a further night — and
    the movements added and removed), after the history it had. One successor per
    stored finding and one stored finding per successor: the most evidence shared, then
    the oldest. Set-wise; the join is bounded by the movements the two share and only
    takes findings whose id is new."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE successors AS
        WITH new_evidence AS (
            SELECT id AS new_id, unnest(evidence) AS tx FROM {source} WHERE id NOT IN (SELECT id FROM findings)
        ),
        old_evidence AS (
            -- stored findings of the rules that ran, not given again, that hold one of those movements
            SELECT id AS old_id, unnest(evidence) AS tx FROM findings
            WHERE list_contains($ids, rule) AND id NOT IN (SELECT id FROM {source})
        ),
        shared AS (
            -- bounded by the movement: pairs that share one at least, and how many
            SELECT n.new_id, o.old_id, count(*) AS shared
            FROM new_evidence AS n JOIN old_evidence AS o ON o.tx = n.tx
            GROUP BY n.new_id, o.old_id
        ),
        candidates AS (
            SELECT s.new_id, s.old_id, s.shared, o.first_scan_id, o.metrics AS old_metrics, o.subject AS old_subject,
                   f.subject AS new_subject, o.evidence AS old_evidence, f.evidence AS new_evidence
            FROM shared AS s
            JOIN {source} AS f ON f.id = s.new_id
            JOIN findings AS o ON o.id = s.old_id AND o.rule = f.rule
            WHERE 2 * s.shared >= len(o.evidence)
        ),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY new_id ORDER BY shared DESC, first_scan_id, old_id) AS rank_new,
                      row_number() OVER (PARTITION BY old_id ORDER BY shared DESC, new_id) AS rank_old
            FROM candidates
        )
        SELECT r.new_id, r.old_id,
               list_concat(
                   coalesce(CAST(json_extract(r.old_metrics, '$.{EVIDENCE_HISTORY}') AS JSON[]), CAST([] AS JSON[])),
                   CASE WHEN list_sort(r.new_evidence) = list_sort(r.old_evidence) THEN CAST([] AS JSON[])
                        ELSE [to_json(struct_pack(
                                 scan_id := $scan,
                                 status := coalesce((SELECT t.status FROM triage AS t WHERE t.finding_id = r.old_id
                                                     ORDER BY t.triage_id DESC LIMIT 1), 'new'),
                                 subject_was := CASE WHEN r.old_subject <> r.new_subject THEN r.old_subject END,
                                 added := list_filter(r.new_evidence, lambda x: NOT list_contains(r.old_evidence, x)),
                                 removed := list_filter(r.old_evidence, lambda x: NOT list_contains(r.new_evidence, x))))]
                   END) AS history
        FROM ranked AS r
        WHERE rank_new = 1 AND rank_old = 1
        """,
        {"ids": rule_ids, "scan": scan_id},
    )
    con.execute(
        f"""
        UPDATE {source} SET id = s.old_id,
               metrics = CASE WHEN len(s.history) = 0 THEN {source}.metrics
                              ELSE json_merge_patch({source}.metrics, json_object('{EVIDENCE_HISTORY}', to_json(s.history)))::VARCHAR END
        FROM successors AS s
        WHERE {source}.id = s.new_id
        """
    )


def _store(con, rules, params, scope, since, until, started, today, actor) -> dict[str, tuple[int, int, int]]:
    """Store the scan's findings, set-wise, in one transaction with its scans row and
    audit entry. Returns per rule: (new, suppressed, went stale)."""
    from analyzer.audit import append, record_findings_digest
    from analyzer.triage import MATCH

    with transaction(con):
        scan_id = con.execute("SELECT coalesce(max(scan_id), 0) + 1 FROM scans").fetchall()[0][0]
        ids = [r.id for r in rules]
        # One rule may give the same subject and evidence twice (overlapping windows):
        # keep one, the highest score.
        source = "found"
        if con.execute("SELECT count(*) > count(DISTINCT id) FROM found").fetchall()[0][0]:
            con.execute(
                """CREATE OR REPLACE TEMP TABLE found_unique AS SELECT * FROM found
                   QUALIFY row_number() OVER (PARTITION BY id ORDER BY score DESC, window_name NULLS LAST) = 1"""
            )
            source = "found_unique"
        _carry_identity(con, source, ids, scan_id)
        # Each finding with the suppression in force today that matches it (the oldest),
        # and whether it is stored already exactly as given now (`same`).
        same = " AND ".join(f"o.{c} IS NOT DISTINCT FROM f.{c}" for c in CONTENT_COLUMNS)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE found_now AS
                SELECT f.*, (SELECT min(s.suppression_id) FROM suppressions s WHERE {MATCH}) AS suppressed_by,
                       o.first_scan_id, coalesce(o.id IS NOT NULL AND {same}, false) AS same
                FROM {source} f LEFT JOIN findings o ON o.id = f.id""",
            {"today": today},
        )
        # Findings of these rules that this scan did not give again are kept, with their
        # evidence and triage history, marked stale (by the first scan that missed them).
        con.execute(
            """UPDATE findings SET stale = true, stale_scan_id = $scan
               WHERE list_contains($ids, rule) AND NOT stale AND id NOT IN (SELECT id FROM found_now)""",
            {"ids": ids, "scan": scan_id},
        )
        # Those given again (same id: same rule, subject and evidence) keep the scan that
        # first gave them. Given exactly as stored, only their scan, staleness and
        # suppression change (a narrow update: a re-scan of a large case rewrites
        # little); given with other figures or wording, they are replaced; the rest are new.
        con.execute(
            """UPDATE findings SET scan_id = $scan, stale = false, stale_scan_id = NULL, suppressed_by = n.suppressed_by
               FROM found_now n WHERE findings.id = n.id AND n.same""",
            {"scan": scan_id},
        )
        con.execute("DELETE FROM findings WHERE id IN (SELECT id FROM found_now WHERE NOT same)")
        con.execute(
            f"""INSERT INTO findings ({', '.join(FINDING_COLUMNS)})
                SELECT * EXCLUDE (evidence, suppressed_by, first_scan_id, same), $scan, evidence,
                       coalesce(first_scan_id, $scan), false, NULL, suppressed_by
                FROM found_now WHERE NOT same""",
            {"scan": scan_id},
        )
        changes = {
            rule: (new, suppressed, stale)
            for rule, new, suppressed, stale in con.execute(
                """SELECT rule, count(*) FILTER (WHERE first_scan_id = $scan AND NOT stale),
                          count(*) FILTER (WHERE scan_id = $scan AND suppressed_by IS NOT NULL),
                          count(*) FILTER (WHERE stale_scan_id = $scan)
                   FROM findings WHERE list_contains($ids, rule) GROUP BY rule""",
                {"ids": ids, "scan": scan_id},
            ).fetchall()
        }
        count = con.execute("SELECT count(*) FROM found_now").fetchall()[0][0]
        rule_runs = [
            {"id": r.id, "sha256": r.sha256, "params": {k: _json_value(v) for k, v in params[r.id].items()}} for r in rules
        ]
        con.execute(
            "INSERT INTO scans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                scan_id, started, datetime.now().replace(microsecond=0), scope, since, until,
                json.dumps(rule_runs, ensure_ascii=False),
                count, __version__,
            ],
        )
        append(
            con,
            "scan",
            {
                "scan_id": scan_id, "scope": scope, "since": since, "until": until, "date": today,
                "rules": [{**run, "path": str(r.path)} for run, r in zip(rule_runs, rules)],
                "findings": count,
                "new": sum(c[0] for c in changes.values()),
                "suppressed": sum(c[1] for c in changes.values()),
                "stale": sum(c[2] for c in changes.values()),
                "rpa_version": __version__,
                "digest": record_findings_digest(con),  # the findings as this scan leaves them
            },
            actor,
        )
        pause_point("scan.before_commit")
    return changes
