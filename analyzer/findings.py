"""`rpa findings` and `rpa show`: reading the findings of the last scans."""

from __future__ import annotations

import json
from decimal import Decimal

import duckdb

from analyzer.errors import RpaError

SEVERITY_ORDER = "CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END"


def list_findings(
    con: duckdb.DuckDBPyConnection, rules: list[str] | None = None, severity: str | None = None, lang: str = "zh"
) -> list[dict]:
    """Findings as dicts with the keys of `rpa findings --format json`, most severe first."""
    rows = con.execute(
        f"""
        SELECT f.id, f.rule, f.severity, f.score, f.subject, p.name, f.counterparties, f.window_name,
               f.start_ts, f.end_ts, f.total_amount, f.txn_count,
               (SELECT list(coalesce(t.txn_id, '#' || t.id) ORDER BY t.ts, t.id)
                FROM finding_evidence e JOIN transactions t ON t.id = e.transaction_id WHERE e.finding_id = f.id),
               f.reason_zh, f.reason_en, f.metrics, f.params
        FROM findings f LEFT JOIN persons p ON p.person_id = f.subject
        WHERE ($rules IS NULL OR list_contains($rules, f.rule)) AND ($severity IS NULL OR f.severity = $severity)
        ORDER BY {SEVERITY_ORDER}, f.score DESC, f.rule, f.start_ts, f.id
        """,
        {"rules": rules or None, "severity": severity},
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
            }
        )
    return out


def get_finding(con: duckdb.DuckDBPyConnection, finding_id: str) -> tuple[dict, list[dict]]:
    """One finding and its evidence movements (as stored, with their provenance)."""
    found = [f for f in list_findings(con) if f["id"] == finding_id.strip().upper()]
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
