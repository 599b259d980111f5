"""`rpa triage` and `rpa suppress`: what investigators decided about the findings.

Findings are leads, not verdicts. A decision is a row in `triage`, never changed: the
current status of a finding is its latest decision (`new` when it has none), and the
earlier ones stay as its history. Finding ids are stable (a hash of rule, subject and
evidence), so decisions survive re-scans; a finding its rule no longer gives is kept,
marked stale, with its decisions.

A suppression keeps a known-legitimate pattern (a family member, a payroll) out of the
active findings until a date: a scan marks a finding it matches `suppressed_by`, and
on the day after `until` it stops applying without anyone doing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from analyzer import audit
from analyzer.db import transaction
from analyzer.errors import RpaError

STATUSES = ("new", "reviewing", "confirmed", "dismissed", "escalated")
LABELS = {"confirmed": True, "dismissed": False}  # the statuses that are verdicts on a lead

# The current decision per finding: its latest triage row.
CURRENT_DECISION = """
    SELECT finding_id, status, note, actor, decided_at FROM triage
    QUALIFY row_number() OVER (PARTITION BY finding_id ORDER BY triage_id DESC) = 1
"""


@dataclass
class Decision:
    """A triage decision as recorded."""

    finding_id: str
    rule: str
    subject: str
    previous: str
    status: str
    note: str | None
    actor: str
    decided_at: datetime
    stale: bool
    seq: int  # its audit log entry


def check_status(status: str) -> str:
    """A triage status, or RpaError naming the valid ones."""
    if status not in STATUSES:
        raise RpaError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    return status


def triage(
    con: duckdb.DuckDBPyConnection, finding_id: str, status: str, note: str | None = None, actor: str | None = None
) -> Decision:
    """Record a decision on a finding (stale or not), with the audit log entry."""
    check_status(status)
    fid = finding_id.strip().upper()
    found = con.execute(
        "SELECT rule, subject, scan_id, stale, evidence FROM findings WHERE id = ?", [fid]
    ).fetchall()
    if not found:
        raise RpaError(f"no finding {finding_id!r}: see `rpa findings` (add --stale for stale ones)")
    rule, subject, scan_id, stale, evidence = found[0]
    note = (note or "").strip() or None
    actor = audit.actor_name(actor)
    at = datetime.now().replace(microsecond=0)
    with transaction(con):
        previous = con.execute(f"SELECT status FROM ({CURRENT_DECISION}) WHERE finding_id = ?", [fid]).fetchall()
        previous = previous[0][0] if previous else "new"
        triage_id = con.execute("SELECT coalesce(max(triage_id), 0) + 1 FROM triage").fetchall()[0][0]
        con.execute("INSERT INTO triage VALUES (?, ?, ?, ?, ?, ?, ?)", [triage_id, fid, status, note, actor, at, scan_id])
        seq = audit.append(
            con,
            "triage",
            # The finding id pins rule, subject and evidence; the evidence (transactions.id)
            # and the scan say on which data the decision was taken.
            {"finding_id": fid, "rule": rule, "subject": subject, "previous": previous, "status": status, "note": note,
             "triage_id": triage_id, "scan_id": scan_id, "stale": stale, "evidence": list(evidence)},
            actor,
        )
    return Decision(fid, rule, subject, previous, status, note, actor, at, stale, seq)


def history(con: duckdb.DuckDBPyConnection, finding_id: str) -> list[dict]:
    """A finding's decisions, oldest first."""
    rows = con.execute(
        "SELECT status, note, actor, decided_at, scan_id FROM triage WHERE finding_id = ? ORDER BY triage_id",
        [finding_id.strip().upper()],
    ).fetchall()
    return [dict(zip(("status", "note", "by", "at", "scan_id"), r)) for r in rows]


@dataclass
class Suppression:
    """A suppression as recorded, with how many current findings it matches."""

    suppression_id: int
    rule: str
    subject: str
    counterparty: str | None
    until: date
    why: str
    actor: str
    created_at: datetime
    matches: int
    seq: int


# The suppressions that apply to a finding `f` on the day $today. Used by the scan
# (scan._store) and here to count matches, so both agree.
MATCH = """s.rule = f.rule AND s.subject = f.subject AND $today <= s.until
           AND (s.counterparty IS NULL OR list_contains(f.counterparties, s.counterparty))"""


def suppress(
    con: duckdb.DuckDBPyConnection,
    rule: str,
    subject: str,
    until: date,
    why: str,
    counterparty: str | None = None,
    actor: str | None = None,
    known_rules: set[str] | None = None,
    today: date | None = None,
) -> Suppression:
    """Record a suppression (with its audit log entry). It applies from the next scan.

    `known_rules`: rule ids that exist (the library and the case's own); a rule neither
    there nor among the findings is refused, since a typo would suppress nothing."""
    rule, subject = rule.strip(), subject.strip()
    counterparty = (counterparty or "").strip() or None
    why = (why or "").strip()
    if not rule or not subject:
        raise RpaError("--rule and --subject must not be empty")
    if not why:
        raise RpaError("--why must say why the pattern is legitimate (it is kept with the suppression)")
    if known_rules is not None and rule not in known_rules:
        if not con.execute("SELECT count(*) FROM findings WHERE rule = ?", [rule]).fetchall()[0][0]:
            raise RpaError(f"no rule {rule!r}: see `rpa rules`")
    actor = audit.actor_name(actor)
    today = today or date.today()
    at = datetime.now().replace(microsecond=0)
    with transaction(con):
        sid = con.execute("SELECT coalesce(max(suppression_id), 0) + 1 FROM suppressions").fetchall()[0][0]
        con.execute("INSERT INTO suppressions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [sid, rule, subject, counterparty, until, why, actor, at])
        matches = con.execute(
            f"SELECT count(*) FROM findings f JOIN suppressions s ON s.suppression_id = $sid AND {MATCH} WHERE NOT f.stale",
            {"sid": sid, "today": today},
        ).fetchall()[0][0]
        seq = audit.append(
            con,
            "suppress",
            {"suppression_id": sid, "rule": rule, "subject": subject, "counterparty": counterparty, "until": until,
             "why": why, "matching_findings": matches},
            actor,
        )
    return Suppression(sid, rule, subject, counterparty, until, why, actor, at, matches, seq)


def list_suppressions(con: duckdb.DuckDBPyConnection, today: date | None = None) -> list[dict]:
    """All suppressions, newest first, each with `active` (today ≤ until) and how many
    findings its last application suppressed (`findings`)."""
    rows = con.execute(
        """SELECT s.suppression_id, s.rule, s.subject, s.counterparty, s.until, s.why, s.actor, s.created_at,
                  $today <= s.until, (SELECT count(*) FROM findings f WHERE f.suppressed_by = s.suppression_id AND NOT f.stale)
           FROM suppressions s ORDER BY s.suppression_id DESC""",
        {"today": today or date.today()},
    ).fetchall()
    keys = ("id", "rule", "subject", "counterparty", "until", "why", "by", "at", "active", "findings")
    return [dict(zip(keys, r)) for r in rows]


def triage_labels(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Triage outcomes as labels for backtesting the rules.

    One dict per finding whose current status is a verdict: `confirmed` gives
    label True (a true case), `dismissed` label False (a false alarm); findings that
    are new, under review or escalated give none. Keys: `finding_id`, `rule`,
    `subject`, `txn_ids` (the evidence movements' ids as in `rpa findings --format
    json`), `label`, and for context `status`, `by`, `at`, `stale`. Stale findings are
    included: the verdict is about their evidence, which is kept."""
    from analyzer.findings import list_findings

    verdicts = [r[0] for r in con.execute(
        f"SELECT finding_id FROM ({CURRENT_DECISION}) WHERE list_contains($s, status)", {"s": list(LABELS)}
    ).fetchall()]
    if not verdicts:
        return []
    found = list_findings(con, finding_ids=verdicts, include_stale=True, include_suppressed=True)
    return [
        {"finding_id": f["id"], "rule": f["rule"], "subject": f["subject"], "txn_ids": f["txn_ids"],
         "label": LABELS[f["status"]], "status": f["status"], "by": f["triaged_by"], "at": f["triaged_at"],
         "stale": f["stale"]}
        for f in sorted(found, key=lambda f: f["id"])
        if f["status"] in LABELS
    ]
