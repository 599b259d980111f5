"""Masking a report's data: every identifying value replaced, before any text is built.

`mask(data, key)` returns a copy of the collected ReportData in which each value that
names someone or something — a person's id or name, an alias, an account or nickname,
an org unit, a window, a transaction id, a file — is replaced by a stable pseudonym
such as `人员-3f9a2c1d` / `Person-3f9a2c1d` (HMAC-SHA256 with the case's key), whatever
its length, and free text that can name anyone (memos, triage notes) is withheld.
Values are replaced where they are values: in parties, table cells, figure labels, and
in a finding's figures and reason, which are rebuilt from the rule's reason template
with the masked values (a rule gives a label's parts as values, `{sender_label}` from
the party `sender`), never by searching rendered text for names.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import replace
from decimal import Decimal

import duckdb

from analyzer.report.collect import LABEL, Evidence, Person, ReportData, Source, Window

MASK_KEY = "mask_key"  # meta key: hex HMAC key for pseudonyms, made on first --mask
PREFIX = {
    "zh": {"person": "人员", "account": "账户", "unit": "单位", "window": "窗口", "txn": "交易", "file": "文件",
           "actor": "核查人", "name": "姓名"},
    "en": {"person": "Person", "account": "Account", "unit": "Unit", "window": "Window", "txn": "Txn", "file": "File",
           "actor": "Reviewer", "name": "Name"},
}
# Output columns of every rule (rules.OUTPUT_COLUMNS) that name someone or something.
_PARTY_COLUMNS = {"subject", "counterparties"}
_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


class Hidden(str):
    """Text withheld from a masked report: free text (memos, triage notes), and a
    figure a rule composed with a name inside it (the rule should give the name as a
    value of its own: then it is replaced, not withheld)."""


HIDDEN = Hidden("")
# how a withheld value reads inside a rebuilt reason
WITHHELD = {"zh": "〔不显示〕", "en": "[withheld]"}


def mask_key(con: duckdb.DuckDBPyConnection) -> bytes:
    """The case's pseudonym key, made (random, 32 bytes) on first use and kept in `meta`."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", [MASK_KEY]).fetchall()
    if row:
        return bytes.fromhex(row[0][0])
    key = secrets.token_bytes(32)
    con.execute("INSERT INTO meta VALUES (?, ?)", [MASK_KEY, key.hex()])
    return key


class Masker:
    """Stable keyed pseudonyms for one case and language."""

    def __init__(self, key: bytes, lang: str, persons: dict[str, Person], identities: dict[str, tuple[str, str]],
                 secrets: set[str] = frozenset()):
        self.key, self.prefix = key, PREFIX[lang]
        self.persons, self.identities = persons, identities
        self.secrets = secrets
        self._lengths = sorted({len(s) for s in secrets})

    def holds_secret(self, text: str) -> bool:
        """Whether any identifying text of any length is inside `text` (every window of
        each secret length looked up in a set: no pattern, no length skipped)."""
        n = len(text)
        for length in self._lengths:
            if length > n:
                break
            if any(text[i:i + length] in self.secrets for i in range(n - length + 1)):
                return True
        return False

    def pseudonym(self, kind: str, value: object) -> str:
        token = hmac.new(self.key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()[:8]
        return f"{self.prefix[kind]}-{token}"

    def party(self, party: str | None) -> str | None:
        """A person id or an account."""
        if party is None or party == "":
            return party
        return self.pseudonym("person" if party in self.persons else "account", party)

    def account(self, account: str | None) -> str | None:
        return self.pseudonym("account", account) if account else account

    def unit(self, unit: str | None) -> str | None:
        return self.pseudonym("unit", unit) if unit else unit

    def window(self, name: str | None) -> str | None:
        return self.pseudonym("window", name) if name else name

    def txn(self, txn_id: str | None) -> str | None:
        return self.pseudonym("txn", txn_id) if txn_id else txn_id

    def file(self, source_id: int) -> str:
        return f"{self.prefix['file']}-{source_id}"

    def actor(self, actor: str | None) -> str | None:
        return self.pseudonym("actor", actor) if actor else actor

    def value(self, value: object) -> object:
        """A figure's value: text that names someone or something becomes its pseudonym
        (whatever its length), a list element by element; numbers stay."""
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if not isinstance(value, str):
            return value
        known = self.identities.get(value)
        if known is None and (m := LABEL.fullmatch(value)):
            known = self.identities.get(m.group(2))  # "name（id）" from a rule: the id's pseudonym
        if known is None:
            # text the rule composed: shown only when no identifying text is inside it
            return HIDDEN if self.holds_secret(value) else value
        kind, key = known
        if kind == "person":
            return self.pseudonym("person", key)
        if kind == "file":
            return self.pseudonym("file", key)
        return self.pseudonym(kind, key)


def mask(data: ReportData, key: bytes) -> ReportData:
    """A copy of `data` with every identifying value replaced (see the module docstring)."""
    m = Masker(key, data.lang, data.persons, data.identities, data.secrets)
    out = copy.copy(data)
    out.masked = True
    out.identities, out.secrets = {}, set()
    out.persons = {m.party(pid): replace(p, name=None, org_unit=m.unit(p.org_unit),
                                         position=HIDDEN if p.position and m.holds_secret(p.position) else p.position)
                   for pid, p in data.persons.items()}
    out.scope = None if data.scope is None else {
        "findings": data.scope["findings"], "persons": [m.party(p) if p in data.persons else m.account(p) for p in data.scope["persons"]]}
    out.windows = [Window(m.window(w.name), w.kind, w.start, w.end, m.unit(w.org_unit)) for w in data.windows]
    out.shown = [_finding(m, f, data) for f in data.shown]
    out.parties = [m.party(p) for p in data.parties]
    out.sources = [Source(s.source_id, m.file(s.source_id), s.format, m.account(s.owner), s.rows_loaded, s.first_ts,
                          s.last_ts, s.sha256, s.size, None, s.ingested_at) for s in data.sources]
    out.flows = [(m.party(a), m.party(b), total, n) for a, b, total, n in data.flows]
    out.network_subjects = [m.party(p) for p in data.network_subjects]
    out.network_edges = [(m.party(a), m.party(b), total, n) for a, b, total, n in data.network_edges]
    out.sankey = [(m.unit(a), m.unit(b), total, n) for a, b, total, n in data.sankey]
    out.evidence = {fid: [Evidence(m.txn(r.txn_id), r.ts, m.party(r.payer), m.party(r.payee), r.amount, r.kind, r.status,
                                   r.channel, HIDDEN if r.memo else r.memo, r.source_id, m.file(r.source_id), r.line)
                          for r in rows] for fid, rows in data.evidence.items()}
    out.history = {fid: [(status, HIDDEN if note else note, m.actor(actor), at, scan) for status, note, actor, at, scan in rows]
                   for fid, rows in data.history.items()}
    out.counterparties = {m.party(p): [(m.party(o), s, r, n) for o, s, r, n in rows] for p, rows in data.counterparties.items()}
    out.ego_members = {m.party(p): [m.party(x) for x in ms] for p, ms in data.ego_members.items()}
    out.edges_from = {m.party(p): [(m.party(o), total, n) for o, total, n in rows] for p, rows in data.edges_from.items()}
    out.person_days = {m.party(p): rows for p, rows in data.person_days.items()}
    out.accounts_seen = {m.party(p): [(m.account(a), n) for a, n in rows] for p, rows in data.accounts_seen.items()}
    out.aliases = {m.party(p): [m.account(a) for a in rows] for p, rows in data.aliases.items()}
    out.relations = [(m.party(a), m.party(b), rel) for a, b, rel in data.relations]
    out.more_findings = {m.party(p): n for p, n in data.more_findings.items()}
    keywords = (None, "all", "election", "promotion", "custom", "festival")
    out.scans = [{**s, "scope": s["scope"] if s["scope"] in keywords else m.window(s["scope"])} for s in data.scans]
    return out


def _finding(m: Masker, f: dict, data: ReportData) -> dict:
    """One finding with its parties, window, figures and reason masked."""
    metrics = {k: m.value(v) for k, v in f["metrics"].items()}
    out = {**f, "subject": m.party(f["subject"]), "counterparties": [m.party(c) for c in f["counterparties"]],
           "window": m.window(f["window"]), "metrics": metrics, "txn_ids": [m.txn(t) for t in f["txn_ids"]],
           "subject_name": None, "note": HIDDEN if f.get("note") else f.get("note"), "triaged_by": m.actor(f.get("triaged_by"))}
    rule = data.rules.get(f["rule"])
    for lang in ("zh", "en"):
        template = getattr(rule, f"reason_{lang}", None) if rule else None
        out[f"reason_{lang}"] = reason(template, out, f, m, lang) if template else ""
    out["reason"] = out[f"reason_{data.lang}"]
    return out


def reason(template: str, masked: dict, original: dict, m: Masker, lang: str) -> str:
    """A finding's reason rebuilt from its rule's template with masked values, formatted
    as the scan formats them (scan.reason_sql)."""
    values = {
        "subject": masked["subject"], "counterparties": masked["counterparties"], "window_name": masked["window"],
        "start_ts": original["start"], "end_ts": original["end"], "total_amount": original["total_amount"],
        "txn_count": original["txn_count"], "score": original["score"],
    }
    parts = []
    for text, name, _, _ in string.Formatter().parse(template):
        parts.append(text)
        if not name:
            continue
        if name in masked["metrics"]:  # the rule's own figure wins over a parameter of that name
            parts.append(_text(masked["metrics"][name], name, lang))
        elif name in values:
            parts.append(_text(values[name], name, lang))
        elif name.endswith("_label") and (base := name[: -len("_label")]) in (masked["metrics"].keys() | _PARTY_COLUMNS):
            # a party's label: its pseudonym (scan.reason_sql makes "name（id）" of it)
            party = original["metrics"][base] if base in original["metrics"] else original[base]
            parts.append(_text([m.party(p) for p in party] if isinstance(party, list) else m.party(party), name, lang))
        elif name in original["params"]:
            parts.append(_param(original["params"][name]))
    return "".join(parts)


def _text(value: object, name: str, lang: str) -> str:
    if isinstance(value, Hidden):
        return WITHHELD[lang]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "、".join(_text(v, name, lang) for v in value if v is not None)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)) or (isinstance(value, str) and name == "total_amount"):
        d = Decimal(str(value))
        return f"{int(d):,}" if d == d.to_integral_value() else f"{d:,.2f}"
    if isinstance(value, str) and _TIME.fullmatch(value):
        return value[:16].replace("T", " ")
    return str(value)


def _param(value: object) -> str:
    from analyzer.scan import _fmt

    if isinstance(value, str):
        try:
            value = Decimal(value) if re.fullmatch(r"-?\d+(\.\d+)?", value) else value
        except ArithmeticError:
            pass
    return _fmt(value)
