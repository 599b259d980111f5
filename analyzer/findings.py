"""`rpa findings` and `rpa show`: reading the findings of the last scans, with their triage status."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import duckdb

from analyzer.errors import RpaError
from analyzer.triage import CURRENT_DECISION

SEVERITY_ORDER = "CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END"


def list_findings(
    con: duckdb.DuckDBPyConnection,
    rules: list[str] | None = None,
    severity: str | None = None,
    lang: str = "zh",
    *,
    status: str | None = None,
    include_stale: bool = False,
    include_suppressed: bool = False,
    finding_ids: list[str] | None = None,
    today: date | None = None,
) -> list[dict]:
    """Findings as dicts with the keys of `rpa findings --format json`: active ones
    first, then suppressed, then stale; most severe first within each.

    `status` filters on the current triage status. Stale findings (their rule's latest
    scan no longer gives them) and suppressed ones (a suppression in force on `today`
    matched them at their latest scan) are left out unless asked for."""
    rows = con.execute(
        f"""
        WITH decision AS ({CURRENT_DECISION})
        SELECT f.id, f.rule, f.severity, f.score, f.subject, p.name, f.counterparties, f.window_name,
               f.start_ts, f.end_ts, f.total_amount, f.txn_count,
               (SELECT list(coalesce(t.txn_id, '#' || t.id) ORDER BY t.ts, t.id)
                FROM finding_evidence e JOIN movement_rows t ON t.id = e.transaction_id WHERE e.finding_id = f.id),
               f.reason_zh, f.reason_en, f.metrics, f.params,
               coalesce(d.status, 'new'), d.note, d.actor, d.decided_at, f.stale,
               CASE WHEN {_SUPPRESSED} THEN f.suppressed_by END AS suppressed
        FROM findings f LEFT JOIN persons p ON p.person_id = f.subject
        LEFT JOIN decision d ON d.finding_id = f.id
        LEFT JOIN suppressions s ON s.suppression_id = f.suppressed_by
        WHERE {_FILTER}
        ORDER BY f.stale, suppressed IS NOT NULL, {SEVERITY_ORDER}, f.score DESC, f.rule, f.start_ts, f.id
        """,
        _filter_params(rules, severity, status, include_stale, include_suppressed, finding_ids, today),
    ).fetchall()
    out = []
    for r in rows:
        out.append(
            {
                "id": r[0],
                "rule": r[1],
                "severity": r[2],
                "score": round(r[3], 1),
                "subject": r[4],
                "subject_name": r[5],
                "counterparties": list(r[6]),
                "window": r[7],
                "start": r[8].isoformat(sep=" ") if r[8] else None,
                "end": r[9].isoformat(sep=" ") if r[9] else None,
                "total_amount": str(r[10]) if r[10] is not None else None,
                "txn_count": r[11],
                "txn_ids": list(r[12] or []),
                "reason": r[13] if lang == "zh" else r[14],
                "reason_zh": r[13],
                "reason_en": r[14],
                "metrics": json.loads(r[15]) if r[15] else {},
                "params": json.loads(r[16]) if r[16] else {},
                "status": r[17],
                "note": r[18],
                "triaged_by": r[19],
                "triaged_at": r[20].isoformat(sep=" ") if r[20] else None,
                "stale": r[21],
                "suppressed_by": r[22],
            }
        )
    return out


# A finding is suppressed while the suppression that matched it at its latest scan is
# in force: past `until` it shows again, before any new scan.
_SUPPRESSED = "coalesce($today <= s.until, false)"
_FILTER = f"""($rules IS NULL OR list_contains($rules, f.rule)) AND ($severity IS NULL OR f.severity = $severity)
        AND ($status IS NULL OR coalesce(d.status, 'new') = $status)
        AND ($ids IS NULL OR list_contains($ids, f.id))
        AND ($stale OR NOT f.stale) AND ($suppressed OR NOT {_SUPPRESSED})"""


def _filter_params(rules, severity, status, include_stale, include_suppressed, finding_ids, today) -> dict:
    return {"rules": rules or None, "severity": severity, "status": status, "stale": include_stale,
            "suppressed": include_suppressed, "ids": finding_ids, "today": today or date.today()}


def hidden_counts(
    con: duckdb.DuckDBPyConnection, rules: list[str] | None = None, severity: str | None = None,
    status: str | None = None, today: date | None = None,
) -> tuple[int, int]:
    """How many findings the same filters leave out as (stale, suppressed)."""
    return tuple(con.execute(
        f"""
        WITH decision AS ({CURRENT_DECISION})
        SELECT count(*) FILTER (WHERE f.stale), count(*) FILTER (WHERE NOT f.stale AND {_SUPPRESSED})
        FROM findings f LEFT JOIN decision d ON d.finding_id = f.id
        LEFT JOIN suppressions s ON s.suppression_id = f.suppressed_by
        WHERE {_FILTER}
        """,
        _filter_params(rules, severity, status, True, True, None, today),
    ).fetchall()[0])


def get_finding(con: duckdb.DuckDBPyConnection, finding_id: str) -> tuple[dict, list[dict]]:
    """One finding and its evidence movements (as stored, with their provenance)."""
    found = list_findings(con, finding_ids=[finding_id.strip().upper()], include_stale=True, include_suppressed=True)
    if not found:
        raise RpaError(f"no finding {finding_id!r}: see `rpa findings`")
    cols = ["id", "txn_id", "ts", "payer", "payee", "payer_person", "payee_person", "amount", "kind", "status", "channel", "memo", "file", "line"]
    rows = con.execute(
        """
        SELECT t.id, t.txn_id, t.ts, t.payer, t.payee, t.payer_person, t.payee_person, t.amount, t.kind, t.status,
               t.channel, t.memo, s.name, t.line
        FROM finding_evidence e JOIN movements t ON t.id = e.transaction_id JOIN sources s ON s.source_id = t.source_id
        WHERE e.finding_id = ? ORDER BY t.ts, t.id
        """,
        [found[0]["id"]],
    ).fetchall()
    return found[0], [dict(zip(cols, r)) for r in rows]


def money(value: Decimal | str | None) -> str:
    """¥1,234.50"""
    return "" if value is None else f"¥{Decimal(value):,.2f}"
