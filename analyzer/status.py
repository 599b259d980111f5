"""`rpa status`: what the case holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import duckdb

from analyzer.ingest.consolidate import is_interrupted, is_stale
from analyzer.db import schema_version


@dataclass
class CaseStatus:
    """Key figures of a case."""

    schema_version: int
    sources: int
    transactions: int
    duplicates: int
    rejects: int
    amount: Decimal
    first_ts: datetime | None
    last_ts: datetime | None
    persons: int
    relations: int
    accounts: int
    accounts_resolved: int
    by_kind: list[tuple[str, int, Decimal]]
    by_channel: list[tuple[str, int, Decimal]]
    source_rows: list[tuple]
    by_format: list[tuple]  # (format, files, owners, rows loaded, duplicates, rejected, first, last)
    alias_links: list[tuple[str, str, int, str]]  # (nickname, account, movements, used | ambiguous)
    stale: bool  # sightings arrived that the movements do not reflect yet
    interrupted: bool  # a derivation stopped half-way: the movements may be partly written


def case_status(con: duckdb.DuckDBPyConnection) -> CaseStatus:
    """Compute the key figures of the open case."""
    one = lambda sql: con.execute(sql).fetchall()[0]  # noqa: E731
    n, amount, first, last = one("SELECT count(*), coalesce(sum(amount), 0), min(ts), max(ts) FROM movement_rows")
    accounts, resolved = one("SELECT count(*), count(person_id) FROM accounts")
    return CaseStatus(
        schema_version=schema_version(con),
        sources=one("SELECT count(*) FROM sources")[0],
        transactions=n,
        duplicates=one("SELECT count(*) FROM duplicates")[0],
        rejects=one("SELECT count(*) FROM rejects")[0],
        amount=amount,
        first_ts=first,
        last_ts=last,
        persons=one("SELECT count(*) FROM persons")[0],
        relations=one("SELECT count(*) FROM relations")[0],
        accounts=accounts,
        accounts_resolved=resolved,
        by_kind=con.execute(
            "SELECT kind, count(*), sum(amount) FROM movement_rows GROUP BY kind ORDER BY count(*) DESC, kind"
        ).fetchall(),
        by_channel=con.execute(
            "SELECT channel, count(*), sum(amount) FROM movement_rows GROUP BY channel ORDER BY count(*) DESC, channel"
        ).fetchall(),
        source_rows=con.execute(
            """SELECT source_id, name, format, owner, rows_loaded, rows_duplicate, rows_rejected, first_ts, last_ts, sha256
               FROM sources ORDER BY source_id"""
        ).fetchall(),
        by_format=con.execute(
            """SELECT format, count(*), count(DISTINCT owner), sum(rows_loaded), sum(rows_duplicate), sum(rows_rejected),
                      min(first_ts), max(last_ts)
               FROM sources GROUP BY format ORDER BY format"""
        ).fetchall(),
        alias_links=alias_links(con),
        stale=is_stale(con),
        interrupted=is_interrupted(con),
    )


def alias_links(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, str]]:
    """Nicknames learned to be accounts from movements two exports carry under one id:
    (nickname, account, movements that showed the pair, used | ambiguous)."""
    return con.execute("SELECT alias, account, movements, status FROM alias_links ORDER BY status DESC, alias, account").fetchall()


def list_rejects(con: duckdb.DuckDBPyConnection, source_id: int | None = None, limit: int = 50) -> list[tuple]:
    """Rejected rows: (source id, file name, line, reason, raw)."""
    return con.execute(
        """SELECT r.source_id, s.name, r.line, r.reason, r.raw FROM rejects r JOIN sources s USING (source_id)
           WHERE ? IS NULL OR r.source_id = ? ORDER BY r.source_id, r.line LIMIT ?""",
        [source_id, source_id, limit],
    ).fetchall()
