"""Collecting a report's data: every query the report needs, aggregated in DuckDB.

The result, `ReportData`, holds plain values (the ids, names and accounts as the case
holds them) and no text built for a page: masking (mask.py) replaces the identifying
values in it before anything is rendered (render.py).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb

from analyzer import figures as figs
from analyzer.errors import RpaError
from analyzer.triage import CURRENT_DECISION

# Pages are written for the most severe findings first, at most this many (a case of
# millions of movements can hold hundreds of thousands of findings); the index counts
# them all and points to `rpa findings` / `rpa export` for the rest.
MAX_FINDING_PAGES = 150
# Rows of evidence shown on a finding page; the rest are in `rpa export`.
MAX_EVIDENCE_ROWS = 300
# Counterparties listed on a person page / drawn in an ego network.
TOP_COUNTERPARTIES = 30
EGO_NEIGHBOURS = 12
# The overview network: the subjects of this many findings, and this many edges.
NETWORK_SUBJECTS = 40
NETWORK_EDGES = 120
LARGEST_FLOWS = 20
SANKEY_LINKS = 40


# A label as rules used to build it, "name（id）": the report reads the id out of it.
LABEL = re.compile(r"(.*)（([^（）]+)）", re.DOTALL)


@dataclass
class Person:
    """A roster entry as the report shows it."""

    name: str | None
    party_member: bool
    official: bool
    org_unit: str | None
    position: str | None
    rank: int | None


@dataclass
class Evidence:
    """One evidence movement of a finding."""

    txn_id: str | None
    ts: datetime | None
    payer: str | None  # the party: person id, else account
    payee: str | None
    amount: object
    kind: str | None
    status: str | None
    channel: str | None
    memo: object  # text, or mask.HIDDEN
    source_id: int
    file: str
    line: int


@dataclass
class Source:
    source_id: int
    name: str
    format: str
    owner: str | None
    rows_loaded: int
    first_ts: datetime | None
    last_ts: datetime | None
    sha256: str
    size: int
    path: str | None
    ingested_at: datetime


@dataclass
class Window:
    name: str
    kind: str
    start: date
    end: date
    org_unit: str | None


@dataclass
class RuleInfo:
    """What the report says about a rule: titles, reason templates, parameter descriptions."""

    title: str
    title_zh: str
    reason_zh: str
    reason_en: str
    params: dict[str, str]
    rule: object = None  # the Rule itself: its figures' labels (rules.figure_rows)


@dataclass
class ReportData:
    """Everything a report shows, as values."""

    lang: str
    now: datetime
    masked: bool = False
    restricted: bool = False
    scope: dict | None = None
    total_findings: int = 0
    persons: dict[str, Person] = field(default_factory=dict)
    shown: list[dict] = field(default_factory=list)  # the findings with pages (list_findings dicts)
    parties: list[str] = field(default_factory=list)  # the parties with pages
    windows: list[Window] = field(default_factory=list)
    rules: dict[str, RuleInfo] = field(default_factory=dict)
    key_figures: tuple = (0, 0, None, None)  # movements, money, first, last
    case_counts: tuple = (0, 0, 0, 0)  # persons, accounts, duplicates, rejects
    sources: list[Source] = field(default_factory=list)
    by_rule: list[tuple] = field(default_factory=list)
    by_status: dict[str, int] = field(default_factory=dict)
    daily: list[dict] = field(default_factory=list)
    season_spans: list[dict] = field(default_factory=list)
    bins: list[dict] = field(default_factory=list)
    customary: list[dict] = field(default_factory=list)
    heat: list[dict] = field(default_factory=list)
    flows: list[tuple] = field(default_factory=list)  # (payer, payee, total, count)
    network_subjects: list[str] = field(default_factory=list)
    network_edges: list[tuple] = field(default_factory=list)
    sankey: list[tuple] = field(default_factory=list)  # (unit, unit, total, count)
    evidence: dict[str, list[Evidence]] = field(default_factory=dict)
    evidence_total: dict[str, int] = field(default_factory=dict)
    history: dict[str, list[tuple]] = field(default_factory=dict)  # finding -> (status, note, actor, at, scan)
    counterparties: dict[str, list[tuple]] = field(default_factory=dict)  # party -> (other, sent, received, n)
    ego_members: dict[str, list[str]] = field(default_factory=dict)
    edges_from: dict[str, list[tuple]] = field(default_factory=dict)  # party -> (other, total, n)
    person_days: dict[str, list[dict]] = field(default_factory=dict)
    accounts_seen: dict[str, list[tuple]] = field(default_factory=dict)  # person -> (account, n)
    aliases: dict[str, list[str]] = field(default_factory=dict)
    relations: list[tuple] = field(default_factory=list)  # (person, other, relation)
    more_findings: dict[str, int] = field(default_factory=dict)
    scans: list[dict] = field(default_factory=list)
    # what each text value in the findings' figures is, when it names someone or something:
    # value -> (kind, key): ("person", id), ("account", account), ("unit", unit), ...
    identities: dict[str, tuple[str, str]] = field(default_factory=dict)
    # every identifying text the report could meet inside a composed value: the roster's
    # ids, names, aliases and units, the windows, and the accounts, names, transaction ids
    # and files of the findings' evidence (masking withholds a value that holds one)
    secrets: set[str] = field(default_factory=set)


def seasons(settings, first: date, last: date, lang: str) -> list[dict]:
    """Festive seasons over the data's years as spans {name, start, end}."""
    from analyzer import calendar
    from analyzer.scan import season_settings

    lo, hi = max(first.year, 1990), min(last.year, 2100)
    if lo > hi:
        return []
    try:
        days = calendar.festive_days(lo, hi, season_settings(settings), settings.holidays or None, settings.workdays or None)
    except ValueError as exc:
        raise RpaError(f"rpa.toml [calendar]/[holidays]: {exc}") from None
    spans: list[dict] = []
    open_span: dict[str, dict] = {}
    for d in days:
        span = open_span.get(d.season)
        if span and span["end"] + timedelta(days=1) == d.date:
            span["end"] = d.date
            continue
        name = d.season_zh if lang == "zh" else d.season_en
        span = {"name": f"{name} {d.season_year}", "start": d.date, "end": d.date}
        open_span[d.season] = span
        spans.append(span)
    return [s for s in spans if s["end"] >= first and s["start"] <= last]


def rule_info(settings) -> dict[str, RuleInfo]:
    """Rule id -> RuleInfo (the library and the case's rules_dir)."""
    from analyzer.rules import load_rules

    try:
        rules = load_rules([settings.rules_dir] if settings.rules_dir else [])
    except RpaError:
        try:
            rules = load_rules([])
        except RpaError:
            rules = {}
    return {rid: RuleInfo(r.title, r.title_zh, r.reason_zh, r.reason_en, {p.name: p.description for p in r.params}, r)
            for rid, r in rules.items()}


def collect(con: duckdb.DuckDBPyConnection, settings, lang: str, now: datetime, finding_ids: list[str] | None,
            person_ids: list[str] | None, max_pages: int = MAX_FINDING_PAGES) -> ReportData:
    """Run the report's queries (set-wise, a handful of scans of the movements)."""
    data = ReportData(lang=lang, now=now)
    data.persons = {r[0]: Person(*r[1:]) for r in con.execute(
        "SELECT person_id, name, party_member, official, org_unit, position, rank FROM persons").fetchall()}
    data.rules = rule_info(settings)
    data.windows = [Window(w.name, w.kind, w.start, w.end, getattr(w, "org_unit", None)) for w in settings.windows]
    _choose(con, data, finding_ids, person_ids, max_pages)
    _overview(con, data, settings)
    _pages(con, data)
    _identities(con, data)
    _secrets(con, data)
    return data


def _rows(con, sql: str, params=None) -> list[tuple]:
    return con.execute(sql, params or {}).fetchall()


def _choose(con, data: ReportData, finding_ids, person_ids, max_pages: int) -> None:
    """Which findings and persons the report is about, and which get pages."""
    from analyzer.findings import list_findings

    fids = sorted({f.strip().upper() for f in finding_ids or [] if f.strip()})
    pids = list(dict.fromkeys(p.strip() for p in person_ids or [] if p.strip()))
    data.restricted = bool(fids or pids)
    data.scope = {"findings": fids, "persons": pids} if data.restricted else None
    for fid in fids:
        if not con.execute("SELECT count(*) FROM findings WHERE id = ?", [fid]).fetchall()[0][0]:
            raise RpaError(f"no finding {fid!r}: see `rpa findings --stale --suppressed`")
    for pid in pids:
        known = con.execute(
            """SELECT (SELECT count(*) FROM persons WHERE person_id = $p) + (SELECT count(*) FROM findings WHERE subject = $p)
                      + (SELECT count(*) FROM accounts WHERE account = $p)""", {"p": pid}).fetchall()[0][0]
        if not known:
            raise RpaError(f"no person or account {pid!r} in the case: see `rpa people`")
    con.execute("CREATE OR REPLACE TEMP TABLE report_findings (id VARCHAR, ord INTEGER)")
    # Every finding in scope, in `rpa findings` order: active, then suppressed, then
    # stale; most severe first. (Suppressed: a suppression in force today matched it.)
    con.execute(
        """
        INSERT INTO report_findings
        SELECT f.id, row_number() OVER (ORDER BY f.stale, coalesce($today <= s.until, false),
               CASE f.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, f.score DESC, f.rule, f.start_ts, f.id)
        FROM findings f LEFT JOIN suppressions s ON s.suppression_id = f.suppressed_by
        WHERE NOT $restricted OR list_contains($fids, f.id) OR list_contains($pids, f.subject)
        """,
        {"today": data.now.date(), "restricted": data.restricted, "fids": fids, "pids": pids},
    )
    data.total_findings = con.execute("SELECT count(*) FROM report_findings").fetchall()[0][0]
    top = [r[0] for r in con.execute("SELECT id FROM report_findings ORDER BY ord LIMIT ?", [max_pages]).fetchall()]
    order = {fid: i for i, fid in enumerate(top)}
    found = list_findings(con, lang=data.lang, include_stale=True, include_suppressed=True, finding_ids=top,
                          today=data.now.date()) if top else []
    data.shown = sorted(found, key=lambda f: order[f["id"]])
    # pages: the subjects of the findings shown, and the persons asked for
    data.parties = list(dict.fromkeys([*pids, *(f["subject"] for f in data.shown)]))
    con.execute("CREATE OR REPLACE TEMP TABLE report_focus AS SELECT unnest($p::VARCHAR[]) AS party", {"p": data.parties})
    where = ""
    if data.restricted:
        where = """WHERE coalesce(payer_person, payer) IN (SELECT party FROM report_focus)
                      OR coalesce(payee_person, payee) IN (SELECT party FROM report_focus)"""
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW report_mv AS
            SELECT id, txn_id, ts, amount, kind, status, payer, payee, payer_person, payee_person,
                   coalesce(payer_person, payer) AS payer_party, coalesce(payee_person, payee) AS payee_party
            FROM movements {where}"""
    )


def _overview(con, data: ReportData, settings) -> None:
    q = lambda sql, params=None: _rows(con, sql, params)  # noqa: E731
    data.key_figures = q("SELECT count(*), coalesce(sum(amount), 0), min(ts), max(ts) FROM report_mv")[0]
    data.case_counts = q(
        """SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM accounts), (SELECT count(*) FROM duplicates),
                  (SELECT count(*) FROM rejects)""")[0]
    data.sources = [Source(*r) for r in q(
        """SELECT source_id, name, format, owner, rows_loaded, first_ts, last_ts, sha256, size, path, ingested_at
           FROM sources ORDER BY source_id""")]
    data.by_rule = q(
        """SELECT f.rule,
                  count(*) FILTER (WHERE NOT f.stale AND NOT coalesce($today <= s.until, false) AND f.severity = 'high'),
                  count(*) FILTER (WHERE NOT f.stale AND NOT coalesce($today <= s.until, false) AND f.severity = 'medium'),
                  count(*) FILTER (WHERE NOT f.stale AND NOT coalesce($today <= s.until, false) AND f.severity = 'low'),
                  count(*) FILTER (WHERE NOT f.stale AND coalesce($today <= s.until, false)),
                  count(*) FILTER (WHERE f.stale)
           FROM report_findings r JOIN findings f ON f.id = r.id
           LEFT JOIN suppressions s ON s.suppression_id = f.suppressed_by
           GROUP BY f.rule ORDER BY f.rule""", {"today": data.now.date()})
    data.by_status = dict(q(
        f"""WITH decision AS ({CURRENT_DECISION})
            SELECT coalesce(d.status, 'new'), count(*) FROM report_findings r LEFT JOIN decision d ON d.finding_id = r.id
            GROUP BY 1"""))
    first, last = data.key_figures[2], data.key_figures[3]
    data.daily = [{"day": d, "amount": a, "count": n} for d, a, n in q(
        "SELECT CAST(ts AS DATE), sum(amount), count(*) FROM report_mv WHERE ts IS NOT NULL GROUP BY 1 ORDER BY 1")]
    data.season_spans = seasons(settings, first.date(), last.date(), data.lang) if first and last else []
    data.bins = [{"bin": b, "count": n} for b, n in q(
        f"""SELECT CAST(floor(log10(amount) * {figs.BINS_PER_DECADE}) AS INTEGER) AS b, count(*) FROM report_mv
            WHERE amount > 0 GROUP BY b ORDER BY b""")]
    data.customary = [{"amount": a, "count": n} for a, n in q(
        "SELECT amount, count(*) FROM report_mv WHERE list_contains($a, amount) GROUP BY 1 ORDER BY 1",
        {"a": list(figs.CUSTOMARY_AMOUNTS)})]
    data.heat = [{"weekday": w, "hour": h, "count": n} for w, h, n in q(
        "SELECT isodow(ts), hour(ts), count(*) FROM report_mv WHERE ts IS NOT NULL GROUP BY ALL")]
    data.flows = q(
        """SELECT payer_party, payee_party, sum(amount) AS total, count(*) FROM report_mv
           WHERE payer_party IS NOT NULL AND payee_party IS NOT NULL AND payer_party <> payee_party
           GROUP BY ALL ORDER BY total DESC, payer_party, payee_party LIMIT $n""", {"n": LARGEST_FLOWS})
    # the overview network: persons only, around the subjects of the first findings
    subjects = list(dict.fromkeys(f["subject"] for f in data.shown if f["subject"] in data.persons))[:NETWORK_SUBJECTS]
    data.network_edges = q(
        """SELECT payer_person, payee_person, sum(amount) AS total, count(*) FROM report_mv
           WHERE payer_person IS NOT NULL AND payee_person IS NOT NULL AND payer_person <> payee_person
             AND (len($s) = 0 OR list_contains($s, payer_person) OR list_contains($s, payee_person))
           GROUP BY ALL ORDER BY total DESC, payer_person, payee_person LIMIT $n""",
        {"s": subjects, "n": NETWORK_EDGES})
    data.network_subjects = subjects
    data.sankey = q(
        """SELECT pa.org_unit, pb.org_unit, sum(m.amount) AS total, count(*) FROM report_mv m
           LEFT JOIN persons pa ON pa.person_id = m.payer_person LEFT JOIN persons pb ON pb.person_id = m.payee_person
           WHERE m.payer_party IS NOT NULL AND m.payee_party IS NOT NULL
             -- between units: money inside one unit (or among outsiders) would drown it
             AND pa.org_unit IS DISTINCT FROM pb.org_unit
           GROUP BY ALL ORDER BY total DESC, 1, 2 LIMIT $n""", {"n": SANKEY_LINKS})
    data.scans = [
        {"scan_id": scan_id, "started_at": started, "finished_at": finished, "scope": scope, "since": since,
         "until": until, "findings": count, "rpa_version": version, "rules": json.loads(rules)}
        for scan_id, started, finished, scope, since, until, rules, count, version in q(
            "SELECT scan_id, started_at, finished_at, window_scope, since, until, rules, findings, rpa_version FROM scans ORDER BY scan_id")
    ]


def _pages(con, data: ReportData) -> None:
    """Data of the finding and person pages, for all of them at once."""
    q = lambda sql, params=None: _rows(con, sql, params)  # noqa: E731
    ids = [f["id"] for f in data.shown]
    evidence: dict[str, list[Evidence]] = defaultdict(list)
    for row in q(
        """SELECT f.id, t.txn_id, t.ts, coalesce(t.payer_person, t.payer), coalesce(t.payee_person, t.payee),
                  t.amount, t.kind, t.status, t.channel, t.memo, t.source_id, s.name, t.line,
                  count(*) OVER (PARTITION BY f.id) AS n, row_number() OVER (PARTITION BY f.id ORDER BY t.ts, t.id) AS rn
           FROM findings f, unnest(f.evidence) AS e(tid)
           JOIN movement_rows t ON t.id = e.tid JOIN sources s ON s.source_id = t.source_id
           WHERE list_contains($ids, f.id)
           QUALIFY rn <= $cap ORDER BY f.id, rn""", {"ids": ids, "cap": MAX_EVIDENCE_ROWS}):
        evidence[row[0]].append(Evidence(*row[1:13]))
        data.evidence_total[row[0]] = row[13]
    data.evidence = dict(evidence)
    history: dict[str, list[tuple]] = defaultdict(list)
    for row in q("""SELECT finding_id, status, note, actor, decided_at, scan_id FROM triage
                    WHERE list_contains($ids, finding_id) ORDER BY triage_id""", {"ids": ids}):
        history[row[0]].append(row[1:])
    data.history = dict(history)
    # counterparties of every page's party (both directions), the largest first
    counterparties: dict[str, list[tuple]] = defaultdict(list)
    for row in q(
        """WITH legs AS (
               SELECT payer_party AS party, payee_party AS other, amount AS sent, CAST(0 AS DECIMAL(18,2)) AS received
               FROM report_mv WHERE payer_party IN (SELECT party FROM report_focus) AND payee_party IS NOT NULL
               UNION ALL
               SELECT payee_party, payer_party, 0, amount
               FROM report_mv WHERE payee_party IN (SELECT party FROM report_focus) AND payer_party IS NOT NULL
           )
           SELECT party, other, sum(sent) AS s, sum(received) AS r, count(*) FROM legs WHERE party <> other
           GROUP BY party, other QUALIFY row_number() OVER (PARTITION BY party ORDER BY s + r DESC, other) <= $n
           ORDER BY party, s + r DESC, other""", {"n": TOP_COUNTERPARTIES}):
        counterparties[row[0]].append(row[1:])
    data.counterparties = dict(counterparties)
    # edges among each ego network's members (the party and its largest counterparties)
    members = {p: [p, *(c[0] for c in cps[:EGO_NEIGHBOURS])] for p, cps in data.counterparties.items()}
    everyone = sorted({m for ms in members.values() for m in ms})
    con.execute("CREATE OR REPLACE TEMP TABLE report_ego AS SELECT unnest($p::VARCHAR[]) AS party", {"p": everyone})
    edges_from: dict[str, list[tuple]] = defaultdict(list)
    for a, b, total, n in q(
        """SELECT payer_party, payee_party, sum(amount), count(*) FROM report_mv
           WHERE payer_party IN (SELECT party FROM report_ego) AND payee_party IN (SELECT party FROM report_ego)
             AND payer_party <> payee_party GROUP BY ALL ORDER BY 1, 2"""):
        edges_from[a].append((b, total, n))
    data.edges_from = dict(edges_from)
    data.ego_members = members
    days: dict[str, list[dict]] = defaultdict(list)
    for party, day, sent, received in q(
        """SELECT party, day, sum(sent), sum(received) FROM (
               SELECT payer_party AS party, CAST(ts AS DATE) AS day, amount AS sent, CAST(0 AS DECIMAL(18,2)) AS received
               FROM report_mv WHERE payer_party IN (SELECT party FROM report_focus)
               UNION ALL
               SELECT payee_party, CAST(ts AS DATE), 0, amount FROM report_mv WHERE payee_party IN (SELECT party FROM report_focus)
           ) WHERE day IS NOT NULL GROUP BY ALL ORDER BY party, day"""):
        days[party].append({"day": day, "sent": sent, "received": received})
    data.person_days = dict(days)
    seen: dict[str, list[tuple]] = defaultdict(list)
    for pid, account, n in q(
        """SELECT person_id, account, count(*) AS n FROM (
               SELECT payer_person AS person_id, payer AS account FROM movements WHERE payer_person IN (SELECT party FROM report_focus)
               UNION ALL
               SELECT payee_person, payee FROM movements WHERE payee_person IN (SELECT party FROM report_focus)
           ) GROUP BY ALL ORDER BY person_id, n DESC, account"""):
        seen[pid].append((account, n))
    data.accounts_seen = dict(seen)
    aliases: dict[str, list[str]] = defaultdict(list)
    for pid, alias in q("""SELECT person_id, alias FROM person_accounts WHERE person_id IN (SELECT party FROM report_focus)
                           ORDER BY person_id, alias"""):
        aliases[pid].append(alias)
    data.aliases = dict(aliases)
    data.relations = q(
        """SELECT person_id, other_id, relation FROM relations
           WHERE person_id IN (SELECT party FROM report_focus) OR other_id IN (SELECT party FROM report_focus)
           ORDER BY person_id, other_id, relation""")
    data.more_findings = dict(q(
        """SELECT f.subject, count(*) FROM report_findings r JOIN findings f ON f.id = r.id
           WHERE f.subject IN (SELECT party FROM report_focus) GROUP BY 1"""))


def _strings(value: object):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def _identities(con, data: ReportData) -> None:
    """What the text values of the findings' figures and of the scans' scopes are, when
    they name someone or something (a person's id or name, an alias, an account, a
    unit, a window, a transaction id, a file): the masking replaces them by value."""
    values = {s for f in data.shown for s in _strings(f["metrics"])} | {s["scope"] for s in data.scans if s["scope"]}
    # a label a rule built as "name（id）": its id too
    values = sorted(values | {m.group(2) for v in values if (m := LABEL.fullmatch(v))})
    if not values:
        return
    con.execute("CREATE OR REPLACE TEMP TABLE report_values AS SELECT unnest($v::VARCHAR[]) AS v", {"v": values})
    found = con.execute(
        """SELECT v, 'person', person_id, 1 FROM report_values JOIN persons ON person_id = v
           UNION ALL SELECT v, 'person', min(person_id), 2 FROM report_values JOIN persons ON name = v GROUP BY v HAVING count(*) = 1
           UNION ALL SELECT v, 'name', v, 3 FROM report_values JOIN persons ON name = v GROUP BY v HAVING count(*) > 1
           UNION ALL SELECT v, 'person', min(person_id), 4 FROM report_values JOIN person_accounts ON alias = v GROUP BY v
                     HAVING count(DISTINCT person_id) = 1
           UNION ALL SELECT v, 'account', v, 5 FROM report_values JOIN accounts ON account = v
           UNION ALL SELECT v, 'account', v, 6 FROM report_values JOIN person_accounts ON alias = v
           UNION ALL SELECT v, 'unit', v, 7 FROM report_values JOIN (SELECT DISTINCT org_unit FROM persons) ON org_unit = v
           UNION ALL SELECT v, 'txn', v, 8 FROM report_values JOIN movement_rows ON txn_id = v GROUP BY v
           UNION ALL SELECT v, 'file', v, 9 FROM report_values JOIN sources ON name = v GROUP BY v
           ORDER BY 1, 4""").fetchall()
    for value, kind, key, _ in found:
        data.identities.setdefault(value, (kind, key))
    for w in data.windows:
        data.identities.setdefault(w.name, ("window", w.name))
        if w.org_unit:
            data.identities.setdefault(w.org_unit, ("unit", w.org_unit))


def _secrets(con, data: ReportData) -> None:
    ids = [f["id"] for f in data.shown]
    rows = con.execute(
        """SELECT person_id FROM persons UNION SELECT name FROM persons UNION SELECT org_unit FROM persons
           UNION SELECT alias FROM person_accounts UNION SELECT person_id FROM person_accounts
           UNION SELECT unnest([t.payer, t.payee, t.payer_name, t.payee_name, t.txn_id, s.name])
           FROM findings f, unnest(f.evidence) AS e(tid) JOIN movement_rows t ON t.id = e.tid
           JOIN sources s ON s.source_id = t.source_id WHERE list_contains($ids, f.id)
           UNION SELECT unnest(list_prepend(subject, counterparties)) FROM findings WHERE list_contains($ids, id)""",
        {"ids": ids}).fetchall()
    data.secrets = {r[0] for r in rows if r[0]}
    data.secrets |= {w.name for w in data.windows} | {w.org_unit for w in data.windows if w.org_unit}
    data.secrets |= {s.name for s in data.sources} | {s.owner for s in data.sources if s.owner}
